"""ts.callbacks.TensorBoard / SummaryWriter read back with tensorboard's own
EventAccumulator, and ts.callbacks.MLflowLogger read back through MLflow's
client from a local store."""
import struct
import sys
import zlib

import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel.callbacks import tensorboard as tbmod

ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

ALL = {ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0}


def _acc(path):
    a = ea.EventAccumulator(str(path), size_guidance=ALL)
    a.Reload()
    return a


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model():
    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    m.compile(optimizer=ts.optim.SGD(m.parameters(), lr=0.1), loss="cross_entropy", metrics=["accuracy"])
    return m


def test_crc32c_known_values():
    # RFC 3720 (iSCSI) B.4 test vectors for CRC-32C.
    assert tbmod.crc32c(b"\x00" * 32) == 0x8A9136AA
    assert tbmod.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert tbmod.crc32c(bytes(range(32))) == 0x46DD794E
    assert tbmod.crc32c(b"123456789") == 0xE3069283
    assert zlib.crc32(b"123456789") != tbmod.crc32c(b"123456789")  # not the zip CRC


def test_record_framing(tmp_path):
    with ts.callbacks.SummaryWriter(tmp_path) as w:
        w.add_scalar("a", 1.0, 0)
    data = open(w.path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    assert struct.unpack("<I", data[8:12])[0] == tbmod.masked_crc32c(data[:8])
    assert struct.unpack("<I", data[12 + n:16 + n])[0] == tbmod.masked_crc32c(data[12:12 + n])
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked_crc32c
    assert tb_masked_crc32c(data[12:12 + n]) == tbmod.masked_crc32c(data[12:12 + n])
    # tensorboard's own record reader (which checks both CRCs of every record) reads every event back.
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.proto import event_pb2
    events = [event_pb2.Event.FromString(r) for r in event_file_loader.RawEventFileLoader(w.path).Load()]
    assert len(events) == 2 and events[0].file_version == "brain.Event:2"
    assert events[1].summary.value[0].simple_value == 1.0 and events[1].summary.value[0].tag == "a"
    # A flipped byte in the data fails its CRC: the reader stops before that record.
    bad = bytearray(data)
    bad[-6] ^= 0x01
    open(w.path, "wb").write(bytes(bad))
    assert len(list(event_file_loader.RawEventFileLoader(w.path).Load())) == 1


def test_summary_writer_scalars_histograms_hparams(tmp_path):
    vals = np.random.default_rng(1).standard_normal(1000)
    with ts.callbacks.SummaryWriter(tmp_path / "run") as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_scalar("tensor_value", ts.tensor(2.5), 7)
        w.add_histogram("weights", ts.from_numpy(vals), global_step=3, bins=10)
        w.add_histogram("const", [4.0, 4.0, 4.0], global_step=1)
        w.add_hparams({"lr": 0.01, "optimizer": "Adam", "amsgrad": True, "layers": 3}, {"hp/accuracy": 0.75})
    a = _acc(tmp_path / "run")
    loss = a.Scalars("loss")
    assert [e.step for e in loss] == list(range(5))
    assert [e.value for e in loss] == pytest.approx([1.0 / (s + 1) for s in range(5)])
    assert a.Scalars("tensor_value")[0].value == 2.5 and a.Scalars("tensor_value")[0].step == 7
    assert a.Scalars("hp/accuracy")[0].value == pytest.approx(0.75)

    (h,) = a.Histograms("weights")
    hv = h.histogram_value
    assert h.step == 3
    assert hv.min == vals.min() and hv.max == vals.max() and hv.num == 1000
    assert hv.sum == pytest.approx(vals.sum()) and hv.sum_squares == pytest.approx((vals ** 2).sum())
    counts, edges = np.histogram(vals, bins=10)
    assert list(hv.bucket) == counts.tolist()
    np.testing.assert_allclose(hv.bucket_limit, edges[1:])
    (c,) = a.Histograms("const")
    assert c.histogram_value.num == 3 and list(c.histogram_value.bucket) == [3.0]

    content = a.PluginTagToContent("hparams")
    assert set(content) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["lr"].number_value == 0.01 and hp["optimizer"].string_value == "Adam"
    assert hp["amsgrad"].bool_value is True and hp["layers"].number_value == 3
    exp = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert {i.name: i.type for i in exp.hparam_infos} == {"lr": 3, "optimizer": 1, "amsgrad": 2, "layers": 3}
    assert [m.name.tag for m in exp.metric_infos] == ["hp/accuracy"]
    end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"])
    assert end.session_end_info.status == 1  # STATUS_SUCCESS


def test_hparams_plugin_reads_the_run(tmp_path):
    """TensorBoard's HParams plugin itself lists the session and its values."""
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins.hparams import metadata as hmeta
    x, y = _data()
    _model().fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
                 callbacks=[ts.callbacks.TensorBoard(tmp_path / "logs", hparams={"width": 8})])
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(tmp_path / "logs"))
    mux.Reload()
    runs = mux.PluginRunToTagToContent(hmeta.PLUGIN_NAME)
    assert "." in runs  # the hparams live in log_dir itself
    # The plugin's own parsers (which check the plugin data version).
    start = hmeta.parse_session_start_info_plugin_data(runs["."]["_hparams_/session_start_info"])
    end = hmeta.parse_session_end_info_plugin_data(runs["."]["_hparams_/session_end_info"])
    exp = hmeta.parse_experiment_plugin_data(runs["."]["_hparams_/experiment"])
    assert end.status == 1 and {"width", "optimizer", "lr", "batch_size", "epochs", "model"} == \
        {h.name for h in exp.hparam_infos}
    assert start.hparams["width"].number_value == 8 and start.hparams["optimizer"].string_value == "SGD"
    assert start.hparams["batch_size"].number_value == 16 and start.hparams["lr"].number_value == pytest.approx(0.1)


