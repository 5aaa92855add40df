"""graph_ops builders: the softmax that avoids oneDNN's slow Softmax kernel."""

from __future__ import annotations

import numpy as np
import pytest

from tfshare import graph_ops
from tfshare._tf import tf, tf1


@pytest.mark.parametrize("shape", [(1, 10), (32, 10), (4, 32, 10)], ids=["1x10", "32x10", "4x32x10"])
def test_softmax_matches_tf_softmax(shape):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(shape) * 8).astype(np.float32)
    logits[0, ..., 0] = 80.0  # exp would overflow without the shift
    graph = tf.Graph()
    with graph.as_default():
        z = tf1.placeholder(tf.float32, [None] * len(shape))
        ours, reference = graph_ops.softmax(z, name="probabilities"), tf.nn.softmax(z)
    assert ours.op.name == "probabilities"
    with tf1.Session(graph=graph) as sess:
        got, want = sess.run([ours, reference], {z: logits})
    assert got.dtype == np.float32 and got.shape == shape
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)
    assert {op.type for op in graph.get_operations()} >= {"LogSoftmax", "Exp"}
