"""Cheap extra classifiers in a shared runtime: copy the first one's graph ops, not its Python.

Building a classifier's ops through tf_keras and TensorFlow's Python op
wrappers costs about 0.25 ms per op. In a runtime that already holds a
classifier of the same architecture (and trunk), a new one is a copy of that
classifier's ops under a new name scope: ``import_graph_def`` creates them in
C++ from the first one's NodeDefs (names, devices, colocation and the
variables' ``shared_name`` rewritten to the new scope), and its variables are
``ResourceVariable`` objects bound to the copied ops, in the graph's
GLOBAL_VARIABLES and TRAINABLE_VARIABLES collections like tf_keras's. The
copy has the same ops, names and initial values (kernels' initial values are
fed, see ``tfshare.initial_values``, so the ops do not depend on the seed);
the first classifier of each architecture in a runtime is built by its
tf_keras layers as usual. It works for any body whose inference ops hold no
random op (a random initializer not fed would give every copy the same
values): Dense and Conv stacks, BatchNorm (its moving statistics are
copied as the non-trainable variables they are), a trunk's heads. A copy
gets layer objects of its own only when it first trains and needs a
training path (``tfshare.initial_values.reusing`` binds them to its
copied variables).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any, Callable, Sequence

from tfshare._tf import c_api_util, tf, tf1, tf_c_api, tf_importer
from tfshare.initial_values import FedInitializer, InitSpec

_lock = threading.Lock()
_log = logging.getLogger(__name__)
_UNCOPYABLE = object()  # a recorded classifier whose ops could not be made a template
_templates: "weakref.WeakKeyDictionary[Any, dict[tuple, Any]]" = weakref.WeakKeyDictionary()

#: The tensors of a classifier a template copies, by role.
ROLES = ("x", "logits", "probabilities", "class_ids")


def _relative(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _calls_function(op: Any) -> bool:
    """Whether ``op`` runs a function of its graph's library (``If``, ``While``, ``PartitionedCall``, a Defun)."""
    if op.graph._is_function(op.type):
        return True
    return any(value.HasField("func") or len(value.list.func) for value in op.node_def.attr.values())


def _is_random(op: Any) -> bool:
    """Whether ``op`` draws random numbers: RandomUniform, TruncatedNormal, Multinomial, their stateless forms..."""
    return any(word in op.type for word in ("Random", "TruncatedNormal", "Multinomial")) or "seed2" in op.node_def.attr


