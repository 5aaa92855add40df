"""How a worker's GraphSession builds and runs in a cluster (used by ``tfshare.runtime``).

``TaskPlacement`` holds the device functions (``replica_device_setter``: the
trunk's variables on the ps, everything else on the worker), the init policy
(only the chief initializes shared variables; the others wait, bounded) and
the translation of gRPC timeouts into ``ClusterError``. ``GraphSession``
uses it only when given ``job_name`` / ``task_index``.
"""

from __future__ import annotations

import time
import zlib
from typing import Any, Callable, Sequence

import numpy as np

from tfshare import validation
from tfshare._cluster_spec import PS_JOB, WORKER_JOB, ClusterTask, as_cluster_spec, port_open
from tfshare._tf import tf, tf1
from tfshare.errors import ClusterError, InputError

#: ConfigProto.operation_timeout_in_ms is an int64.
_MAX_TIMEOUT_MS = 2**63 - 1


def timeout_ms(seconds: float) -> int:
    """``operation_timeout_in_ms`` for a timeout of ``seconds`` (> 0): whole ms, at least 1, at most the field's int64.

    0 would mean no limit at all, so a timeout under 1 ms becomes 1 ms; one
    too large for the field (1e306 s, inf) becomes the largest it holds.
    """
    if seconds >= _MAX_TIMEOUT_MS / 1000:
        return _MAX_TIMEOUT_MS
    return min(max(1, round(seconds * 1000)), _MAX_TIMEOUT_MS)

#: Default bound, in seconds, on one Session call (and on waiting for the chief) in a cluster.
DEFAULT_TIMEOUT = 60.0
_POLL_SECONDS = 0.1
#: shared_name of the ps mutex that serializes every worker's initialization of ps variables.
_INIT_LOCK = "tfshare_initialization_lock"
# Errors that mean "a task did not answer": a dead or unreachable process.
_CLUSTER_ERRORS = (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.AbortedError)


