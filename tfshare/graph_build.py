"""How a graph classifier builds its ops, once each.

The inference path (``training=False``) at construction, through the body's
tf_keras layers or as a graph copy of an earlier classifier of the same
architecture (``tfshare.graph_template``); the training path (``training=True``,
only when a layer depends on the mode), the loss, the accuracy and the train
step on first use; the Saver on the first ``save``/``restore``. ``Classifier``
adds the public methods that run them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tfshare import architectures, checkpoints, forward, graph_ops, graph_template, initial_values, keras_model
from tfshare._tf import keras, tf, tf1, v2_layers
from tfshare.base import ClassifierBase
from tfshare.errors import ClosedError, InputError


def make_head(num_classes: int) -> Any:
    """The classifier's own ``Dense(num_classes)`` head, made in eager mode (see ``tfshare._tf.v2_layers``)."""
    with v2_layers():
        return keras.layers.Dense(num_classes, name="head")


class GraphBuilder(ClassifierBase):
    """The building half of ``Classifier``: its graph ops, built under the runtime's build lock.

    ``Classifier.__init__`` sets the state these methods read (``_runtime``,
    ``_scope``, ``_architecture``, ``_adopted``, ``_trunk``, ...) and calls
    ``_build``; every lazily built op is built by ``_build_lazy_ops`` before
    ``GraphSession.finalize``.
    """

    def _body_layers(self) -> list[Any]:
        if self._layers is None:
            self._layers = self._architecture.make_layers()
        return self._layers

    def _copy_key(self) -> tuple | None:
        """What another classifier must share for this one to be a copy of its ops (None: never copied)."""
        if self._adopted is not None:
            self._config = dict(self._adopted.config)
        elif self._trunk is not None:
            self._config = self._trunk.config
        else:
            arch = self._architecture
            layers = self._body_layers() if arch.key is None else ()
            self._config = architectures.checkpoint_config(arch, layers)
        self._config["num_classes"] = self._num_classes
        if self._adopted is not None:
            return None  # its initial values are its own model's
        if self._trunk is not None:
            # A trunk's name is unique in its runtime (its id() could be reused).
            return ("trunk", self._trunk.name, self._num_classes)
        body_key = self._architecture.key
        if body_key is None and forward.weight_penalties_declared(self._body_layers()):
            return None  # a copy has no layer objects to ask for its penalties before it trains
        if body_key is None and self._config.get("layers") is not None:
            # A user's body: the same factory *and* the same layer configurations. Configs alone can
            # hide differences (a closure's class, an argument a get_config leaves out).
            body_key = (self._architecture.factory, self._config["layers"])
        # A copy reads the input its template read: a given input tensor is part of the key.
        source = None if self._input_tensor is None else self._input_tensor.name
        return None if body_key is None else (body_key, self._input_shape, self._num_classes, source)

    def _template_owner(self) -> Any:
        """Whose table holds this classifier's template: the root runtime's, so that every shard
        copies it, unless the ops read a tensor of this shard's graph (a trunk's, a given input)."""
        return self._runtime.root if self._trunk is None and self._input_tensor is None else self._runtime

    def _build(self) -> None:
        """Builds the inference ops: through tf_keras, or as a copy of an earlier classifier's."""
        key = self._template_key = self._copy_key()
        # A copy's body is mode-dependent when the original's built layers were (see _build_training_forward).
        self._copied_training_sensitive = False
        with self._runtime.building(self._scope) as graph:
            template = graph_template.find(self._template_owner(), key) if key is not None else None  # build lock held
            if template is None:
                tensors, own, fed, frozen = self._build_with_keras(graph, key)
            else:
                tensors, own, fed, frozen = template.copy(graph, self._scope, self._seed)
                self._copied, self._copied_training_sensitive = True, template.training_sensitive
            self._runtime.add_initial_values(fed)
        self._x, self._logits, self._proba, self._class_ids = (tensors[r] for r in graph_template.ROLES)
        self._own = list(own.values())  # in creation order: a copy's layers take them in this order
        self._model_variables = dict(self._trunk.named_variables()) if self._trunk is not None else {}
        self._model_variables.update(own)
        self._frozen = set(frozen) | (self._trunk.frozen_keys if self._trunk is not None else set())

    def _build_with_keras(self, graph: Any, key: tuple | None) -> tuple[dict, dict, list, set]:
        first_op = len(graph.get_operations())
        if self._trunk is not None:
            x, features, start = self._trunk.input, self._trunk.output, self._trunk._num_random
        else:
            x = self._input_tensor
            if x is None:
                x = tf1.placeholder(tf.float32, [None, *self._input_shape], name="x")
            features, start = None, 0
        if self._adopted is not None:
            with initial_values.creating(self._seed, feed_all=True) as created:
                logits = self._adopted.logits(x, training=False)
            self._adopted.feed_kept_values(created)
            keyed = architectures.weight_keys(keras_model.leaves(self._adopted.model), named=False)
            layers = [self._adopted.model]
        else:
            with initial_values.creating(self._seed, start=start) as created:
                if features is None:
                    features = forward.check_features(
                        forward.apply(self._body_layers(), x, training=False, fold_batch_norm=True)
                    )
                self._head = make_head(self._num_classes)
                logits = self._head(features)
            keyed = {} if self._trunk is not None else architectures.weight_keys(self._layers, self._architecture.named)
            keyed.update({"head/kernel": self._head.kernel, "head/bias": self._head.bias})
            layers = (self._layers if self._trunk is None else []) + [self._head]
        frozen = architectures.frozen_keys(keyed, layers)
        proba, class_ids = graph_ops.prediction(logits)
        tensors = {"x": x, "logits": logits, "probabilities": proba, "class_ids": class_ids}
        order = {id(c.variable): i for i, c in enumerate(created)}
        own = dict(sorted(keyed.items(), key=lambda item: order[id(item[1])]))
        by_variable = {id(c.variable): c for c in created}
        fed = {k: (by_variable[id(v)].fed, by_variable[id(v)].spec) for k, v in own.items() if by_variable[id(v)].fed is not None}
        if key is not None and self._trunk is None and forward.weight_penalties_declared(self._layers):
            key = None  # a regularizer of a sublayer made in build(), which _copy_key could not see: a copy would drop it
        if key is not None:
            built, scope = graph.get_operations()[first_op:], self._scope  # the recipe must not hold self
            sensitive = self._trunk is None and forward.training_sensitive(self._layers)  # built: sublayers included
            graph_template.record(
                self._template_owner(), key,
                lambda: graph_template.Template(built, scope, tensors, own, fed, frozen, training_sensitive=sensitive),
            )
        return tensors, own, [(own[k], f) for k, (f, _) in fed.items()], frozen

    def _build_training_forward(self) -> tuple[Any, list[Any]]:
        """The training path: (logits float32 [batch, num_classes], the layers' state updates)."""
        if self._adopted is not None:
            if not self._adopted.training_sensitive:
                return self._logits, []
            with forward.collecting_updates() as updates:
                return self._adopted.logits(self._x, training=True), updates
        if self._trunk is not None:
            if not self._trunk.training_sensitive:
                return self._logits, []
            features, updates = self._trunk.training_output, self._trunk.training_updates
            layers: list[Any] = []
        else:
            layers = self._body_layers()
            # A copy's layers are new and unbuilt: sublayers made in build() (a Dropout, a BatchNorm) are
            # not there yet, so the original's built layers answer for them.
            if not (self._copied_training_sensitive if self._copied else forward.training_sensitive(layers)):
                return self._logits, []
            features, updates = self._x, []
        # A copy has no layer objects bound to its (copied) variables yet:
        # fresh ones take them, in creation order, as they build.
        bind = initial_values.reusing(self._own) if self._copied else contextlib.nullcontext()
        head = make_head(self._num_classes) if self._head is None else self._head
        with bind, forward.collecting_updates() as own_updates:
            if layers:
                features = forward.apply(layers, features, training=True)
            logits = head(features)
        self._head, self._copied = head, False
        return logits, list(updates) + own_updates

    def _build_eval(self) -> None:
        with self._runtime.building(self._scope):
            if self._eval is None:
                self._y = graph_ops.labels()
                self._eval = graph_ops.evaluation(self._logits, self._y, self._class_ids)

    def _build_train(self) -> None:
        if self._train_refused is not None:  # see _build_lazy_ops
            raise InputError(self._train_refused)
        if self._eval is None:
            self._build_eval()
        with self._runtime.building(self._scope):
            if self._train is None:
                if self._train_forward is None:
                    self._train_forward = self._build_training_forward()
                logits, updates = self._train_forward
                if logits is self._logits:  # no layer depends on the mode: one path serves both
                    loss, accuracy = self._eval
                else:
                    loss, accuracy = graph_ops.evaluation(logits, self._y, name_suffix="_training")
                penalties = self._penalties()
                if penalties:  # weight regularization, as Model.fit adds it
                    loss = tf.add(loss, tf.add_n(penalties), name="loss_regularized")
                self._learning_rate, op, finite = graph_ops.train_step(
                    loss, self.trainable_variables, f"{self._name}_adam", updates
                )
                self._train = (op, finite, loss, accuracy)

    def _penalties(self) -> list[Any]:
        """Weight regularization losses of the trunk and of this classifier's own layers (built now)."""
        if self._adopted is not None:
            return forward.weight_penalties([self._adopted.model], "model_fn")
        own = ([] if self._trunk is not None or self._layers is None else self._layers) + (
            [self._head] if self._head is not None else [])
        trunk = self._trunk.regularization_losses if self._trunk is not None else []
        return trunk + forward.weight_penalties(own)

    def _build_saver(self) -> None:
        with self._runtime.building(self._scope):
            if self._saver is None:
                self._saver = checkpoints.make_saver(self._model_variables)

    def _build_lazy_ops(self) -> None:
        """Builds every lazily built op (called by GraphSession.finalize).

        A classifier that ``fit`` refuses (e.g. a layer with an activity
        regularizer) gets no train step: the runtime still finalizes, the
        classifier still predicts, evaluates and saves, and its ``fit`` raises
        that refusal's InputError.
        """
        if not self._closed:
            self._build_eval()
            self._build_saver()
            try:
                self._build_train()
            except InputError as exc:
                self._train_refused = str(exc)

    # ------------------------------------------------------------- the runtime
    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(f"classifier {self._name!r} is closed")
        if self._runtime.closed:
            raise ClosedError(f"the runtime of classifier {self._name!r} is closed")

    def _read(self, variables: list[Any]) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._runtime.run(variables)]

    def _assign(self, pairs: list[tuple[Any, np.ndarray]]) -> None:
        # Feeding an initializer's value input assigns without adding ops
        # (works on a finalized graph); run() first initializes pending variables.
        self._runtime.run([v.initializer for v, _ in pairs], {v.initializer.inputs[1]: value for v, value in pairs})
        self._runtime.mark_initialized([v for v, _ in pairs])


__all__ = ["GraphBuilder", "make_head"]