class Template:
    """A classifier's ops as NodeDefs relative to its name scope, to copy under another scope.

    Args:
      ops: the ops the classifier built (all inside ``scope``).
      scope: its name scope, ending in "/".
      tensors: {role: tensor} for ``ROLES`` (x may be outside the scope: a trunk's).
      variables: {architecture key: variable} of the classifier's own
        variables, in creation order.
      fed: {architecture key: (FedInitializer, InitSpec)} of the variables
        with a fed initial value.
      frozen: keys of variables of layers made with ``trainable=False``.
      training_sensitive: whether the classifier's built layers behave
        differently in training (``tfshare.forward.training_sensitive``):
        a copy's fresh layers cannot tell before they are built (a sublayer
        made in ``build()``, such as a Dropout, is not there yet).

    Raises:
      ValueError: the ops cannot be copied (a random op, or a control input
        from outside the scope).
    """

    def __init__(
        self,
        ops: Sequence[Any],
        scope: str,
        tensors: dict[str, Any],
        variables: dict[str, Any],
        fed: dict[str, tuple[FedInitializer, InitSpec]],
        frozen: set[str] = frozenset(),
        training_sensitive: bool = True,
    ) -> None:
        self.training_sensitive = training_sensitive
        constrained = sorted(k for k, v in variables.items() if getattr(v, "constraint", None) is not None)
        if constrained:  # a VariableDef has no constraint: a copy would train unconstrained
            raise ValueError(f"its variables {constrained} have constraints, which a copy would lose")
        random_ops = sorted({op.type for op in ops if _is_random(op)})
        if random_ops:
            raise ValueError(f"its ops hold random ops {random_ops}, whose seeds a copy would repeat")
        calling = sorted({op.type for op in ops if _calls_function(op)})
        if calling:  # a copy's NodeDefs would name functions another shard's graph does not hold
            raise ValueError(f"its ops call graph functions ({calling}: v2 control flow or a tf.function)")
        graph_def = tf1.GraphDef()
        graph_def.versions.CopyFrom(ops[0].graph.graph_def_versions)
        inside = {op.name for op in ops}
        external: dict[str, Any] = {}
        loc = ("loc:@" + scope).encode()
        for op in ops:
            node = graph_def.node.add()
            node.CopyFrom(op.node_def)
            node.name = _relative(node.name, scope)
            for i, name in enumerate(node.input):
                control = name.startswith("^")
                op_name = name.lstrip("^").split(":")[0]
                if op_name in inside:
                    node.input[i] = ("^" if control else "") + _relative(name.lstrip("^"), scope)
                elif control:
                    raise ValueError(f"op {op.name!r} has a control input {name!r} outside {scope!r}")
                else:  # a trunk's features: the copy reads the same tensor
                    tensor_name = name if ":" in name else name + ":0"
                    external[tensor_name] = op.graph.as_graph_element(tensor_name)
            if "_class" in node.attr:
                groups = [g.replace(loc, b"loc:@", 1) for g in node.attr["_class"].list.s]
                del node.attr["_class"].list.s[:]
                node.attr["_class"].list.s.extend(groups)
            if node.op == "VarHandleOp":
                for attr in ("shared_name", "debug_name"):
                    if attr in node.attr:
                        node.attr[attr].s = _relative(node.attr[attr].s.decode(), scope).encode()
        # Ops colocated with another op take that op's device at import (import_graph_def's rule): the only
        # ops whose NodeDef device is not final (see _import).
        self._colocated = [
            node.name for node in graph_def.node if "_class" in node.attr  # (reading a missing key adds it)
            and any(g.startswith(b"loc:@") and g != b"loc:@" + node.name.encode() for g in node.attr["_class"].list.s)
        ]
        self._graph_def = graph_def
        self._external = external
        self._tensors = {
            role: (_relative(t.name, scope), None) if t.name.startswith(scope) else (None, t)
            for role, t in tensors.items()
        }
        with ops[0].graph.as_default():  # to_proto works in graph mode only
            self._variables = {key: v.to_proto(export_scope=scope[:-1]) for key, v in variables.items()}
        self._fed = {key: (_relative(init.placeholder.name, scope), spec) for key, (init, spec) in fed.items()}
        self._frozen = set(frozen)

    @property
    def reads_outside(self) -> bool:
        """Whether the ops read tensors from outside their scope (a trunk's features): a copy reads the same ones."""
        return bool(self._external)

    def copy(
        self, graph: Any, scope: str, seed: int | None
    ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[Any, FedInitializer]], set[str]]:
        """Builds a copy of the classifier under ``scope``; call inside the runtime's ``building()``.

        Args:
          graph: the runtime's graph (the default graph).
          scope: the new classifier's name scope, ending in "/" (already reserved).
          seed: the new classifier's seed, for its fed initial values.

        Returns:
          ({role: tensor}, {architecture key: variable}, [(variable, FedInitializer)],
          frozen keys).
        """
        graph_def = tf1.GraphDef()
        graph_def.CopyFrom(self._graph_def)
        for node in graph_def.node:
            if node.op == "VarHandleOp":
                for attr in ("shared_name", "debug_name"):
                    if attr in node.attr:
                        node.attr[attr].s = scope.encode() + node.attr[attr].s
        _import(graph, graph_def, self._external, scope, self._colocated)
        tensors = {
            role: graph.get_tensor_by_name(scope + rel) if rel is not None else tensor
            for role, (rel, tensor) in self._tensors.items()
        }
        variables: dict[str, Any] = {}
        with tf1.name_scope(None):
            for key, proto in self._variables.items():
                variable = tf.Variable(variable_def=proto, import_scope=scope[:-1])
                variable._is_initialized_op = graph.get_tensor_by_name(  # as tf_keras's variables have
                    variable.op.name + "/IsInitialized/VarIsInitializedOp:0"
                )
                collections = [tf1.GraphKeys.GLOBAL_VARIABLES]
                if variable.trainable:  # BatchNorm's moving statistics are not
                    collections.append(tf1.GraphKeys.TRAINABLE_VARIABLES)
                graph.add_to_collections(collections, variable)
                variables[key] = variable
        fed = []
        for key, (rel, spec) in self._fed.items():
            init = FedInitializer.bound(spec.maker(seed), graph.get_tensor_by_name(scope + rel))
            fed.append((variables[key], init))
        return tensors, variables, fed, set(self._frozen)