class TaskPlacement:
    """Device functions, init policy and error translation of one worker's GraphSession.

    Args:
      cluster: the cluster (ClusterSpec, ClusterConfig or dict); needs a "ps" job.
      job_name: the job of the task whose master the Session talks to.
      task_index: that task's index.
      local_device: the device inside the task, e.g. "/device:CPU:0".
      timeout: seconds one Session call may block, and the chief may take to
        initialize shared variables; None for ``DEFAULT_TIMEOUT``.

    Raises:
      InputError: the task is not in the cluster, or the cluster has no ps.
    """

    def __init__(self, cluster: Any, job_name: Any, task_index: Any, local_device: str, timeout: float | None) -> None:
        if cluster is None:
            raise InputError("job_name/task_index need cluster=: the tf.train.ClusterSpec the servers were started with")
        spec = as_cluster_spec(cluster)
        # job_tasks() of a job with no task is max()'s ValueError; ClusterTask names the empty job instead.
        jobs = {job: tuple(spec.job_tasks(job)) if spec.num_tasks(job) else () for job in spec.jobs}
        config = ClusterTask(jobs, WORKER_JOB if job_name is None else job_name, 0 if task_index is None else task_index)
        if config.job_name == PS_JOB:
            raise InputError("job_name must name a worker job; a ps only serves (run `python -m tfshare.cluster`)")
        self.config = config
        self.timeout = DEFAULT_TIMEOUT if timeout is None else validation.positive_float(timeout, "timeout")
        self.task_device = f"/job:{config.job_name}/task:{config.task_index}"
        self.worker_device = self.task_device + local_device
        num_ps = len(jobs[PS_JOB])
        # Place each shared variable by a hash of its name, not in creation
        # order, so every worker maps a variable to the same ps task even
        # when workers build their graphs in different orders.
        self.shared_device = tf1.train.replica_device_setter(
            ps_tasks=num_ps,
            worker_device=self.worker_device,
            cluster=spec,
            ps_strategy=lambda op: zlib.crc32(op.name.encode()) % num_ps,
        )

    @property
    def is_chief(self) -> bool:
        return self.config.is_chief

    def describe(self) -> str:
        return f"{self.task_device} ({'chief' if self.is_chief else 'non-chief'}) at {self.config.address}"

    def configure(self, config: Any) -> None:
        """Adapts a Session ConfigProto: only this task and the ps, bounded calls."""
        # The servers already know the cluster; setting config.cluster_def as
        # well would make the master reject its own task. Device filters keep
        # this Session from contacting (and waiting for) the other workers.
        config.device_filters[:] = [f"/job:{PS_JOB}", self.task_device]
        if not config.operation_timeout_in_ms:
            config.operation_timeout_in_ms = timeout_ms(self.timeout)
        else:
            self.timeout = config.operation_timeout_in_ms / 1000

    # ------------------------------------------------------------- errors
    def error(self, exc: Exception, what: str) -> ClusterError:
        """Turns a gRPC-level TensorFlow error into a ClusterError that says what to check."""
        first = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
        detail = next((line for line in first if line and not line.startswith(("Graph execution", "="))), "")
        if isinstance(exc, tf.errors.DeadlineExceededError):
            why = (
                f"no answer within the {self.timeout:g} s timeout: a task the call needs (this "
                f"worker's server, or a ps in {list(self.config.jobs[PS_JOB])}) is down or stalled"
            )
        elif isinstance(exc, tf.errors.UnavailableError):
            why = "a task the call needs is unreachable (its process died or never started)"
        else:
            why = "the call was aborted: a task it needs died or restarted"
        return ClusterError(f"{what} on {self.describe()} failed: {why}. TensorFlow said: {detail[:300]}")

    def wrap(self, fn: Callable[..., Any], what: str = "a Session call") -> Callable[..., Any]:
        """Returns ``fn`` with cluster errors translated into ClusterError."""

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except _CLUSTER_ERRORS as exc:
                raise self.error(exc, what) from exc

        return call

    # --------------------------------------------------------------- init
    def shared(self, variable: Any) -> bool:
        """Whether a variable is a shared one, which the chief initializes: a global variable placed on the ps
        itself, not colocated (slots). A local variable (LOCAL_VARIABLES: a metric's total) is each worker's
        own, wherever a device function put it: every worker initializes it, as TF1's ``local_init_op``."""
        device = tf1.DeviceSpec.from_string(variable.device or "")
        own_group = [b"loc:@" + variable.op.name.encode()]
        local = any(variable is v for v in variable.graph.get_collection(tf1.GraphKeys.LOCAL_VARIABLES))
        return device.job == PS_JOB and variable.op.colocation_groups() == own_group and not local

    def initialize(
        self, session: Any, pending: Sequence[Any], feeds: Callable[[Sequence[Any]], dict] = lambda _: {}
    ) -> None:
        """Initializes the pending variables that hold no value yet, by the cluster's rules.

        A variable on a server keeps its value across Sessions, so nothing
        already initialized is reset (a restarted worker keeps the trained
        trunk). The chief initializes shared variables; any other worker
        waits for them, at most ``timeout`` seconds (local variables are each
        worker's own: never waited for, see ``shared``). Variables on the ps that
        other workers may also initialize (Adam's slots of a trunk variable,
        colocated with it, are shared by workers whose classifiers have the
        same name) are initialized by ``_initialize_once``: checked and set
        in one step, under one lock for the cluster, so a worker that saw one
        uninitialized never resets it after another worker initialized and
        trained it. ``feeds(variables)`` gives the feed_dict their
        initializers need (fed initial values).

        Raises:
          ClusterError: a task did not answer, or the chief did not
            initialize the shared variables in time.
          InputError: a variable that a server already held (from another
            graph) holds a value of another shape (see ``_check_shapes``).
        """
        run = self.wrap(session.run, "initializing variables")
        flags = run([_is_initialized_op(v) for v in pending])
        missing = [v for v, ok in zip(pending, flags) if not ok]
        held = [v for v, ok in zip(pending, flags) if ok]  # by a server, from another graph: checked below
        if self.is_chief:
            mine, wait = missing, []
        else:
            shared = {id(v) for v in missing if self.shared(v)}
            mine = [v for v in missing if id(v) not in shared]
            wait = [v for v in missing if id(v) in shared]
        # On the ps, another worker may initialize the same variable at any moment.
        once = [v for v in mine if _on_ps(v) and _handle_op(v) is not None]
        guarded = {id(v) for v in once}
        plain = [v for v in mine if id(v) not in guarded]
        if plain:
            run([v.initializer for v in plain], feeds(plain))
        if once:
            held += [v for v, done in zip(once, self._initialize_once(session, once, feeds)) if not done]
        held += wait
        deadline = time.monotonic() + self.timeout
        while wait:
            if time.monotonic() > deadline:
                names = ", ".join(v.op.name for v in wait[:3]) + (", ..." if len(wait) > 3 else "")
                raise ClusterError(
                    f"{self.describe()} waited {self.timeout:g} s for the chief to initialize "
                    f"{len(wait)} shared variable(s) on the ps ({names}). Is the chief (worker 0) "
                    "running, and does it build its trunks with the same names?"
                )
            time.sleep(_POLL_SECONDS)
            flags = run([_is_initialized_op(v) for v in wait])
            wait = [v for v, ok in zip(wait, flags) if not ok]
        self._check_shapes(held)

    def _check_shapes(self, variables: Sequence[Any]) -> None:
        """Checks that the values a server holds for ``variables`` (initialized elsewhere) have their shapes.

        A variable lives on its server under its name, across Sessions: a
        trunk of another shape under a name the ps already holds would
        otherwise meet the old value at its first op (TensorFlow's
        "Matrix size-incompatible"), or not at all. The shapes are read on
        the servers (``VariableShape``, no value moves) in a graph of their own.

        Raises:
          InputError: a variable whose server holds a value of another shape.
          ClusterError: a task did not answer.
        """
        variables = [v for v in variables if _handle_op(v) is not None]
        if not variables:
            return
        graph = tf.Graph()
        with graph.as_default():
            shapes = [tf.raw_ops.VariableShape(input=_server_handle(v), out_type=tf.int64) for v in variables]
        held = self._run_apart(graph, shapes, {})
        wrong = [(v, tuple(int(d) for d in shape)) for v, shape in zip(variables, held)
                 if not v.shape.is_compatible_with(shape)]
        if wrong:
            variable, shape = wrong[0]
            others = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
            raise InputError(
                f"variable {variable.op.name!r}{others} already exists on {_handle_op(variable).device or 'its server'} "
                f"with shape {shape}; this graph asks for shape {tuple(variable.shape.as_list())}. Variables are "
                "shared by name on the servers, across Sessions: give the trunk (or classifier) a new name, or "
                "restart the servers that hold the old one"
            )

    def _initialize_once(
        self, session: Any, variables: Sequence[Any], feeds: Callable[[Sequence[Any]], dict]
    ) -> list[bool]:
        """Initializes each of ``variables`` (resource variables on the ps) unless it already holds a value.

        Checking (``VarIsInitializedOp``) and then running a variable's
        initializer are two Session calls: between them another worker may
        initialize the variable and train it, and the initializer would then
        reset it. Here the check and the assignment run in one step on the
        ps, inside a ``tf.CriticalSection`` whose mutex lives on the first ps
        task under one name for the whole cluster, so every worker's
        initialization of a ps variable is serialized and a variable seen
        uninitialized there has not been trained. The initial values are
        computed by the variables' own graph (fed initial values included);
        the guarded step is built in a graph of its own, with handles to the
        same ps resources (same container and shared_name), so the worker's
        graph gains no op (it may be finalized).

        Returns:
          For each variable, whether this call initialized it (False: it
          already held a value, which was left alone).

        Raises:
          ClusterError: a task did not answer.
        """
        run = self.wrap(session.run, "initializing variables")
        values = run([v.initializer.inputs[1] for v in variables], feeds(variables))
        graph = tf.Graph()
        with graph.as_default():
            placeholders = [tf1.placeholder(v.initializer.inputs[1].dtype, np.shape(value))
                            for v, value in zip(variables, values)]

            def guarded() -> Any:
                done = []
                for variable, placeholder in zip(variables, placeholders):
                    handle = _server_handle(variable)
                    with tf.device(handle.device):

                        def assign(handle: Any = handle, value: Any = placeholder) -> Any:
                            with tf.control_dependencies([tf.raw_ops.AssignVariableOp(resource=handle, value=value)]):
                                return tf.constant(True)

                        done.append(tf.cond(tf.raw_ops.VarIsInitializedOp(resource=handle),
                                            lambda: tf.constant(False), assign))
                return tf.stack(done)

            with tf.device(f"/job:{PS_JOB}/task:0"):
                lock = tf.CriticalSection(shared_name=_INIT_LOCK, name="initialization_lock")
                initialized = lock.execute(guarded)
        return [bool(b) for b in self._run_apart(graph, initialized, dict(zip(placeholders, values)))]

    def _run_apart(self, graph: Any, fetches: Any, feeds: dict) -> Any:
        """Runs ``fetches`` of ``graph`` (not the worker's graph) in a Session of its own on this task's server."""
        config = tf1.ConfigProto()
        self.configure(config)
        session = tf1.Session(self.config.target, graph=graph, config=config)
        try:
            return self.wrap(session.run, "initializing variables")(fetches, feeds)
        finally:
            if self.reachable():  # else closing would wait out the timeout
                session.close()

    def reachable(self, seconds: float = 0.5) -> bool:
        """Whether this task's server and every ps accept connections.

        When one does not, closing the Session would wait out the timeout
        (the master tries to clean up on every task), so the runtime skips it.
        """
        addresses = (self.config.address, *self.config.jobs[PS_JOB])
        return all(port_open(address, seconds) for address in addresses)


def _on_ps(variable: Any) -> bool:
    return tf1.DeviceSpec.from_string(variable.device or "").job == PS_JOB


def _handle_op(variable: Any) -> Any:
    """The ``VarHandleOp`` of a named resource variable; None for any other kind (a TF1 ref variable)."""
    handle = getattr(variable, "handle", None)
    op = getattr(handle, "op", None)
    return op if op is not None and op.type == "VarHandleOp" and op.get_attr("shared_name") else None


def _server_handle(variable: Any) -> Any:
    """A handle, in the default graph and on the variable's device, to the resource ``variable``'s server holds."""
    handle_op = _handle_op(variable)
    with tf.device(handle_op.device):
        return tf.raw_ops.VarHandleOp(
            dtype=handle_op.get_attr("dtype"), shape=handle_op.get_attr("shape"),
            container=handle_op.get_attr("container"), shared_name=handle_op.get_attr("shared_name"),
        )


def _is_initialized_op(variable: Any) -> Any:
    # Resource variables built in graph mode carry this op; using it adds
    # nothing to the graph (which may be finalized).
    op = getattr(variable, "_is_initialized_op", None)
    if op is None:
        with variable.graph.as_default():
            op = tf1.is_variable_initialized(variable)
    return op
