"""SavedModel export: loadable by plain TensorFlow, inference mode, current weights, safe writes, any filesystem."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from tensorflow.core.protobuf import saved_model_pb2

import tfshare
from tfshare._tf import keras, tf
from conftest import small_cnn_body

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Loads every export named in a JSON list with TensorFlow only, and prints what each signature returns.
LOADER = textwrap.dedent('''
    import json, sys
    import numpy as np, tensorflow as tf
    jobs = json.load(open(sys.argv[1]))
    results = []
    for job in jobs:
        x = np.load(job["x"])
        loaded = tf.saved_model.load(job["path"])
        out = {"signatures": sorted(loaded.signatures)}
        for name in job["signatures"]:
            values = loaded.signatures[name](x=tf.constant(x))
            for key, value in values.items():
                np.save(f"{job['path']}.{name}.{key}.npy", value.numpy())
        graph = tf.Graph()
        with tf.compat.v1.Session(graph=graph) as session:
            meta = tf.compat.v1.saved_model.load(session, ["serve"], job["path"])
            signature = meta.signature_def[job["signatures"][0]]
            fetches = {k: v.name for k, v in signature.outputs.items()}
            values = session.run(fetches, {signature.inputs["x"].name: x})
            for key, value in values.items():
                np.save(f"{job['path']}.v1.{key}.npy", value)
        out["tfshare_imported"] = "tfshare" in sys.modules
        results.append(out)
    print(json.dumps(results))
''')


def _load_without_tfshare(tmp_path, jobs):
    """Runs LOADER in a fresh process (TensorFlow only); returns its per-job summaries."""
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps(jobs))
    script = tmp_path / "loader.py"
    script.write_text(LOADER)
    done = subprocess.run([sys.executable, str(script), str(spec)], capture_output=True, text=True, env=ENV,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dropout_bn_body():
    return [keras.layers.Dense(16), keras.layers.BatchNormalization(momentum=0.5), keras.layers.ReLU(),
            keras.layers.Dropout(0.5)]


def test_every_kind_of_classifier_loads_in_plain_tensorflow_with_its_predictions(tmp_path, digits, runtime):
    rows = digits.flatten()
    mlp = tfshare.DenseClassifier(64, 10, (16,), seed=0)
    mlp.fit(rows.x_train[:300], rows.y_train[:300], epochs=2)
    cnn = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=0)
    copy = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4, 8), runtime=runtime, seed=1)
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=0)
    head = tfshare.Classifier(trunk=trunk, num_classes=10, name="head")
    for clf in (cnn, copy, head):
        clf.fit(digits.x_train[:300], digits.y_train[:300], epochs=2)  # BN statistics move
    assert copy._copied is False  # its first fit gave it layer objects
    dropout = tfshare.Classifier(layers=_dropout_bn_body, input_shape=(64,), num_classes=10, runtime=tfshare.GraphSession())
    dropout.fit(rows.x_train[:300], rows.y_train[:300])
    cases = {"mlp": (mlp, rows), "cnn": (cnn, digits), "copy": (copy, digits), "head": (head, digits),
             "dropout": (dropout, rows)}
    jobs = []
    for key, (clf, data) in cases.items():
        path = clf.export_saved_model(tmp_path / key)
        np.save(tmp_path / f"{key}_x.npy", data.x_test)
        jobs.append({"path": str(path), "x": str(tmp_path / f"{key}_x.npy"), "signatures": ["serving_default"]})
    results = _load_without_tfshare(tmp_path, jobs)
    for (key, (clf, data)), result in zip(cases.items(), results):
        assert result == {"signatures": ["serving_default"], "tfshare_imported": False}
        expected = clf.predict_proba(data.x_test)
        for api in ("serving_default", "v1"):
            proba = np.load(f"{tmp_path / key}.{api}.probabilities.npy")
            np.testing.assert_allclose(proba, expected, atol=1e-6, err_msg=f"{key} through {api}")
            np.testing.assert_array_equal(np.load(f"{tmp_path / key}.{api}.class_ids.npy"), clf.predict(data.x_test))
    mlp.close()
    dropout.runtime.close()


def test_a_trunk_with_heads_exports_one_signature_each_and_all_in_one(tmp_path, digits, runtime):
    trunk = tfshare.SharedTrunk(runtime, layers=small_cnn_body, input_shape=(8, 8, 1), seed=0)
    heads = [tfshare.Classifier(trunk=trunk, num_classes=n, name=f"h{i}", seed=i) for i, n in enumerate((10, 10, 3))]
    alone = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, name="alone")
    heads[0].fit(digits.x_train[:200], digits.y_train[:200])
    every = heads + [alone]
    path = tfshare.export_saved_model(every, tmp_path / "m")
    stored = dict(tf.train.list_variables(str(tmp_path / "m" / "variables" / "variables")))
    trunk_keys = [k for k in stored if k.startswith(trunk.name + "/")]
    assert len(trunk_keys) == len(trunk.variables) == 6  # the trunk once, for three heads
    assert len(stored) == 6 + 3 * 2 + len(alone.variables)
    np.save(tmp_path / "x.npy", digits.x_test)
    (result,) = _load_without_tfshare(tmp_path, [{"path": str(path), "x": str(tmp_path / "x.npy"),
                                                  "signatures": ["all", "h0", "h2", "alone"]}])
    assert result["signatures"] == ["all", "alone", "h0", "h1", "h2", "serving_default"]
    for clf in every:
        expected = clf.predict_proba(digits.x_test)
        np.testing.assert_allclose(np.load(f"{path}.all.{clf.name}.npy"), expected, atol=1e-6)
    for name in ("h0", "h2", "alone"):
        clf = every[["h0", "h1", "h2", "alone"].index(name)]
        np.testing.assert_allclose(np.load(f"{path}.{name}.probabilities.npy"), clf.predict_proba(digits.x_test), atol=1e-6)


def test_saved_model_cli_lists_the_signatures(tmp_path, runtime):
    heads = [tfshare.DenseClassifier(trunk=tfshare.SharedTrunk(runtime, 8, (4,)), num_classes=3, name="a")]
    path = tfshare.export_saved_model(heads, tmp_path / "m")
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", path], capture_output=True, text=True, env=ENV, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "signature_def['serving_default']" in shown.stdout
    assert "outputs['probabilities']" in shown.stdout and "outputs['class_ids']" in shown.stdout
    assert "shape: (-1, 8)" in shown.stdout


def test_exporting_disturbs_nothing_and_other_threads_keep_predicting(tmp_path, digits, runtime):
    a = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=0)
    b = tfshare.ConvClassifier((8, 8, 1), 10, filters=(4,), runtime=runtime, seed=1)
    a.fit(digits.x_train[:200], digits.y_train[:200])
    runtime.finalize()  # no op may be added to the live graph
    before = {c.name: c.get_weights() for c in (a, b)}
    x = digits.x_test[:8]
    expected = b.predict_proba(x)
    errors, calls, stop = [], [0], threading.Event()

    def predict():
        while not stop.is_set():
            try:
                np.testing.assert_array_equal(b.predict_proba(x), expected)
                calls[0] += 1
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    worker = threading.Thread(target=predict)
    worker.start()
    try:
        a.export_saved_model(tmp_path / "a")
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive() and errors == [] and calls[0] > 0
    for clf in (a, b):
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(value, before[clf.name][key])  # nothing re-initialized
    assert runtime.graph.finalized


def test_model_fn_and_template_trunks_export(tmp_path, rng):
    def model():
        return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                                 keras.layers.Dense(4, activation="softmax")])

    gs = tfshare.GraphSession()
    clf = tfshare.Classifier(model_fn=model, runtime=gs)
    template = tfshare.TemplateTrunk(gs, 6, (5,), seed=0)
    head = tfshare.Classifier(trunk=template, num_classes=4, name="t")
    x = rng.normal(size=(16, 6)).astype(np.float32)
    clf.fit(x, rng.integers(0, 4, 16))
    head.fit(x, rng.integers(0, 4, 16))
    for c in (clf, head):
        path = c.export_saved_model(tmp_path / c.name)
        loaded = tf.saved_model.load(path)  # in this process too: the export needs no tfshare to load
        got = loaded.signatures["serving_default"](x=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(got, c.predict_proba(x), atol=1e-6)
    gs.close()


def test_bad_exports_are_refused_with_clear_errors(tmp_path, runtime):
    a = tfshare.DenseClassifier(8, 3, (4,), runtime=runtime, name="a")
    named_all = tfshare.DenseClassifier(8, 3, (4,), runtime=runtime, name="all")
    wide = tfshare.DenseClassifier(9, 3, (4,), runtime=runtime, name="wide")
    with tfshare.DenseClassifier(8, 3, (4,), name="elsewhere") as other:
        with pytest.raises(tfshare.InputError, match=r"^classifiers must share one runtime to be exported together, got 2 "
                                                      r"runtimes; export each runtime's classifiers separately$"):
            tfshare.export_saved_model([a, other], tmp_path / "x")
    with pytest.raises(tfshare.InputError, match=r"input_shape"):
        tfshare.export_saved_model([a, wide], tmp_path / "x")
    with pytest.raises(tfshare.InputError, match=r"classifier names \['all'\] are signature names"):
        tfshare.export_saved_model([a, named_all], tmp_path / "x")
    a.export_saved_model(tmp_path / "m")
    with pytest.raises(tfshare.ExportError, match=r"already exists; pass overwrite=True"):
        a.export_saved_model(tmp_path / "m")
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(tfshare.ExportError, match=r"exists and is not a folder"):
        a.export_saved_model(tmp_path / "file", overwrite=True)
    below = re.escape(str(tmp_path / "file" / "below"))
    with pytest.raises(tfshare.ExportError, match=rf"^cannot export to '{below}': .*file is not a directory"):
        a.export_saved_model(tmp_path / "file" / "below")
    with pytest.raises(tfshare.ExportError, match=r"^cannot export to 'nope://m': File system scheme 'nope' not implemented"):
        a.export_saved_model("nope://m")
    with pytest.raises(tfshare.ExportError, match=r"already exists; pass overwrite=True"):
        tfshare.export_saved_model([a], tmp_path / "m")  # the function's default too
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike, got int"):
        a.export_saved_model(3)
    with pytest.raises(TypeError, match=r"^overwrite must be a bool, got str$"):
        a.export_saved_model(tmp_path / "n", overwrite="yes")
    with pytest.raises(tfshare.InputError, match=r"^path must name a folder to create, got '/'$"):
        a.export_saved_model("/")
    with pytest.raises(tfshare.InputError, match=r"^path must name a folder to create, got ''$"):
        a.export_saved_model("")
    assert sorted(os.listdir(tmp_path)) == ["file", "m"]  # no staging folder left behind


def test_overwrite_replaces_the_export(tmp_path, rng):
    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 3, 32)
    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        path = clf.export_saved_model(tmp_path / "m")
        clf.fit(x, y, epochs=5, learning_rate=0.05)
        clf.export_saved_model(path, overwrite=True)
        got = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(got, clf.predict_proba(x), atol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["m"]


def test_exports_and_checkpoints_work_on_another_tensorflow_filesystem(rng):
    x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 3, 32)
    base = f"ram://tfshare-{os.getpid()}-{rng.integers(1 << 30)}"
    with tfshare.DenseClassifier(8, 3, (4,), seed=0, name="r") as clf:
        clf.fit(x, y)
        path = clf.export_saved_model(f"{base}/export/1")
        got = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(got, clf.predict_proba(x), atol=1e-6)
        assert tf.io.gfile.listdir(f"{base}/export") == ["1"]  # the staging folder is gone
        saved = clf.get_weights()
        for _ in range(5):  # rotation (keeps 3) runs on this filesystem too
            clf.save(f"{base}/ckpt")
        tfshare.save_runtime([clf], f"{base}/runtime.npz")
        clf.fit(x, y, epochs=3, learning_rate=0.1)
        clf.restore(f"{base}/ckpt")
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(value, saved[key])
        clf.fit(x, y, epochs=3, learning_rate=0.1)
        tfshare.restore_runtime([clf], f"{base}/runtime.npz")
        for key, value in clf.get_weights().items():
            np.testing.assert_array_equal(value, saved[key])
    listed = tf.io.gfile.listdir(f"{base}/ckpt")
    assert sorted(n for n in listed if n.endswith(".index")) == ["ckpt-3.index", "ckpt-4.index", "ckpt-5.index"]
    assert sorted(n for n in listed if n.endswith(".tfshare.json")) == [
        "ckpt-3.tfshare.json", "ckpt-4.tfshare.json", "ckpt-5.tfshare.json"]


CHILD = textwrap.dedent('''
    import sys
    import numpy as np, tfshare
    base = sys.argv[1]
    clf = tfshare.ConvClassifier((28, 28, 1), 10, seed=0)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    np.save(base + ".x.npy", x)
    np.save(base + ".expected.npy", clf.predict_proba(x))
    for i in range(1000):  # TensorFlow Serving's layout: one folder per version
        print("export", i, flush=True)
        clf.export_saved_model(f"{base}/{i}")
''')


def test_a_process_killed_mid_export_leaves_no_path_or_a_complete_one(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    staged = loaded = 0
    for run, delay in enumerate((0.0, 0.03, 0.1, 0.3)):
        base = str(tmp_path / f"model{run}")
        child = subprocess.Popen([sys.executable, str(script), base], stdout=subprocess.PIPE, text=True, env=ENV)
        try:
            for line in child.stdout:  # the kill lands during the second export or later
                if line.startswith("export 1"):
                    break
            threading.Event().wait(delay)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=60)
        assert child.returncode == -signal.SIGKILL
        x, expected = np.load(base + ".x.npy"), np.load(base + ".expected.npy")
        entries = os.listdir(base)
        staged += any(name.startswith(".tmp-") for name in entries)
        for version in (name for name in entries if name.isdigit()):
            model = tf.saved_model.load(f"{base}/{version}")  # each version there is complete
            got = model.signatures["serving_default"](x=tf.constant(x))["probabilities"].numpy()
            np.testing.assert_allclose(got, expected, atol=1e-6)
            loaded += 1
    assert staged >= 1 and loaded >= 4  # kills landed mid-export, and every version left loads


def test_the_all_signature_fuses_the_heads_of_each_trunk_and_width(tmp_path, rng, runtime):
    """Heads of one trunk and one width are one matmul ("all/<name>"); a head alone in its width and a plain
    classifier keep their own probabilities. Each classifier's own signature returns probabilities and class ids.
    The graph is stored without devices and with default attributes stripped (the server places the ops)."""
    trunks = [tfshare.SharedTrunk(runtime, 8, (6,), seed=s, name=f"t{s}") for s in (0, 1)]
    every = [tfshare.Classifier(trunk=trunks[t], num_classes=n, name=name, seed=i)  # b3 first: alone in its group
             for i, (t, n, name) in enumerate([(1, 4, "b3"), (0, 3, "a1"), (0, 3, "a2"), (1, 3, "b1"), (1, 3, "b2")])]
    every.append(tfshare.DenseClassifier(8, 3, (6,), runtime=runtime, name="p"))
    path = tfshare.export_saved_model(every, tmp_path / "m")
    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "m" / "saved_model.pb").read_bytes())
    (meta,) = saved.meta_graphs
    assert meta.meta_info_def.stripped_default_attrs
    assert not [node.name for node in meta.graph_def.node if node.device]
    outputs = {key: value.name for key, value in meta.signature_def["all"].outputs.items()}
    assert {k: v for k, v in outputs.items() if v.startswith("all/")} == {n: f"all/{n}:0" for n in ("a1", "a2", "b1", "b2")}
    x = rng.normal(size=(5, 8)).astype(np.float32)
    loaded = tf.saved_model.load(path)
    served = loaded.signatures["all"](x=tf.constant(x))
    for clf in every:
        np.testing.assert_allclose(served[clf.name].numpy(), clf.predict_proba(x), atol=1e-6, err_msg=clf.name)
        own = loaded.signatures[clf.name](x=tf.constant(x))
        assert sorted(own) == ["class_ids", "probabilities"]
        np.testing.assert_array_equal(own["class_ids"].numpy(), clf.predict(x))


def test_a_file_url_and_a_trailing_slash_name_the_local_folder(tmp_path, rng):
    x = rng.normal(size=(4, 8)).astype(np.float32)
    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        assert clf.export_saved_model(f"{tmp_path}/mX/") == f"{tmp_path}/mX"
        url = clf.export_saved_model(f"file://{tmp_path}/m2")
        assert url == f"file://{tmp_path}/m2"
        got = tf.saved_model.load(str(tmp_path / "m2")).signatures["serving_default"](x=tf.constant(x))
        np.testing.assert_allclose(got["probabilities"].numpy(), clf.predict_proba(x), atol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["m2", "mX"]


def test_a_sharded_runtimes_classifiers_export_together(tmp_path, rng):
    """Classifiers in several shards (graphs) of one runtime: each shard's weights are read from its own Session."""
    with tfshare.GraphSession(shard_size=1) as runtime:
        every = [tfshare.DenseClassifier(8, 3, (4,), runtime=runtime, name=f"c{i}", seed=i) for i in range(3)]
        assert len({id(c.shard) for c in every}) == 3
        every[1].fit(rng.normal(size=(16, 8)).astype(np.float32), rng.integers(0, 3, 16), epochs=3)
        path = tfshare.export_saved_model(every, tmp_path / "m")
        x = rng.normal(size=(4, 8)).astype(np.float32)
        served = tf.saved_model.load(path).signatures["all"](x=tf.constant(x))
        for clf in every:
            np.testing.assert_allclose(served[clf.name].numpy(), clf.predict_proba(x), atol=1e-6, err_msg=clf.name)