def _import(graph: Any, graph_def: Any, input_map: dict[str, Any], scope: str, colocated: Sequence[str]) -> None:
    """``tf.graph_util.import_graph_def(graph_def, input_map, name=scope)`` without its per-op Python pass.

    TensorFlow's importer creates the ops in C++, gives each a Python
    ``Operation`` (``Graph._add_new_tf_operations``, kept here), then visits
    every op again in Python: it clears the op's device and sets it anew
    through the graph's device functions under the NodeDef's device, and reads
    its colocation attribute (a ValueError raised and caught for each op
    without one). That pass was half of a template copy's time. A template's
    NodeDefs already carry the devices tf_keras gave the original ops, which
    that pass would set again, unchanged (the copy runs under no device
    function of its own); only an op colocated with another takes that op's
    device, set here for those ops alone (``colocated``: their names in
    ``graph_def``). The result is the graph import_graph_def makes, byte for byte
    (tests/test_graph_template.py), except inside a caller's ``colocate_with``
    block, where import_graph_def clears every op's device and this keeps the
    NodeDefs' (the devices a tf_keras build gets there too).

    Args:
      graph: the graph to import into (inside its runtime's ``building()``).
      graph_def: the NodeDefs, names relative to ``scope``.
      input_map: {"op:index" in ``graph_def``: tensor of ``graph``} for inputs from outside.
      scope: the reserved name scope, ending in "/": an absolute scope is re-entered, not uniquified.

    Raises:
      ValueError: TensorFlow refused the GraphDef, or an input_map key names no input of it.
    """
    options = c_api_util.ScopedTFImportGraphDefOptions()  # prefix, uniquify, input map: as import_graph_def
    tf_importer._PopulateTFImportGraphDefOptions(options.options, scope[:-1], input_map, None, True)
    serialized = tf_c_api.TF_NewBufferFromString(graph_def.SerializeToString())
    try:
        # As import_graph_def: no Session.run between creating the ops and giving them Python objects.
        with graph._mutation_lock():
            try:
                with graph._c_graph.get() as c_graph:
                    results = c_api_util.ScopedTFImportGraphDefResults(
                        tf_c_api.TF_GraphImportGraphDefWithResults(c_graph, serialized, options.options))
            except tf.errors.InvalidArgumentError as exc:
                raise ValueError(str(exc)) from None
            graph._add_new_tf_operations(compute_devices=False)
    finally:
        tf_c_api.TF_DeleteBuffer(serialized)
    missing = tf_c_api.TF_ImportGraphDefResultsMissingUnusedInputMappings_wrapper(results.results)
    if missing:
        raise ValueError(f"input_map names inputs that are not in the GraphDef: {[str(m) for m in missing]}")
    for name in colocated:  # import_graph_def's rule: the first colocation target with a device, or none
        op = graph.get_operation_by_name(scope + name)
        device = ""
        for group in op.get_attr("_class"):
            target = group.decode()[len("loc:@"):]
            if group.startswith(b"loc:@") and target != op.name:
                try:
                    device = graph._get_operation_by_name(target).device
                except KeyError:  # not in the graph (import_graph_def skips it too)
                    continue
                if device:
                    break
        op._set_device(device)


def find(runtime: Any, key: tuple) -> Template | None:
    """The template recorded for ``key`` in ``runtime`` (made on first use), or None.

    Call it under the runtime's build lock (inside ``building()``): that
    serializes making a template per runtime; the module lock only guards
    the table. A recorded classifier whose ops cannot be copied (e.g. built
    with an input from outside its scope) leaves no template: later ones are
    built through tf_keras, as it was.
    """
    with _lock:
        by_key = _templates.get(runtime)
        entry = by_key.get(key) if by_key is not None else None
    if entry is None or entry is _UNCOPYABLE or isinstance(entry, Template):
        return None if entry is _UNCOPYABLE else entry
    try:
        template = entry()
    except ValueError as exc:
        _log.info("%s: classifiers of %s are built, not copied: %s", runtime, key, exc)
        template = None
    with _lock:
        by_key[key] = _UNCOPYABLE if template is None else template
    return template


def record(runtime: Any, key: tuple, make: Callable[[], Template]) -> None:
    """Records ``make`` (called on the first ``find``) as the template of ``key``, unless one is recorded.

    Making it serializes the ops, so an isolated runtime, which never copies,
    never pays for it.
    """
    with _lock:
        _templates.setdefault(runtime, {}).setdefault(key, make)


__all__ = ["ROLES", "Template", "find", "record"]
