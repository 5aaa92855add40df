"""Fused prediction: many classifiers answered by one Session call.

``predict_many(classifiers, x)`` groups classifiers by shard (the graph and
Session that hold them: a runtime's only one, unless it grew past its
``shard_size``, see ``tfshare.shards``) and, per shard, runs one cached callable that feeds ``x`` once per distinct input
placeholder. Classifiers on one trunk read the trunk's features tensor, so
the trunk is computed once for all of them; and their heads (same number of
classes) are computed together: one matmul over a ``HeadBank`` (a copy of
their weights, refreshed after any write; see ``tfshare.head_bank``), one
softmax, one output. Per-head ops cost microseconds each in TF's executor,
which for 32 heads would be most of the call.

The same mechanism serves *first* predictions. TensorFlow's DirectSession
copies and prunes the whole graph for every new run signature, so in a
runtime holding k classifiers, giving each its own callable costs O(k) on its
first call and O(k^2) in all. When several classifiers of a runtime have not
been called yet, the first ``predict_proba`` of any of them builds one fused
callable for all of them (one prune), and each of their first calls is served
from it, feeding zero rows to the other members' placeholders so that only
the caller (and the heads on its trunk) compute; a classifier gets its own
callable on its second call.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from tfshare import head_bank, validation
from tfshare._tf import tf
from tfshare.errors import InputError
from tfshare.fast_callable import FastCallable
from tfshare.head_bank import HeadBank, split_heads
from tfshare.protocols import GraphClassifier
from tfshare.runtime import GraphSession

# First calls with more rows than this get their own callable at once: the
# fused run computes every pending head that reads the caller's placeholder
# (a trunk's heads; other members get zero rows), which pays off for small batches.
FIRST_CALL_MAX_ROWS = 64

# Guards _recent. Per-runtime state (_first_call_groups, _plans, _built) is built under
# the runtime's own lock, so no runtime waits for another's build.
_lock = threading.Lock()
_first_call_groups: "weakref.WeakKeyDictionary[GraphSession, _Group]" = weakref.WeakKeyDictionary()
_ungroupable: "weakref.WeakSet[GraphSession]" = weakref.WeakSet()  # runtimes whose zero-row feeds failed
_plans: "weakref.WeakKeyDictionary[GraphSession, dict[tuple[tuple[str, ...], ...], _Plan]]" = weakref.WeakKeyDictionary()
# Per runtime: {names of a list: (fetches, banks, outputs)}, the fused ops each list built (_fused_ops).
_built: "weakref.WeakKeyDictionary[GraphSession, dict[tuple[str, ...], tuple]]" = weakref.WeakKeyDictionary()
# predict_many's fast path: id()s of a classifier list -> (weak refs to them that evict the entry, a callable
# returning its plan). A _Plan is held weakly (it belongs to _plans[runtime], and holds the runtime's graph); a
# _Spread (a list over several shards) strongly, as nothing else holds it (it holds no classifier).
_recent: dict[tuple[int, ...], tuple[list[weakref.ref], Callable[[], Any]]] = {}
_RECENT_MAX = 64
#: predict_many logs a warning when a runtime reaches this many distinct classifier lists.
PLANS_WARNING = 32
_log = logging.getLogger(__name__)


_PLACEHOLDERS = ("Placeholder", "PlaceholderWithDefault")


def _fed_over(classifiers: Sequence[Any]) -> dict[int, Any]:
    """The members whose input another member computes, by id(), each with that other member.

    A classifier built with ``input_tensor=`` another tensor of the graph
    (say, another classifier's logits) reads a computed tensor. Fed with x
    (or with zero rows), that tensor takes the fed values for every member
    computing through it. Members reading the same tensor as their input (a
    trunk's heads, whatever the trunk reads) are fed alike and do not
    conflict; a walk up the graph stops at every member's input, which the
    call feeds. Only lists with a computed input pay for the walk.
    """
    computed = [c for c in classifiers if c.input_tensor.op.type not in _PLACEHOLDERS]
    if not computed:
        return {}
    fed = {id(c.input_tensor) for c in classifiers}
    conflicts: dict[int, Any] = {}
    for clf in computed:
        for other in classifiers:
            if other.input_tensor is not clf.input_tensor and _computes(other, clf.input_tensor, fed):
                conflicts[id(clf)] = other
                break
    return conflicts


def _computes(other: Any, source: Any, fed: set[int]) -> bool:
    """Whether ``other``'s probabilities are computed from ``source``, not counting what lies above a fed tensor."""
    seen: set[int] = set()
    stack = [other.probabilities_tensor.op]
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        for t in op.inputs:
            if t is source:
                return True
            if id(t) not in fed:
                stack.append(t.op)
    return False


def _check_feeds(classifiers: Sequence[Any]) -> None:
    """Refuses a list in which feeding one member's input would replace what another member computes.

    Raises:
      InputError: such a conflict, naming both classifiers.
    """
    conflicts = _fed_over(classifiers)
    for clf in (c for c in classifiers if id(c) in conflicts):
        other = conflicts[id(clf)]
        raise InputError(
            f"classifiers: {other.name!r} computes {clf.name!r}'s input {clf.input_tensor.name!r}, which "
            f"predict_many would feed with x; call {clf.name!r}'s predict_proba apart"
        )


class _Group:
    """One fused callable over a set of classifiers of a runtime.

    Each run answers one member: the caller's rows go to that member's input
    placeholder and a zero-row array to every other placeholder, so only the
    members reading the caller's placeholder (itself, or a trunk's heads)
    compute anything; ops on zero rows cost next to nothing.
    """

    __slots__ = ("fn", "empty", "members")

    def __init__(self, runtime: GraphSession, classifiers: Sequence[Any]) -> None:
        feeds: list[Any] = []
        feed_names: dict[str, int] = {}
        for clf in classifiers:
            name = clf.input_tensor.name
            if name not in feed_names:
                feed_names[name] = len(feeds)
                feeds.append(clf.input_tensor)
        self.fn: FastCallable = runtime.callable([c.probabilities_tensor for c in classifiers], feeds, read_only=True)
        self.empty = [np.zeros((0, *f.shape.as_list()[1:]), np.float32) for f in feeds]
        # Weak keys: a classifier dropped before its first call is not kept alive,
        # and a new object reusing its id() can never be mistaken for it.
        # Values: (fetch index, feed index).
        self.members: "weakref.WeakKeyDictionary[Any, tuple[int, int]]" = weakref.WeakKeyDictionary(
            (c, (i, feed_names[c.input_tensor.name])) for i, c in enumerate(classifiers)
        )

    def run(self, x: np.ndarray, member: tuple[int, int]) -> np.ndarray:
        """One member's probabilities for ``x``; ``member`` is its (fetch, feed) index pair."""
        fetch, feed = member
        values = list(self.empty)
        values[feed] = x
        return self.fn(*values)[fetch]


def _check_classifiers(classifiers: Any, same_input_shape: bool = True) -> list[Any]:
    """Returns ``classifiers`` as a list of open graph classifiers with unique names.

    Also used by ``tfshare.bundles`` (with ``same_input_shape=False``).
    """
    if isinstance(classifiers, (str, bytes)) or not isinstance(classifiers, Sequence):
        raise TypeError(
            f"classifiers must be a sequence of graph classifiers, got {type(classifiers).__name__}"
        )
    classifiers = list(classifiers)
    if not classifiers:
        raise InputError("classifiers must hold at least one classifier, got an empty sequence")
    for i, clf in enumerate(classifiers):
        if not isinstance(clf, GraphClassifier) or clf.runtime is None:
            raise TypeError(
                f"classifiers[{i}] must be a graph classifier (Classifier, DenseClassifier, ConvClassifier), "
                f"got {type(clf).__name__}"
            )
        clf.check_open()
    names = [c.name for c in classifiers]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicates = sorted({n for n in names if n in seen or seen.add(n)})
        raise InputError(
            f"classifiers must have unique names (results are keyed by name), got duplicates {duplicates}"
        )
    shapes = {c.input_shape for c in classifiers}
    if same_input_shape and len(shapes) > 1:
        raise InputError(
            f"classifiers must share one input_shape to take one x, got input shapes {sorted(shapes)}"
        )
    return classifiers


def _multihead(runtime: GraphSession, features: Any, heads: Sequence[Any]) -> tuple[Any, HeadBank | None]:
    """Builds the probabilities of several heads on one features tensor, as one op chain.

    In an in-process runtime the heads' weights are read from a ``HeadBank``
    (2 variable reads); in a remote one they are stacked in the call (2 reads
    per head), since other processes may write them unseen.

    Args:
      features: float32 [batch, H], the trunk's output.
      heads: classifiers on that trunk with one num_classes C.

    Returns:
      (float32 tensor [batch, C, N], see ``head_bank.split_heads``; the bank
      to refresh before each call, or None).
    """
    if runtime.graph.finalized:
        raise RuntimeError(
            f"predict_many builds fused ops for a new list of heads of one trunk, but {runtime!r} was finalized: call "
            "predict_many once with each list you will use before finalize()"
        )
    if HeadBank.usable(runtime):
        bank = HeadBank(runtime, features, heads)
        return bank.output, bank
    with runtime.building(), tf.name_scope("fused_heads"):
        kernels, biases = head_bank.class_major_weights(heads)
        return head_bank.fused_probabilities(features, kernels, biases, len(heads), heads[0].num_classes), None


class _Plan:
    """How one runtime's share of a predict_many call runs: one callable, outputs by name.

    Args:
      runtime: the shard holding ``classifiers``.
      classifiers: its members of the call, in the caller's order.
      takes: features tensors of trunk mirrors in this shard that the call feeds
        with the trunk's output computed by an earlier shard's plan (see
        ``_links``), instead of computing the trunk again.
      gives: trunk output tensors of this shard to fetch too, for later plans.
    """

    __slots__ = ("fn", "n_feeds", "n_gives", "ordered", "banks", "input_shape", "names", "_trial", "__weakref__")

    def __init__(
        self, runtime: GraphSession, classifiers: Sequence[Any], takes: Sequence[Any] = (), gives: Sequence[Any] = ()
    ) -> None:
        fed = {id(t) for t in takes}
        feeds: list[Any] = []
        for clf in classifiers:
            if clf.trunk is not None and id(clf.trunk_in_shard.output) in fed:
                continue  # its features are fed
            if all(clf.input_tensor is not f for f in feeds):
                feeds.append(clf.input_tensor)
        fetches, self.banks, outputs = _fused_ops(runtime, classifiers)
        self.n_feeds = len(feeds)
        self.n_gives = len(gives)
        self.fn: FastCallable = runtime.callable([*fetches, *gives], [*feeds, *takes], read_only=True)
        # Several inputs are several independent classifiers, which TensorFlow's inter-op pool runs on
        # several cores and the calling thread one after the other: which wins depends on their size
        # (32 CNNs: the pool; 32 small MLPs: the calling thread). The plan's first calls time both.
        self._trial = _Trial(self.fn, runtime.callable([*fetches, *gives], [*feeds, *takes], read_only=True,
                                                       caller_thread=False)) \
            if len(feeds) > 1 and runtime.caller_thread else None
        self.input_shape = classifiers[0].input_shape
        self.names = tuple(c.name for c in classifiers)
        self.ordered = [(c.name, *outputs[c.name]) for c in classifiers]
        if len(fetches) == 1 and len(classifiers) > 1 and [i for _, _, i in self.ordered] == list(range(len(classifiers))):
            self.ordered = None  # one fused block in the given order: see run()

    def run(self, x: np.ndarray, carried: Sequence[np.ndarray] = (), given: list[np.ndarray] | None = None,
            ) -> dict[str, np.ndarray]:
        """{name: float32 [batch, C] probabilities} in the order the plan's classifiers were given.

        Args:
          x: float32 [batch, *input_shape].
          carried: the values of ``takes``, float32 [batch, features] each.
          given: a list that receives the values of ``gives``.
        """
        for bank in self.banks:
            bank.ensure_fresh()
        trial = self._trial  # read once: another thread may end the trial meanwhile
        if self.n_feeds == 1 and not carried:
            values = self.fn(x)  # ClosedError once closed
        elif trial is None:
            values = self.fn(*([x] * self.n_feeds), *carried)
        else:
            values = trial.run([*([x] * self.n_feeds), *carried])
            if trial.choice is not None:
                self.fn, self._trial = trial.choice, None
        if self.n_gives:
            given.extend(values[-self.n_gives:])
            values = values[:-self.n_gives]
        if self.ordered is None:
            return dict(zip(self.names, split_heads(values[0])))
        values = [v if v.ndim == 2 else split_heads(v) for v in values]
        return {name: values[fetch] if head is None else values[fetch][head] for name, fetch, head in self.ordered}


class _Trial:
    """Times two callables of one signature alternately over their first calls; keeps the faster."""

    CALLS = 8  # per callable

    __slots__ = ("fns", "seconds", "choice")

    def __init__(self, inline: FastCallable, pooled: FastCallable) -> None:
        self.fns = (inline, pooled)
        self.seconds: tuple[list[float], list[float]] = ([], [])
        self.choice: FastCallable | None = None

    def run(self, values: list[np.ndarray]) -> list[np.ndarray]:
        i = 0 if len(self.seconds[0]) <= len(self.seconds[1]) else 1
        start = time.perf_counter()
        out = self.fns[i](*values)
        self.seconds[i].append(time.perf_counter() - start)
        if min(len(s) for s in self.seconds) >= self.CALLS:  # both timed enough (calls may come from threads)
            medians = [float(np.median(s[1:])) for s in self.seconds]  # the first call of each warms up
            self.choice = self.fns[int(medians[1] < medians[0])]
        return out


class _Spread:
    """predict_many over classifiers of several shards (or runtimes): each shard's plan, one call each.

    Heads of one trunk spread over its shard and its mirrors' shards
    (``tfshare.mirrors``) compute the trunk once: the first plan holding heads
    of it also fetches its features, and later plans feed them to their
    mirror's output (``_links``). Remembered like a single plan
    (``_remember``), so repeated calls skip the argument checks and the
    grouping; it holds its shards' plans.
    """

    __slots__ = ("steps", "names", "input_shape")

    def __init__(self, groups: list[list[Any]], classifiers: list[Any]) -> None:
        links = _links(groups)
        #: (plan, indices into the values given so far that it takes); a plan's gives are appended in order.
        self.steps: list[tuple[_Plan, tuple[int, ...]]] = []
        given: list[int] = []  # id(trunk) of each value given, in order
        for group, (takes, gives) in zip(groups, links):
            plan = _plan(group[0].shard, group, [t for _, t in takes], [t for _, t in gives])
            self.steps.append((plan, tuple(given.index(key) for key, _ in takes)))
            given.extend(key for key, _ in gives)
        self.names = tuple(c.name for c in classifiers)
        self.input_shape = classifiers[0].input_shape

    @property
    def plans(self) -> list[_Plan]:
        """The shards' plans, in the order they run."""
        return [plan for plan, _ in self.steps]

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """{name: float32 [batch, C] probabilities} in the order the classifiers were given."""
        results: dict[str, np.ndarray] = {}
        given: list[np.ndarray] = []
        for plan, takes in self.steps:
            results.update(plan.run(x, [given[i] for i in takes], given))
        return {name: results[name] for name in self.names}


def _links(groups: list[list[Any]]) -> list[tuple[list[tuple[int, Any]], list[tuple[int, Any]]]]:
    """Per shard group: the (id(trunk), features tensor) pairs it is fed, and those it fetches for later groups.

    A trunk with heads in several groups (its shard and its mirrors' shards)
    is computed by the first of them; each later group feeds its mirror's
    output instead, when every head of that trunk there reads ``x`` only
    through that output (so nothing else needs ``x``). The fed values are the
    trunk's own features for the same ``x``: what the mirror, kept equal to
    the trunk, computes.
    """
    source: dict[int, tuple[int, Any]] = {}  # id(trunk) -> (group index, its features tensor there)
    links: list[tuple[list[tuple[int, Any]], list[tuple[int, Any]]]] = [([], []) for _ in groups]
    for g, group in enumerate(groups):
        heads: dict[int, list[Any]] = {}
        for clf in group:
            if clf.trunk is not None:
                heads.setdefault(id(clf.trunk), []).append(clf)
        for key, members in heads.items():
            features = members[0].trunk_in_shard.output
            if key not in source:
                source[key] = (g, features)
                continue
            if any(_computes(clf, clf.input_tensor, {id(features)}) for clf in members):
                continue  # a head reads x past the features: this group computes the trunk itself
            first, theirs = source[key]
            if all(k != key for k, _ in links[first][1]):
                links[first][1].append((key, theirs))
            links[g][0].append((key, features))
    return links


def _fused_ops(
    runtime: GraphSession, classifiers: Sequence[Any]
) -> tuple[list[Any], list[HeadBank], dict[str, tuple[int, int | None]]]:
    """The tensors a list of classifiers of one shard is answered from, built once per list (by names).

    Heads of one trunk object in the shard (the trunk, or its mirror) with one
    class count share fused ops (``_multihead``); the others fetch their own
    probabilities. Plans of the same list that differ only in their links
    (``_links``: features fed or fetched) share these ops: a link changes a
    callable's feeds and fetches, never the graph. Call under the runtime's lock.

    Returns:
      (the tensors to fetch, the head banks to refresh before each call,
      {name: (fetch index, head index in a fused block or None)}).
    """
    key = tuple(c.name for c in classifiers)  # names are never reused within a runtime
    built = _built.setdefault(runtime, {})
    if key in built:
        return built[key]
    by_trunk: dict[tuple[int, int], list[Any]] = {}
    for clf in classifiers:
        if clf.trunk is not None:  # the trunk object in this shard: the trunk, or its mirror here
            by_trunk.setdefault((id(clf.trunk_in_shard), clf.num_classes), []).append(clf)
    fetches: list[Any] = []
    outputs: dict[str, tuple[int, int | None]] = {}
    banks: list[HeadBank] = []
    for heads in by_trunk.values():
        if len(heads) > 1:
            probabilities, bank = _multihead(runtime, heads[0].trunk_in_shard.output, heads)
            fetches.append(probabilities)
            if bank is not None:
                banks.append(bank)
            for i, clf in enumerate(heads):
                outputs[clf.name] = (len(fetches) - 1, i)
    for clf in classifiers:
        if clf.name not in outputs:
            fetches.append(clf.probabilities_tensor)
            outputs[clf.name] = (len(fetches) - 1, None)
    built[key] = (fetches, banks, outputs)
    if len(built) == PLANS_WARNING:
        _log.warning(
            "predict_many has built fused ops for %d different classifier lists in %r; each list "
            "adds ops (and on a trunk a copy of its heads) for good: pass one fixed list and "
            "pick results by name", len(built), runtime,
        )
    return built[key]


def _plan(runtime: GraphSession, classifiers: list[Any], takes: Sequence[Any] = (), gives: Sequence[Any] = ()) -> _Plan:
    # Names are never reused within a runtime; the links (fed and fetched features) make other callables of the
    # same fused ops (_fused_ops).
    key = (tuple(c.name for c in classifiers), tuple(t.name for t in takes), tuple(t.name for t in gives))
    plans = _plans.get(runtime)
    plan = plans.get(key) if plans is not None else None
    if plan is not None:
        return plan
    # The runtime's own (build) lock: building a plan in one runtime never waits for another's.
    with runtime._lock:
        plans = _plans.setdefault(runtime, {})
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = _Plan(runtime, classifiers, takes, gives)
    return plan


def _recent_plan(classifiers: Any) -> _Plan | _Spread | None:
    """The plan of a list of classifiers seen before (same objects, same order), or None.

    Skips argument checks that held the first time. Equal ``id()``s mean the
    same objects: an entry is evicted when any of its classifiers dies (a
    weak-reference callback, which CPython runs before the object's memory,
    and so its id, can be reused) or is closed (``forget``).
    """
    if type(classifiers) is not list and type(classifiers) is not tuple:
        return None
    entry = _recent.get(tuple(map(id, classifiers)))
    return None if entry is None else entry[1]()


def _remember(classifiers: list[Any], plan: _Plan | _Spread) -> None:
    with _lock:
        # A classifier closed since the checks (another thread) must not be
        # remembered: its forget() already ran. close() marks it before forget().
        if any(c.closed or c.shard.closed for c in classifiers):
            return
        if len(_recent) >= _RECENT_MAX:
            _recent.clear()
        key = tuple(map(id, classifiers))

        def evict(_: Any, key: tuple[int, ...] = key) -> None:
            _recent.pop(key, None)  # atomic: safe from any thread, also during garbage collection

        # A _Plan belongs to _plans[shard] (a weak reference here); a _Spread to nothing else, so it is
        # held here, until a classifier dies or closes (forget) or the table is cleared.
        held = (lambda: plan) if isinstance(plan, _Spread) else weakref.ref(plan)
        _recent[key] = ([weakref.ref(c, evict) for c in classifiers], held)


def predict_many(classifiers: Sequence[Any], x: Any) -> dict[str, np.ndarray]:
    """Returns every classifier's probabilities for ``x``, one Session call per runtime.

    The first call with a given set of classifiers builds (once) the fused
    head ops of the classifiers that share a trunk; later calls add nothing.
    Heads of one trunk in an in-process runtime are computed from a
    ``HeadBank``, a copy of their weights refreshed after any write.

    Args:
      classifiers: graph classifiers with unique names and one input_shape;
        they may live in different runtimes (each runtime's shard is one call).
      x: array-like of shape [batch, *input_shape].

    Returns:
      {classifier name: float32 array of shape [batch, num_classes]}, in the
      order given. Heads computed together are strided views into one
      [batch, C, N] array (no per-head copy; not C-contiguous, and one kept
      result keeps the block alive): ``np.ascontiguousarray`` makes a compact
      copy when you need one.

    Each distinct list of classifiers (names and order) gets its own fused ops
    and, on a trunk, its own bank: call it with a fixed list (e.g. every head)
    rather than with ever-changing subsets, which would grow the graph.

    Raises:
      TypeError, InputError: bad classifiers or x.
      ClosedError: a classifier or runtime is closed.
    """
    plan = _recent_plan(classifiers)
    if plan is not None:
        x = validation.inputs(x, plan.input_shape)
        if x.shape[0]:
            return plan.run(x)
    classifiers = _check_classifiers(classifiers)
    _check_feeds(classifiers)
    x = validation.inputs(x, classifiers[0].input_shape)
    if x.shape[0] == 0:
        return {c.name: np.zeros((0, c.num_classes), np.float32) for c in classifiers}
    shard = classifiers[0].shard
    if all(c.shard is shard for c in classifiers):  # the common case: one call, already in order
        plan = _plan(shard, classifiers)
        _remember(classifiers, plan)
        return plan.run(x)
    by_shard: dict[int, list[Any]] = {}
    for clf in classifiers:
        by_shard.setdefault(id(clf.shard), []).append(clf)
    spread = _Spread(list(by_shard.values()), classifiers)
    _remember(classifiers, spread)
    return spread.run(x)


def first_call(clf: Any, x: np.ndarray) -> np.ndarray | None:
    """Serves a classifier's first prediction from a fused callable when that is cheaper.

    Args:
      clf: a graph classifier without its own prediction callable yet.
      x: validated float32 array of shape [batch, *input_shape], batch >= 1.

    Returns:
      float32 [batch, num_classes] probabilities, or None when the caller
      should build the classifier's own callable instead.
    """
    runtime = clf.shard  # one graph: a group's members must be in it
    with runtime._lock:  # per shard, like building: other runtimes' first calls never wait
        if runtime in _ungroupable:
            return None
        group = _first_call_groups.get(runtime)
        if x.shape[0] > FIRST_CALL_MAX_ROWS:
            # Too large to compute every pending head: leave the group (if in one).
            if group is not None and group.members.pop(clf, None) is not None and not group.members:
                runtime.release_callable(group.fn)
                del _first_call_groups[runtime]
            return None
        if group is None or clf not in group.members:
            pending = [
                c for c in runtime.shard_heads()
                if (c is clf or c.awaiting_first_call) and c.input_shape == clf.input_shape
            ]
            # A member whose input another member computes (input_tensor= another classifier's tensor) cannot
            # join: the zero-row feed would replace that tensor for the member computing it.
            conflicts = _fed_over(pending)
            if id(clf) in conflicts:
                return None
            pending = [c for c in pending if id(c) not in conflicts]
            if len(pending) < 2:
                return None
            if group is not None:
                runtime.release_callable(group.fn)
            group = _first_call_groups[runtime] = _Group(runtime, pending)
        member = group.members.pop(clf)
        if not group.members:  # every member had its first call: free the executor
            runtime.release_callable(group.fn)
            del _first_call_groups[runtime]
    try:
        return group.run(x, member)
    except tf.errors.InvalidArgumentError:
        # An op failed on the zero-row feeds of the other members: TensorFlow's
        # oneDNN Conv2D returns its *input's* shape for an empty batch (measured
        # on TF 2.21, CPU; correct with TF_ENABLE_ONEDNN_OPTS=0), and a
        # BatchNorm after it then fails. The caller's own rows are not the
        # cause: its own callable (the caller builds it now) computes them, or
        # raises the same error if they are. First calls in this runtime no
        # longer share a group.
        with runtime._lock:
            _ungroupable.add(runtime)
            if _first_call_groups.get(runtime) is group:
                runtime.release_callable(group.fn)
                del _first_call_groups[runtime]
        return None


def forget(clf: Any) -> None:
    """Removes a closing classifier from its shard's first-call group, freeing the group when empty."""
    runtime = clf.shard
    with _lock:
        # list(): a snapshot, since weak-reference callbacks may pop entries at any time.
        for key in [k for k in list(_recent) if id(clf) in k]:
            _recent.pop(key, None)
    with runtime._lock:
        group = _first_call_groups.get(runtime)
        if group is not None and group.members.pop(clf, None) is not None and not group.members:
            runtime.release_callable(group.fn)
            del _first_call_groups[runtime]