def test_tensorboard_callback_fit(tmp_path):
    x, y = _data()
    model = _model()
    cb = ts.callbacks.TensorBoard(tmp_path / "logs", histogram_freq=1, update_freq=2, write_steps_per_second=True)
    history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25, verbose=0, callbacks=[cb])
    train = _acc(tmp_path / "logs" / "train")
    val = _acc(tmp_path / "logs" / "validation")
    tags = train.Tags()
    assert {"epoch_loss", "epoch_accuracy", "epoch_steps_per_second", "batch_loss"} <= set(tags["scalars"])
    assert [e.value for e in train.Scalars("epoch_loss")] == pytest.approx(history.history["loss"], rel=1e-6)
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    assert [e.value for e in val.Scalars("epoch_loss")] == pytest.approx(history.history["val_loss"], rel=1e-6)
    assert [e.value for e in val.Scalars("epoch_accuracy")] == pytest.approx(history.history["val_accuracy"],
                                                                             rel=1e-6)
    # 48 training samples in batches of 16: 3 steps per epoch, 9 in all; every 2nd step logged.
    assert [e.step for e in train.Scalars("batch_loss")] == [0, 2, 4, 6, 8]
    names = [n for n, _ in model.named_parameters()]
    assert set(names) | {n + "/grad" for n in names} == set(tags["histograms"])
    w = dict(model.named_parameters())[names[0]].detach().numpy()
    last = train.Histograms(names[0])[-1]
    assert last.step == 2 and last.histogram_value.num == w.size
    assert last.histogram_value.min == pytest.approx(w.min()) and last.histogram_value.max == pytest.approx(w.max())
    root = _acc(tmp_path / "logs")
    exp = plugin_data_pb2.HParamsPluginData.FromString(
        root.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    metrics = {(m.name.group, m.name.tag): m.dataset_type for m in exp.metric_infos}
    assert metrics[("train", "epoch_loss")] == 1 and metrics[("validation", "epoch_loss")] == 2


def test_tensorboard_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="histogram_freq"):
        ts.callbacks.TensorBoard(tmp_path, histogram_freq=-1)
    with pytest.raises(ValueError, match="update_freq"):
        ts.callbacks.TensorBoard(tmp_path, update_freq="sometimes")
    with pytest.raises(TypeError, match="hparams"):
        ts.callbacks.TensorBoard(tmp_path, hparams=[1])
    w = ts.callbacks.SummaryWriter(tmp_path)
    with pytest.raises(TypeError, match="number"):
        w.add_scalar("x", "high")
    with pytest.raises(ValueError, match="bins"):
        w.add_histogram("h", [1.0], bins=0)
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.add_scalar("x", 1.0)


