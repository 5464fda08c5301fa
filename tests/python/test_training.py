"""ts.Trainer and Module.compile/fit/evaluate/predict: learning, history,
callbacks, batching, data conversion and the progress display."""
import math
import os

import numpy as np
import pytest

import tessel as ts
from tessel import nn, optim


def npy(t):
    return np.array(t.detach().tolist(), dtype=np.float64)


def separable(n=200, seed=0):
    """2-D points labelled by the side of the line x0 + x1 = 0, with a margin."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4 * n, 2))
    x = x[np.abs(x.sum(1)) > 0.3][:n]
    return x.astype(np.float32), (x.sum(1) > 0).astype(np.int64)


class Fixed(nn.Module):
    """out = w * x with a scalar parameter w (loss w^2 under MSE against 0)."""

    def __init__(self, w=1.0):
        super().__init__()
        self.w = nn.Parameter(ts.tensor([w]))

    def forward(self, x):
        return x * self.w


class SetWeight(ts.Callback):
    """Sets the weight at the start of each epoch from a script."""

    def __init__(self, values):
        super().__init__()
        self.values = values

    def on_epoch_begin(self, epoch, logs=None):
        nn.init.constant_(self.model.w, self.values[epoch])


# ----- learning (needs the C++ autograd) -------------------------------------------------

def test_fit_reaches_full_accuracy_on_separable_data():
    ts.manual_seed(0)
    x, y = separable()
    model = nn.Linear(2, 2)
    trainer = ts.Trainer(model, optim.Adam(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    history = trainer.fit(x, y, batch_size=16, epochs=30, seed=0, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert trainer.evaluate(x, y)["accuracy"] == 1.0
    pred = trainer.predict(x)
    assert tuple(pred.shape) == (len(x), 2)
    np.testing.assert_array_equal(npy(pred).argmax(1), y)


def test_compile_fit_binary_with_logits():
    ts.manual_seed(1)
    x, y = separable(seed=1)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.5, momentum=0.9), loss="bce_with_logits")
    history = model.fit(x, y.reshape(-1, 1).astype(np.float32), batch_size=20, epochs=40, verbose=0,
                        validation_split=0.2, seed=1)
    assert history.history["val_accuracy"][-1] == 1.0 and history.history["accuracy"][-1] == 1.0
    assert model.evaluate(x, y.reshape(-1, 1).astype(np.float32))["accuracy"] == 1.0


def test_fit_from_a_loader_of_batches():
    ts.manual_seed(2)
    x, y = separable(seed=2)
    batches = [(ts.tensor(x[i:i + 25]), ts.tensor(y[i:i + 25])) for i in range(0, len(x), 25)]
    model = nn.Linear(2, 2)
    trainer = ts.Trainer(model, optim.Adam(model.parameters(), lr=0.1), "cross_entropy")
    history = trainer.fit(batches, epochs=30, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    assert trainer.evaluate(batches)["accuracy"] == 1.0


# ----- history, callbacks, batching (run without autograd: lr 0 or scripted weights) ------

def test_history_keys_and_validation_split():
    x, y = separable(100)
    model = nn.Linear(2, 2)
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), nn.CrossEntropyLoss())
    history = trainer.fit(x, y, batch_size=32, epochs=3, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2] and trainer.history is history
    assert history.params["samples"] == 75 and history.params["steps"] == 3
    # nothing trains at lr 0: the validation numbers are those of evaluate on the last 25 samples
    ev = trainer.evaluate(x[75:], y[75:])
    assert history.history["val_loss"][0] == pytest.approx(ev["loss"], rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(ev["accuracy"])
    h2 = trainer.fit(x, y, epochs=1, validation_data=(x[:10], y[:10]), verbose=0)
    assert h2.history["val_accuracy"][0] == pytest.approx(trainer.evaluate(x[:10], y[:10])["accuracy"])


def test_evaluate_matches_numpy_and_numpy_inputs_are_converted():
    ts.manual_seed(3)
    x, y = separable(50)
    model = nn.Linear(2, 3)
    trainer = ts.Trainer(model, "sgd", nn.CrossEntropyLoss())
    x64 = x.astype(np.float64)  # NumPy's default dtype, cast to the model's float32
    res = trainer.evaluate(x64, y.astype(np.int32), batch_size=7)
    logits = x64 @ npy(model.weight).T + npy(model.bias)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    assert res["loss"] == pytest.approx(-logp[np.arange(50), y].mean(), rel=1e-5)
    assert res["accuracy"] == pytest.approx((logits.argmax(1) == y).mean())
    pred = trainer.predict(x64, batch_size=16)
    assert pred.dtype == ts.float32 and tuple(pred.shape) == (50, 3)
    np.testing.assert_allclose(npy(pred), logits, rtol=1e-5, atol=1e-5)
    # one-hot targets: accuracy compares argmaxes
    onehot = np.eye(3, dtype=np.float32)[y]
    trainer_mse = ts.Trainer(model, "sgd", "mse")
    assert trainer_mse.evaluate(x, onehot)["accuracy"] == pytest.approx((logits.argmax(1) == y).mean())


@pytest.mark.parametrize("loss, threshold", [(nn.BCEWithLogitsLoss(), 0.0), (nn.BCELoss(), 0.5)])
def test_binary_accuracy_threshold_follows_the_loss(loss, threshold):
    model = Fixed(1.0)
    out = np.array([0.1, 0.2, 0.4, 0.7, 0.9], dtype=np.float32)
    target = np.array([0, 1, 0, 1, 1], dtype=np.float32)
    trainer = ts.Trainer(model, "sgd", loss)
    acc = trainer.evaluate(out, target)["accuracy"]
    assert acc == pytest.approx(((out > threshold) == (target > 0.5)).mean())


def test_custom_metric_and_metric_names():
    model = Fixed(2.0)
    x = np.arange(6, dtype=np.float32)
    trainer = ts.Trainer(model, "sgd", "mse", metrics=[lambda out, t: (out - t).abs().mean()])
    res = trainer.evaluate(x, np.zeros(6, dtype=np.float32), batch_size=4)
    assert res["<lambda>"] == pytest.approx(np.abs(2 * x).mean())
    assert res["loss"] == pytest.approx((4 * x * x).mean())
    with pytest.raises(ValueError, match="unknown metric"):
        ts.Trainer(model, "sgd", "mse", metrics=["f1"])
    with pytest.raises(ValueError, match="unknown loss"):
        ts.Trainer(model, "sgd", "hinge")


def test_early_stopping_stops_and_restores_best_weights():
    model = Fixed()
    x = np.ones(8, dtype=np.float32)
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[])
    # val_loss = w^2: 9, 1, 4, 4, 4, ... -> best at epoch 1, patience 2 stops after epoch 3
    stop = ts.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = trainer.fit(x, np.zeros(8, dtype=np.float32), epochs=10, batch_size=4, validation_data=(x, x * 0),
                          callbacks=[SetWeight([3, 1, 2, 2, 2, 2, 2, 2, 2, 2]), stop], verbose=0)
    assert history.history["val_loss"] == pytest.approx([9, 1, 4, 4])
    assert stop.stopped_epoch == 3 and stop.best == pytest.approx(1.0) and stop.best_epoch == 1
    assert npy(model.w).tolist() == [1.0]


def test_early_stopping_min_delta_and_mode():
    model = Fixed()
    x = np.ones(4, dtype=np.float32)
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[])
    # loss 1.0, 0.81, 0.64: improvements of 0.19 and 0.17 are below min_delta=0.2
    stop = ts.EarlyStopping(monitor="loss", min_delta=0.2, patience=1)
    history = trainer.fit(x, x * 0, epochs=5, callbacks=[SetWeight([1.0, 0.9, 0.8, 0.7, 0.6]), stop], verbose=0)
    assert len(history.history["loss"]) == 2
    assert ts.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert ts.EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.warns(UserWarning, match="not available"):
        trainer.fit(x, x * 0, epochs=1, callbacks=[ts.EarlyStopping(monitor="val_loss")], verbose=0)


def test_callback_hooks_order_and_stop_training():
    events = []

    class Recorder(ts.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_batch_end(self, batch, logs=None):
            events.append(f"batch {batch} {logs['size']} {logs['loss']:.1f}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")
            if epoch == 1:
                self.trainer.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    model = Fixed(1.0)
    x = np.ones(5, dtype=np.float32)
    ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[]).fit(
        x, x * 0, batch_size=3, epochs=4, callbacks=[Recorder()], verbose=0)
    assert events == ["train_begin", "epoch_begin 0", "batch 0 3 1.0", "batch 1 2 1.0", "epoch_end 0 ['loss']",
                      "epoch_begin 1", "batch 0 3 1.0", "batch 1 2 1.0", "epoch_end 1 ['loss']", "train_end"]


class Recording(nn.Module):
    """Identity on x (scaled by a parameter) that records the batches it sees."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(ts.ones(1))
        self.seen = []

    def forward(self, x):
        self.seen.append(npy(x).tolist())
        return x * self.w