def test_classifiers_named_like_the_input_export_and_keep_the_input_key_x(tmp_path, rng, runtime):
    """A classifier (or trunk) named "x", "x_1", ... exports; every signature still takes "x"."""
    x = rng.normal(size=(4, 8)).astype(np.float32)
    with tfshare.DenseClassifier(8, 3, (4,), name="x", seed=0) as alone:
        path = tfshare.export_saved_model([alone], tmp_path / "one")
        got = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))["probabilities"]
        np.testing.assert_allclose(got.numpy(), alone.predict_proba(x), atol=1e-6)
    trunk = tfshare.SharedTrunk(runtime, 8, (4,), name="x_1", seed=0)
    every = [tfshare.DenseClassifier(8, 3, (4,), runtime=runtime, name="x", seed=1),
             tfshare.Classifier(trunk=trunk, num_classes=3, name="x_2", seed=2)]
    path = tfshare.export_saved_model(every, tmp_path / "several")
    served = tf.saved_model.load(path).signatures["all"](x=tf.constant(x))
    for clf in every:
        np.testing.assert_allclose(served[clf.name].numpy(), clf.predict_proba(x), atol=1e-6, err_msg=clf.name)


def test_on_another_filesystem_saved_model_pb_is_copied_last(rng, monkeypatch):
    """Where folders cannot be renamed, files are copied one by one: saved_model.pb last, so nothing loads the
    target before its variables are there."""
    copied, copy = [], tf.io.gfile.copy

    def recording(source, target, overwrite=False):
        copied.append(target)
        return copy(source, target, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", recording)
    path = f"ram://tfshare-order-{os.getpid()}-{rng.integers(1 << 30)}/m"
    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        try:
            clf.export_saved_model(path)
        finally:
            if tf.io.gfile.exists(path):
                tf.io.gfile.rmtree(path)
    assert len(copied) >= 3 and copied[-1] == f"{path}/saved_model.pb"
    assert not [name for name in copied[:-1] if name.endswith("saved_model.pb")]


def test_a_failed_local_rename_is_an_export_error_and_leaves_nothing(tmp_path, monkeypatch):
    """An OSError while moving the staging folder into place (e.g. across devices) names the path and the OS's
    reason, and leaves neither the path nor the staging folder."""
    def cross_device(source, target):
        raise OSError(18, "Invalid cross-device link", source)

    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        monkeypatch.setattr(os, "rename", cross_device)
        with pytest.raises(tfshare.ExportError, match=rf"^cannot export to '{re.escape(str(tmp_path / 'm'))}': "
                                                     r"\[Errno 18\] Invalid cross-device link: '[^']*tmp-\d+-[0-9a-f]{8}-m'$"):
            clf.export_saved_model(tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_a_symbolic_link_and_leaves_its_target(tmp_path, rng):
    """A "latest" link exported onto with overwrite=True becomes the new export; the version it pointed to stays."""
    x = rng.normal(size=(4, 8)).astype(np.float32)
    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        first = clf.export_saved_model(tmp_path / "1")
        os.symlink(first, tmp_path / "latest")
        files = sorted(os.listdir(first))
        clf.set_weights({k: v * 2 for k, v in clf.get_weights().items()})
        clf.export_saved_model(tmp_path / "latest", overwrite=True)
        assert sorted(os.listdir(first)) == files  # the target was not emptied
        assert not os.path.islink(tmp_path / "latest")
        got = tf.saved_model.load(str(tmp_path / "latest")).signatures["serving_default"](x=tf.constant(x))
        np.testing.assert_allclose(got["probabilities"].numpy(), clf.predict_proba(x), atol=1e-6)
    assert sorted(os.listdir(tmp_path)) == ["1", "latest"]  # no moved-aside link left


def test_a_scalar_variable_survives_set_weights_and_export(tmp_path, rng):
    """A layer with a weight of shape () (a temperature): set_weights keeps it 0-d, so export works."""
    from tfshare._tf import keras

    class Temperature(keras.layers.Layer):
        def build(self, shape):
            self.t = self.add_weight(name="t", shape=(), initializer="ones")

        def call(self, z):
            return z / self.t

    x = rng.normal(size=(4, 8)).astype(np.float32)
    body = lambda: [keras.layers.Dense(4, activation="relu"), Temperature()]  # noqa: E731
    with tfshare.Classifier(layers=body, input_shape=(8,), num_classes=3, seed=0) as clf:
        weights = clf.get_weights()
        (key,) = [k for k, v in weights.items() if np.ndim(v) == 0]
        clf.set_weights({**weights, key: np.float32(2.0)})
        assert clf.get_weights()[key] == 2.0 and np.ndim(clf.get_weights()[key]) == 0
        path = clf.export_saved_model(tmp_path / "m")
        got = tf.saved_model.load(path).signatures["serving_default"](x=tf.constant(x))["probabilities"].numpy()
        np.testing.assert_allclose(got, clf.predict_proba(x), atol=1e-6)


def test_a_folder_that_appears_during_the_export_is_not_replaced_without_overwrite(tmp_path, monkeypatch):
    """Another process's export landing at ``path`` while this one ran is an ExportError, and is kept."""
    from tfshare import export

    path = tmp_path / "m"
    write = export._write

    def write_then_another_export_lands(*args):
        write(*args)
        path.mkdir()
        (path / "theirs.txt").write_text("kept")

    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        monkeypatch.setattr(export, "_write", write_then_another_export_lands)
        with pytest.raises(tfshare.ExportError,
                           match=rf"^'{re.escape(str(path))}' appeared while the export ran; pass overwrite=True"):
            clf.export_saved_model(path)
    assert os.listdir(tmp_path) == ["m"]
    assert os.listdir(path) == ["theirs.txt"]


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_a_folder_that_appears_just_before_the_rename_is_a_clear_error(tmp_path, monkeypatch, overwrite):
    """Another writer's folder lands at ``path`` between the check and the rename: an ExportError naming the
    path (and, with overwrite, where the replaced export went), not the OS's "Directory not empty"."""
    from tfshare import export

    path = tmp_path / "m"
    move = export._move

    def another_writer_first(source, target):
        if target == str(path) and ".tmp-" in source:  # the staging folder's rename into place
            path.mkdir()
            (path / "theirs.txt").write_text("kept")
        move(source, target)

    with tfshare.DenseClassifier(8, 3, (4,), seed=0) as clf:
        if overwrite:
            clf.export_saved_model(path)
        monkeypatch.setattr(export, "_move", another_writer_first)
        kept = r"; the export it was to replace is kept at '.*/\.old-[0-9a-f]{8}-m'$" if overwrite else "$"
        with pytest.raises(tfshare.ExportError, match=rf"^'{re.escape(str(path))}' appeared while the export ran "
                                                      rf"\(another writer made it after this export checked\); it was "
                                                      rf"left as it is: export again, to another path or with "
                                                      rf"overwrite=True{kept}"):
            clf.export_saved_model(path, overwrite=overwrite)
    assert os.listdir(path) == ["theirs.txt"]
    left = sorted(os.listdir(tmp_path))
    assert [name for name in left if ".tmp-" in name] == []  # the staging folder is discarded
    assert len(left) == (2 if overwrite else 1)

