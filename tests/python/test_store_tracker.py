"""ts.callbacks.Tracker: model.fit records a run in the tracking store with no other code."""
import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel import store as tstore


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model():
    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    m.compile(optimizer=ts.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), loss="cross_entropy")
    return m


def test_fit_records_params_metrics_system_and_model(tmp_path):
    x, y = _data()
    model = _model()
    tracker = ts.callbacks.Tracker("exp", store=tmp_path / "s", run_name="r1", params={"note": "hi"},
                                   tags={"team": "a"})
    history = model.fit(x, y, batch_size=32, epochs=3, validation_split=0.25, verbose=0, callbacks=[tracker])
    s = tstore.open(tmp_path / "s")
    run = s.get_run(tracker.run_id)
    assert (run.experiment, run.name, run.status) == ("exp", "r1", "FINISHED")
    p = s.get_params(run.id)
    assert p["optimizer"] == "SGD" and float(p["lr"]) == 0.1 and float(p["optimizer.momentum"]) == 0.9
    assert (p["batch_size"], p["epochs"], p["samples"], p["note"]) == ("32", "3", "72", "hi")
    assert p["loss"] == "CrossEntropyLoss" and p["model"] == "Sequential" and p["num_parameters"] == str(6 * 8 + 8 + 8 * 2 + 2)
    assert "Linear(in_features=6, out_features=8" in p["model_summary"]
    assert s.get_tags(run.id)["team"] == "a"
    # epoch metrics match the History, step = epoch
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        hist = s.metric_history(run.id, key)
        assert [st for st, _, _ in hist] == [0, 1, 2]
        assert [v for _, v, _ in hist] == pytest.approx(history.history[key])
    steps = s.metric_history(run.id, "step/loss")
    assert [st for st, _, _ in steps] == list(range(9))  # 72 samples / 32 -> 3 steps x 3 epochs
    cpu = s.metric_history(run.id, "system/cpu_percent")
    rss = s.metric_history(run.id, "system/rss_mb")
    assert len(cpu) == 3 and all(v >= 0 for _, v, _ in cpu) and all(v > 10 for _, v, _ in rss)
    arts = {a["path"] for a in s.list_artifacts(run.id)}
    assert arts == {"model/weights.safetensors", "model/model.onnx"}
    # The recorded weights are the trained ones, and the ONNX file computes the same outputs.
    w = ts.load(s.artifact_file(run.id, "model/weights.safetensors"))
    for k, v in model.state_dict().items():
        assert ts.array_equal(w[k], v)
    onnx_model = ts.onnx.load(s.artifact_file(run.id, "model/model.onnx"))
    model.eval()
    xt = ts.tensor(x[:5])
    assert np.allclose(onnx_model(xt).numpy(), model(xt).detach().numpy(), atol=1e-5)


def test_register_as_adds_a_registry_version(tmp_path):
    x, y = _data()
    model = _model()
    tracker = ts.callbacks.Tracker("exp", store=str(tmp_path / "s"), register_as="clf")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[tracker])
    v = tracker.model_version
    assert v["name"] == "clf" and v["version"] == 1 and v["run_id"] == tracker.run_id
    assert sorted(v["files"]) == ["model.onnx", "signature.json", "weights.safetensors"]
    assert v["signature"]["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 6]}]
    assert set(v["metrics"]) == {"loss", "accuracy"}
    assert os.path.isfile(os.path.join(tmp_path, "s", "registry", "clf", "1", "model.onnx"))


def test_log_model_false_and_step_sampling(tmp_path):
    x, y = _data(64)
    s = tstore.open(tmp_path / "s")
    tracker = ts.callbacks.Tracker("exp", store=s, log_model=False, log_every_n_steps=3)
    _model().fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tracker])
    assert s.list_artifacts(tracker.run_id) == []
    assert [st for st, _, _ in s.metric_history(tracker.run_id, "step/loss")] == [0, 3, 6]