def test_batching_shuffle_and_seed():
    x = np.arange(10, dtype=np.float32)

    def batches(**kw):
        model = Recording()
        ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[]).fit(
            x, x, batch_size=4, epochs=2, verbose=0, **kw)
        return model.seen

    plain = batches(shuffle=False)
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    a, b = batches(seed=7), batches(seed=7)
    assert a == b  # the seed fixes the permutations
    assert [len(s) for s in a] == [4, 4, 2, 4, 4, 2]
    assert sorted(sum(a[:3], [])) == list(range(10)) and sorted(sum(a[3:], [])) == list(range(10))
    assert a[:3] != a[3:]  # a new permutation every epoch
    assert batches(seed=8) != a


def test_loaders_and_multi_input_models():
    class Add(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(ts.ones(1))

        def forward(self, a, b):
            return (a + b) * self.w

    model = Add()
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[])
    a, b = np.ones(6, dtype=np.float32), np.full(6, 2.0, dtype=np.float32)
    assert trainer.evaluate((a, b), np.zeros(6, dtype=np.float32))["loss"] == pytest.approx(9.0)
    assert npy(trainer.predict((a, b), batch_size=4)).tolist() == [3.0] * 6
    loader = [((ts.ones(2), ts.ones(2)), ts.zeros(2)) for _ in range(3)]
    history = trainer.fit(loader, epochs=2, verbose=0)
    assert history.history["loss"] == pytest.approx([4.0, 4.0])
    gen = (((ts.ones(2), ts.ones(2)), ts.zeros(2)) for _ in range(3))
    with pytest.raises(ValueError, match="exhausted"):
        trainer.fit(gen, epochs=2, verbose=0)
    with pytest.raises(ValueError, match="y is required"):
        trainer.fit(a, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        trainer.fit(a, np.zeros(5), verbose=0)


def test_learning_rate_schedules_per_epoch():
    model = Fixed()
    x = np.ones(4, dtype=np.float32)
    opt = optim.SGD(model.parameters(), lr=1.0)
    trainer = ts.Trainer(model, opt, "mse", metrics=[], scheduler=optim.lr_scheduler.StepLR(opt, 2, gamma=0.5))
    history = trainer.fit(x, x, epochs=5, verbose=0)
    assert history.history["lr"] == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    # a per-batch scheduler: 2 batches per epoch, OneCycleLR over 6 steps
    opt = optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    one_cycle = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=6)
    history = ts.Trainer(model, opt, "mse", metrics=[], scheduler=one_cycle, scheduler_interval="batch").fit(
        x, x, batch_size=2, epochs=3, verbose=0)
    assert history.history["lr"][0] == pytest.approx(0.04) and one_cycle.last_epoch == 6
    opt = optim.SGD(model.parameters(), lr=1.0)
    trainer = ts.Trainer(model, opt, "mse", metrics=[])
    history = trainer.fit(x, x, epochs=3, verbose=0,
                          callbacks=[ts.LearningRateScheduler(lambda epoch, lr: 0.1 * (epoch + 1))])
    assert history.history["lr"] == pytest.approx([0.1, 0.2, 0.3])
    history = trainer.fit(x, x, epochs=3, verbose=0, callbacks=[ts.LearningRateScheduler(lambda epoch: 2.0 ** -epoch)])
    assert history.history["lr"] == pytest.approx([1.0, 0.5, 0.25])
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = ts.Trainer(model, opt, "mse", metrics=[]).fit(
        x, x * 0, epochs=4, verbose=0, callbacks=[SetWeight([1, 1, 1, 1]), ts.LearningRateScheduler(plateau)])
    # the lr used in each epoch; loss stays 1.0, so every epoch after the first reduces it
    assert history.history["lr"] == pytest.approx([0.25, 0.25, 0.125, 0.0625])


