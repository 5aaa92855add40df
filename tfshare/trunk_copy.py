"""A trunk's mirror as a copy of the trunk's ops (``tfshare.graph_template``), not a rebuild through tf_keras.

A mirror (``tfshare.mirrors``) is the trunk's body in another shard. Building
it through the body's tf_keras layers and TensorFlow's Python op wrappers
costs what building the trunk cost (a CNN's: ~0.4 s under load, a third of
what a mirrored CNN head cost). ``mirror`` instead copies the ops the trunk
built at construction (its input, its inference path, its variables) under
the mirror's name scope with ``import_graph_def``, as a classifier of an
architecture already in the runtime is copied. The copy is a trunk of the
same kind whose ``named_variables()`` has the trunk's keys in the trunk's
order; it has no layer objects until a build needs them (its training path
on a head's first ``fit``, its weight penalties, ``__call__``, ``layers``):
fresh ones are then bound to its copied variables
(``initial_values.reusing``, see ``tfshare.trunk_base._Trunk._binding``).

Which trunks are copied: a ``SharedTrunk``, and a ``TemplateTrunk`` of
tf_keras layers (``layers=`` or the Dense form). Rebuilt as before: a
``TemplateTrunk`` of a TF1 function (``fn=``: no layer objects to bind), and
any trunk whose ops ``graph_template.Template`` refuses (a random op in the
inference path, a variable with a constraint, a control input from outside its
scope) or that read a tensor outside their scope.
"""

from __future__ import annotations

import logging
from typing import Any

from tfshare import graph_template
from tfshare.initial_values import FedInitializer

_log = logging.getLogger(__name__)
_UNSET = object()


def template(trunk: Any) -> graph_template.Template | None:
    """``trunk``'s construction ops as a template (made on the first call, kept on the trunk), or None.

    Call under the trunk's mirror lock. None when its mirrors are rebuilt
    (see the module): the reason is logged once, at INFO.
    """
    made = getattr(trunk, "_copy_template", _UNSET)
    if made is _UNSET:
        reason = _refusal(trunk)
        made = None
        if reason is None:
            try:
                made = _make(trunk)
            except ValueError as exc:
                reason = str(exc)
        if reason is not None:
            _log.info("mirrors of trunk %r are rebuilt, not copied: %s", trunk.name, reason)
        trunk._copy_template = made
    return made


def mirror(trunk: Any, shard: Any, name: str) -> Any:
    """``trunk``'s body in ``shard`` under ``name``: a copy of its ops when it can be copied, else rebuilt.

    From the second copied mirror on, the copy is of the first mirror's ops,
    its sync ops included (``record_mirror``): one import for both.

    Raises:
      InputError: ``name`` is already used in the runtime.
    """
    made = getattr(trunk, "_mirror_template", None) or template(trunk)
    if made is None:
        return trunk.rebuild(shard, name=name)
    return type(trunk)._copy_of(trunk, shard, name, made)


def record_mirror(trunk: Any, body: Any) -> None:
    """Records the ops of ``body``, ``trunk``'s first copied mirror, once its sync ops are built: later mirrors copy them.

    Call under the trunk's mirror lock, before ``body``'s shard takes any
    other op (a mirror's shard is its own: heads come after). No-op for a
    trunk whose mirrors are rebuilt, or once recorded.
    """
    if getattr(trunk, "_copy_template", None) is None or getattr(trunk, "_mirror_template", None) is not None:
        return
    scope = body.name + "/"
    ops = [op for op in body.shard.graph.get_operations() if op.name.startswith(scope)]
    named = body.named_variables()
    key_of = {id(v): k for k, v in named.items()}
    variables = {key_of[id(v)]: v for v in body.variables}  # creation order
    # Their fed initial values: as the trunk's, bound to the mirror's copied placeholders.
    specs = {key_of_trunk: c.spec for key_of_trunk, c in _created_by_key(trunk).items()
             if c.fed is not None and c.spec is not None}
    fed = {key: (FedInitializer.bound(spec.maker(trunk._seed), named[key].initializer.inputs[1]), spec)
           for key, spec in specs.items()}
    try:
        trunk._mirror_template = graph_template.Template(
            ops, scope, {"x": body.input, "output": body.output}, variables, fed,
            frozen=trunk.frozen_keys, training_sensitive=trunk.training_sensitive,
        )
    except ValueError as exc:  # not expected: the first mirror was a copy; later ones copy the trunk alone then
        _log.info("mirrors of trunk %r copy the trunk's ops, then build their sync ops: %s", trunk.name, exc)
        trunk._mirror_template = False


def _created_by_key(trunk: Any) -> dict[str, Any]:
    """{key: Created record} of ``trunk``'s variables (those its construction made)."""
    key_of = {id(v): k for k, v in trunk.named_variables().items()}
    return {key_of[id(c.variable)]: c for c in trunk._built[1] if id(c.variable) in key_of}


def _refusal(trunk: Any) -> str | None:
    """Why ``trunk``'s ops are not copied, before looking at them (None: look)."""
    if trunk._built is None:
        return "it reads an input_tensor, or it is itself a copy"
    if trunk.architecture.factory is None:
        return "a TF1 function has no layer objects to bind to a copy's variables for its training path"
    return None


def _make(trunk: Any) -> graph_template.Template:
    """The template of ``trunk``'s construction ops.

    Raises:
      ValueError: they cannot be copied (see ``graph_template.Template``), they
        read a tensor outside the trunk's scope, or a variable lacks the
        ``IsInitialized`` op a copied variable is bound to.
    """
    ops, created = trunk._built
    scope = trunk.name + "/"
    named = trunk.named_variables()
    key_of = {id(v): k for k, v in named.items()}
    if len(key_of) != len(created) or any(id(c.variable) not in key_of for c in created):
        raise ValueError("its named variables are not the variables it created")
    graph = ops[0].graph
    for c in created:
        try:
            graph.get_operation_by_name(c.variable.op.name + "/IsInitialized/VarIsInitializedOp")
        except KeyError as exc:
            raise ValueError(f"variable {c.variable.name!r} has no IsInitialized op") from exc
    variables = {key_of[id(c.variable)]: c.variable for c in created}  # creation order
    fed = {key: (c.fed, c.spec) for key, c in _created_by_key(trunk).items() if c.fed is not None and c.spec is not None}
    made = graph_template.Template(
        ops, scope, {"x": trunk.input, "output": trunk.output}, variables, fed,
        frozen=trunk.frozen_keys, training_sensitive=trunk.training_sensitive,
    )
    if made.reads_outside:
        raise ValueError("its ops read tensors outside its scope")
    return made


__all__ = ["mirror", "record_mirror", "template"]