# ----- MLflow ------------------------------------------------------------------------------------------------

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory):
    # One store for the module: creating an MLflow SQLite store runs its migrations (seconds).
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _cwd(tmp_path, monkeypatch):
    # MLflow puts the artifacts of a database store under ./mlruns unless told otherwise.
    monkeypatch.chdir(tmp_path)


def test_mlflow_logger_fit(tmp_path, mlruns):
    from mlflow.tracking import MlflowClient
    x, y = _data()
    logger = ts.callbacks.MLflowLogger("digits", tracking_uri=mlruns, run_name="r1", tags={"team": "a"},
                                       params={"note": "hi"}, log_every_n_steps=1, log_model=True,
                                       artifact_location=str(tmp_path / "artifacts"))
    history = _model().fit(x, y, batch_size=16, epochs=2, validation_split=0.25, verbose=0, callbacks=[logger])
    client = MlflowClient(tracking_uri=mlruns)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "r1"
    assert run.data.tags["team"] == "a" and run.data.tags["source"] == "ts.callbacks.MLflowLogger"
    p = run.data.params
    assert p["optimizer"] == "SGD" and float(p["lr"]) == pytest.approx(0.1) and p["batch_size"] == "16"
    assert p["epochs"] == "2" and p["note"] == "hi" and p["model"] == "Sequential"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        hist = client.get_metric_history(logger.run_id, key)
        assert [m.step for m in hist] == [0, 1]
        assert [m.value for m in hist] == pytest.approx(history.history[key], rel=1e-6)
    steps = client.get_metric_history(logger.run_id, "step/loss")
    assert sorted(m.step for m in steps) == list(range(6))
    exp = client.get_experiment_by_name("digits")
    assert exp.experiment_id == run.info.experiment_id
    arts = [a.path for a in client.list_artifacts(logger.run_id, "model")]
    assert arts == ["model/weights.safetensors"]
    assert (tmp_path / "artifacts" / logger.run_id / "artifacts" / "model" / "weights.safetensors").is_file()
    local = client.download_artifacts(logger.run_id, "model/weights.safetensors", str(tmp_path / "dl"))
    assert set(ts.load(local)) == set(dict(_model().state_dict()))

    # A second fit with the same logger makes a second run in the same experiment.
    _model().fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[logger])
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2


def test_mlflow_failed_run_is_marked(tmp_path, mlruns):
    from mlflow.tracking import MlflowClient

    class Boom(ts.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    x, y = _data()
    logger = ts.callbacks.MLflowLogger("failing", tracking_uri=mlruns)
    with pytest.raises(RuntimeError, match="boom"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[logger, Boom()])
    first = logger.run_id
    assert MlflowClient(tracking_uri=mlruns).get_run(first).info.status == "RUNNING"
    logger.close("FAILED")
    run = MlflowClient(tracking_uri=mlruns).get_run(first)
    assert run.info.status == "FAILED"
    assert [m.value for m in MlflowClient(tracking_uri=mlruns).get_metric_history(first, "loss")]  # kept


def test_mlflow_missing_gives_clear_error(monkeypatch):
    for name in list(sys.modules):
        if name == "mlflow" or name.startswith("mlflow."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ModuleNotFoundError
    with pytest.raises(ImportError, match="pip install mlflow-skinny"):
        ts.callbacks.MLflowLogger("x")


def test_mlflow_bad_arguments(mlruns):
    with pytest.raises(ValueError, match="experiment_name"):
        ts.callbacks.MLflowLogger("")
    with pytest.raises(ValueError, match="log_every_n_steps"):
        ts.callbacks.MLflowLogger("x", log_every_n_steps=0)
