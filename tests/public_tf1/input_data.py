"""A stand-in for TF1's ``tensorflow.examples.tutorials.mnist.input_data`` (not part of the public script).

``read_data_sets(dir, one_hot=True)`` returns the same structure (``train``,
``validation`` and ``test``, each with ``images`` [n, 784] float32 in [0, 1],
one-hot ``labels`` [n, 10], ``num_examples`` and ``next_batch``), filled
with tfshare's embedded MNIST-shaped data instead of downloading MNIST, and
small (600 / 200 / 200 rows) so that the script runs in seconds.
"""

import numpy as np

import tfshare


class DataSet:
    def __init__(self, images, labels):
        self.images, self.labels = images, labels
        self.num_examples = images.shape[0]
        self._next = 0

    def next_batch(self, batch_size):
        start = self._next
        self._next = (start + batch_size) % self.num_examples
        rows = np.arange(start, start + batch_size) % self.num_examples
        return self.images[rows], self.labels[rows]


class DataSets:
    pass


def read_data_sets(data_dir, one_hot=True):
    data = tfshare.synthetic(num_train=800, num_test=200)
    eye = np.eye(10, dtype=np.float32)
    labels = eye[data.y_train] if one_hot else data.y_train
    test_labels = eye[data.y_test] if one_hot else data.y_test
    sets = DataSets()
    sets.train = DataSet(data.x_train[:600], labels[:600])
    sets.validation = DataSet(data.x_train[600:], labels[600:])
    sets.test = DataSet(data.x_test, test_labels)
    return sets
