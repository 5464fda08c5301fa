"""ts.callbacks.Tracker opens its store and starts the run on a background
thread (the first use of a store is the slow part of tracking): training does
not wait for it, nothing is lost while it runs, and its failures reach fit."""
import os
import threading
import time

import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel import store as tstore
from tessel.callbacks import tracker as tracker_mod


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model():
    ts.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    m.compile(optimizer=ts.optim.SGD(m.parameters(), lr=0.1), loss="cross_entropy")
    return m


def test_training_does_not_wait_for_a_slow_store(tmp_path, monkeypatch):
    real_open = tracker_mod._open_sink
    opened = threading.Event()
    first_batch = threading.Event()
    threads = []

    def slow_open(*a, **k):  # the store opens only after training's first step (waited on, not slept)
        threads.append(threading.current_thread())
        assert first_batch.wait(60), "training waited for the store"
        s = real_open(*a, **k)
        opened.set()
        return s

    monkeypatch.setattr(tracker_mod, "_open_sink", slow_open)
    seen = []

    class Probe(ts.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(opened.is_set())
            first_batch.set()

    x, y = _data()
    tracker = ts.callbacks.Tracker("bg", store=tmp_path / "s", log_model=False, flush_every=0)
    history = _model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tracker, Probe()])
    assert threads and threads[0] is not threading.main_thread()
    assert seen[0] is False  # the first step ran while the store was still opening
    s = tstore.open(tmp_path / "s")
    run = s.get_run(tracker.run_id)
    assert run.status == "FINISHED"
    # Every point buffered before the store was ready is there.
    assert [st for st, _, _ in s.metric_history(run.id, "loss")] == [0, 1]
    assert [v for _, v, _ in s.metric_history(run.id, "loss")] == pytest.approx(history.history["loss"])
    assert len(s.metric_history(run.id, "step/loss")) == 16
    assert s.get_params(run.id)["batch_size"] == "8"


def test_run_id_waits_for_the_start(tmp_path, monkeypatch):
    real_open = tracker_mod._open_sink

    def slow_open(*a, **k):
        time.sleep(0.3)
        return real_open(*a, **k)

    monkeypatch.setattr(tracker_mod, "_open_sink", slow_open)
    ids = []

    class ReadRunId(ts.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            ids.append(tracker.run_id)

    x, y = _data(16)
    tracker = ts.callbacks.Tracker("bg", store=tmp_path / "s", log_model=False)
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[tracker, ReadRunId()])
    assert ids == [tracker.run_id] and isinstance(ids[0], str)


def test_unusable_store_fails_fit_with_its_message(tmp_path):
    bad = tmp_path / "a-file"
    bad.write_text("not a folder")
    x, y = _data(16)
    tracker = ts.callbacks.Tracker("bg", store=bad, log_model=False)
    with pytest.raises(tstore.StoreError, match="a-file.*is a file, not a folder"):
        _model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tracker])
    # The tracker is not left half-open: a later fit with a good store works.
    tracker.store = tmp_path / "good"
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[tracker])
    assert tstore.open(tmp_path / "good").get_run(tracker.run_id).status == "FINISHED"


def test_given_store_object_starts_at_once(tmp_path):
    s = tstore.open(tmp_path / "s")
    started = []

    class Probe(ts.callbacks.Callback):
        def on_train_begin(self, logs=None):
            started.append(tracker._run_id)

    x, y = _data(16)
    tracker = ts.callbacks.Tracker("bg", store=s, log_model=False)
    _model().fit(x, y, epochs=1, verbose=0, callbacks=[tracker, Probe()])
    assert started == [tracker.run_id]  # no background start for an open store


def test_system_sampler_reads_rss_and_cpu():
    from tessel.callbacks.tracker import _SystemSampler
    psutil = pytest.importorskip("psutil")
    s = _SystemSampler()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:  # keep one core busy for a moment
        pass
    out = s.sample()
    rss = psutil.Process().memory_info().rss / 2**20
    assert abs(out["system/rss_mb"] - rss) < 16  # the same figure as psutil's (statm on Linux)
    assert 10 < out["system/cpu_percent"] <= 100 * (os.cpu_count() or 1) + 50