def test_model_checkpoint(tmp_path):
    model = Fixed()
    x = np.ones(4, dtype=np.float32)
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[])
    path = str(tmp_path / "ckpt-{epoch:02d}-{loss:.2f}.safetensors")
    trainer.fit(x, x * 0, epochs=3, verbose=0, callbacks=[SetWeight([2, 1, 3]), ts.ModelCheckpoint(path, "loss")])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-4.00.safetensors", "ckpt-02-1.00.safetensors",
                                            "ckpt-03-9.00.safetensors"]
    best = tmp_path / "best"
    best.mkdir()
    trainer.fit(x, x * 0, epochs=4, verbose=0, callbacks=[
        SetWeight([2, 1, 3, 0.5]),
        ts.ModelCheckpoint(str(best / "e{epoch}.safetensors"), monitor="loss", save_best_only=True)])
    assert sorted(os.listdir(best)) == ["e1.safetensors", "e2.safetensors", "e4.safetensors"]
    if hasattr(ts, "load"):
        saved = ts.load(str(best / "e4.safetensors"))
        assert list(saved) == ["w"] and npy(saved["w"]).tolist() == [0.5]


def test_progress_display(capsys):
    model = Fixed()
    x = np.ones(6, dtype=np.float32)
    trainer = ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[])
    trainer.fit(x, x * 0, epochs=2, batch_size=4, verbose=1, validation_data=(x, x * 0))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2  # not a terminal: one plain line per epoch, no '\r'
    assert lines[0].startswith("Epoch 1/2 [==============================] 6/6 - ")
    assert "samples/s - loss: 1.0000 - val_loss: 1.0000" in lines[0]
    assert "\r" not in "".join(lines)
    trainer.fit(x, x * 0, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_display_on_a_terminal(monkeypatch):
    import io
    import sys

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    model = Fixed()
    x = np.ones(6, dtype=np.float32)
    ts.Trainer(model, optim.SGD(model.parameters(), lr=0.0), "mse", metrics=[]).fit(x, x * 0, epochs=2, verbose=1)
    text = out.getvalue()
    # each epoch's line is drawn in place with '\r' and closed with one newline
    assert text.count("\n") == 2 and text.startswith("\rEpoch 1/2 [")
    assert all(line.startswith("\r") for line in text.split("\n")[:2])


def test_module_methods_need_compile():
    model = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 2)), np.zeros(2))
    assert tuple(model.predict(np.zeros((3, 2), dtype=np.float32)).shape) == (3, 2)
    model.compile("adam", "cross_entropy")
    assert isinstance(model._trainer.optimizer, optim.Adam)
    assert isinstance(model._trainer.loss_fn, nn.CrossEntropyLoss)
    assert model.evaluate(np.zeros((4, 2), dtype=np.float32), np.zeros(4, dtype=np.int64))["loss"] == \
        pytest.approx(-math.log(npy(ts.softmax(model.bias.detach(), 0))[0]), rel=1e-5)
    with pytest.raises(TypeError, match="Module"):
        ts.Trainer(lambda x: x, "sgd", "mse")