def test_data_loader_input_and_store_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TESSEL_STORE", str(tmp_path / "env-store"))
    x, y = _data(32)
    batches = [(ts.tensor(x[i:i + 8]), ts.tensor(y[i:i + 8])) for i in range(0, 32, 8)]
    tracker = ts.callbacks.Tracker("loader")
    _model().fit(batches, epochs=2, verbose=0, callbacks=[tracker])
    s = tstore.open(tmp_path / "env-store")
    assert s.get_run(tracker.run_id).status == "FINISHED"
    assert "model/model.onnx" in {a["path"] for a in s.list_artifacts(tracker.run_id)}


def test_export_failure_keeps_weights_and_says_why(tmp_path):
    class Weird(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 2)

        def forward(self, x):
            return self.fc(ts.tensor(x.numpy()))  # leaves the traced graph: the exporter refuses it

    x, y = _data(32)
    m = Weird()
    m.compile(optimizer="sgd", loss="cross_entropy")
    tracker = ts.callbacks.Tracker("exp", store=tmp_path / "s")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        m.fit(x, y, epochs=1, verbose=0, callbacks=[tracker])
    s = tstore.open(tmp_path / "s")
    arts = {a["path"] for a in s.list_artifacts(tracker.run_id)}
    assert "model/weights.safetensors" in arts
    if "model/model.onnx" not in arts:
        assert "onnx_export_error" in s.get_tags(tracker.run_id)
    assert s.get_run(tracker.run_id).status == "FINISHED"


def test_bad_arguments():
    with pytest.raises(ValueError, match="experiment must be a non-empty string"):
        ts.callbacks.Tracker("")
    with pytest.raises(ValueError, match="log_every_n_steps"):
        ts.callbacks.Tracker("e", log_every_n_steps=0)
    with pytest.raises(ValueError, match="model name '../x' is not valid"):
        ts.callbacks.Tracker("e", register_as="../x")


def test_callbacks_namespace_reexports_the_training_callbacks():
    assert ts.callbacks.EarlyStopping is ts.EarlyStopping and ts.callbacks.Callback is ts.Callback
    assert issubclass(ts.callbacks.Tracker, ts.callbacks.Callback)


def test_failed_fit_keeps_the_points_and_ends_failed(tmp_path):
    # fit raises in epoch 2: what was recorded stays, and the run ends FAILED at exit.
    code = textwrap.dedent(f"""
        import numpy as np, tessel as ts
        from tessel import nn
        x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32); y = (x[:, 0] > 0).astype(np.int64)
        m = nn.Sequential(nn.Linear(6, 2)); m.compile(optimizer="sgd", loss="cross_entropy")
        class Boom(ts.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1: raise RuntimeError("boom")
        t = ts.callbacks.Tracker("e", store={str(tmp_path / 's')!r})
        try:
            m.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[t, Boom()])
        except RuntimeError:
            print(t.run_id)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    s = tstore.open(tmp_path / "s")
    assert s.get_run(run_id).status == "FAILED"
    assert [st for st, _, _ in s.metric_history(run_id, "loss")] == [0]
    assert len(s.metric_history(run_id, "step/loss")) == 4


def test_locked_store_during_training_loses_nothing(tmp_path):
    import sqlite3
    x, y = _data(32)
    s = tstore.open(tmp_path / "s", busy_timeout=0.05)
    holder = sqlite3.connect(tmp_path / "s" / "tessel.db", isolation_level=None)

    class LockDuringEpoch1(ts.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                holder.execute("BEGIN IMMEDIATE")
            elif epoch == 2:
                holder.execute("ROLLBACK")

    tracker = ts.callbacks.Tracker("e", store=s, log_model=False, flush_every=0)
    # The lock callback runs before the tracker, so epoch 1's write hits the lock and is retried in epoch 2.
    with pytest.warns(UserWarning, match="could not write to the store, will retry"):
        _model().fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[LockDuringEpoch1(), tracker])
    holder.close()
    assert [st for st, _, _ in s.metric_history(tracker.run_id, "loss")] == [0, 1, 2]
    assert len(s.metric_history(tracker.run_id, "step/loss")) == 12
    assert not any(math.isnan(v) for _, v, _ in s.metric_history(tracker.run_id, "loss"))
