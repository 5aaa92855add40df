"""Graph classifiers, eager classifiers and the user's own eager tf_keras models share one process.

tf_keras picks a layer class's base (TF1 or TF2) when an object is
constructed, by rewriting the class's ``__bases__``: a layer constructed
inside a legacy graph flips its class, and every eager object of that class
made earlier then fails ("Your Layer or Model is in an invalid state").
No tfshare call may do that, in any order of construction.
"""

from __future__ import annotations

import numpy as np

import tfshare
from tfshare._tf import keras, tf
from conftest import small_cnn_body

CLASSES = [
    keras.layers.Dense, keras.layers.Conv2D, keras.layers.BatchNormalization, keras.layers.Dropout,
    keras.layers.ReLU, keras.layers.MaxPool2D, keras.layers.Flatten, keras.layers.GlobalAveragePooling2D,
    keras.layers.InputLayer, keras.Sequential, keras.Model,
]


def _user_model(seed):
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, kernel_initializer=keras.initializers.GlorotUniform(seed)),
        keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPool2D(), keras.layers.Dropout(0.1),
        keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def _every_tfshare_kind(runtime, digits):
    rows = digits.flatten()
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
    template = tfshare.TemplateTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1))
    made = [
        tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime),
        tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, runtime=runtime),  # a copy
        tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime),
        tfshare.Classifier(trunk=trunk, num_classes=10),
        tfshare.Classifier(trunk=template, num_classes=10),
        tfshare.Classifier(model_fn=lambda: _user_model(7), runtime=runtime),
        tfshare.EagerClassifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10, use_tf_function=True),
    ]
    made.append(tfshare.DenseClassifier(64, 10, (16,), runtime=runtime))
    for clf in made:
        data = rows if clf.input_shape == (64,) else digits
        clf.fit(data.x_train[:64], data.y_train[:64] % clf.num_classes)
        clf.predict_proba(data.x_test[:4])
    return made


def test_user_models_made_before_and_after_keep_working(runtime, digits):
    mros = {cls: cls.__mro__ for cls in CLASSES}
    x, y = digits.x_test[:16], digits.y_test[:16] % 3
    before = _user_model(1)
    before.fit(x, y, epochs=1, verbose=0)
    expected = before.predict(x, verbose=0)

    _every_tfshare_kind(runtime, digits)

    assert {cls: cls.__mro__ for cls in CLASSES} == mros  # no class was switched to its TF1 base
    np.testing.assert_allclose(before.predict(x, verbose=0), expected, atol=1e-6)
    before.fit(x, y, epochs=1, verbose=0)  # and it still trains
    after = _user_model(2)
    after.fit(x, y, epochs=1, verbose=0)
    assert after.predict(x, verbose=0).shape == (16, 3)
    assert tf.executing_eagerly()


def test_tfshare_inside_a_users_graph_block(digits):
    user_graph = tf.Graph()
    with user_graph.as_default():
        clf = tfshare.Classifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10)
        eager = tfshare.EagerClassifier(layers=small_cnn_body, input_shape=(8, 8, 1), num_classes=10)
        clf.fit(digits.x_train[:32], digits.y_train[:32])
        eager.fit(digits.x_train[:32], digits.y_train[:32])
        assert clf.predict(digits.x_test[:2]).shape == eager.predict(digits.x_test[:2]).shape == (2,)
    assert user_graph.get_operations() == []  # nothing built into the user's graph
    clf.close()
