"""Gradient-boosted oblivious trees as a model family (`model.name: boosted_trees`).

BoostedTrees is a ts.nn.Module whose buffers hold the trees that tessel's C++
trainer (tessel::trees::Booster, src/trees/boost.cpp) grows; its forward is
plain tensor ops (gather, compare, sum), so state dicts, Predictor, ONNX export
and tessel-serve treat it like any other family. BoostingTrainer has Trainer's
fit() signature and calls the same callbacks: an "epoch" is a share of the
trees, with the training and validation loss in its logs.
"""
import tessel as ts
from tessel import nn

from ._solved import SolverTrainer, as_tensor, features

__all__ = ["BoostedTrees", "BoostingTrainer"]

_TREE_BUFFERS = ("features", "thresholds", "leaves")


class BoostedTrees(nn.Module):
    """Sum over trees of leaves[t, leaf(x, t)] + bias, where a row's leaf in
    tree t is sum_l (x[:, features[t, l]] > thresholds[t, l]) << l. Outputs are
    logits [N, num_outputs] for classification, the (standardized) value [N, 1]
    for regression. The keyword arguments are BoostingTrainer's settings."""

    def __init__(self, num_inputs, num_outputs, trees=1000, depth=6, learning_rate=0.1, l2=1.0, subsample=1.0,
                 colsample=1.0, max_bins=255, early_stopping=50):
        super().__init__()
        if not 1 <= int(depth) <= 12:
            raise ValueError(f"boosted_trees: depth must be in [1, 12], got {depth}")
        self.num_inputs, self.num_outputs, self.depth = int(num_inputs), int(num_outputs), int(depth)
        self.settings = {"trees": int(trees), "depth": int(depth), "learning_rate": float(learning_rate),
                         "l2": float(l2), "subsample": float(subsample), "colsample": float(colsample),
                         "max_bins": int(max_bins), "early_stopping": int(early_stopping)}
        self.register_buffer("pow2", ts.tensor([1 << i for i in range(self.depth)], dtype=ts.int64))
        self.set_trees(ts.zeros(0, self.depth, dtype=ts.int64), ts.zeros(0, self.depth),
                       ts.zeros(0, 1 << self.depth, self.num_outputs), ts.zeros(self.num_outputs))

    @property
    def num_trees(self):
        return int(self.features.shape[0])

    def set_trees(self, features, thresholds, leaves, bias):
        """Replaces the ensemble (what Booster.ensemble() returns)."""
        t, d = int(features.shape[0]), self.depth
        want = {"features": [t, d], "thresholds": [t, d], "leaves": [t, 1 << d, self.num_outputs],
                "bias": [self.num_outputs]}
        for name, a in (("features", features), ("thresholds", thresholds), ("leaves", leaves), ("bias", bias)):
            if list(a.shape) != want[name]:
                raise ValueError(f"boosted_trees: {name} must have shape {want[name]}, got {list(a.shape)}")
        if t and (int(features.min()) < 0 or int(features.max()) >= self.num_inputs):
            raise ValueError(f"boosted_trees: features must index the {self.num_inputs} inputs")
        self.register_buffer("features", features.to(ts.int64).contiguous())
        self.register_buffer("thresholds", thresholds.to(ts.float32).contiguous())
        self.register_buffer("leaves", leaves.to(ts.float32).contiguous())
        self.register_buffer("bias", bias.to(ts.float32).contiguous())
        # flat leaf row of each tree's leaf 0 (not saved: it follows from the tree count)
        self.register_buffer("offsets", ts.arange(t, dtype=ts.int64) * (1 << d), persistent=False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A saved model's tree count is its own: take the shapes from the file before copying.
        got = {n: state_dict.get(prefix + n) for n in (*_TREE_BUFFERS, "bias")}
        if all(v is not None for v in got.values()):
            self.set_trees(got["features"], got["thresholds"], got["leaves"], got["bias"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x):
        if x.dim() != 2:
            x = x.flatten(1)
        t, d = self.num_trees, self.depth
        if t == 0:
            return self.bias.unsqueeze(0).expand(x.shape[0], self.num_outputs) + x[:, :1] * 0
        v = x.index_select(1, self.features.reshape(-1))                      # [N, T*d]
        bits = (v > self.thresholds.reshape(-1)).to(ts.int64).reshape(-1, t, d)
        leaf = (bits * self.pow2).sum(-1) + self.offsets                       # [N, T]
        out = self.leaves.reshape(-1, self.num_outputs).index_select(0, leaf.reshape(-1))
        return out.reshape(-1, t, self.num_outputs).sum(1) + self.bias

    def extra_repr(self):
        return f"trees={self.num_trees}, depth={self.depth}, inputs={self.num_inputs}, outputs={self.num_outputs}"


class BoostingTrainer(SolverTrainer):
    """Grows a BoostedTrees model's ensemble with tessel's C++ booster.
    task: 'classification' (y: class ids) or 'regression' (y: values).
    fit() takes Trainer.fit's arguments (batch_size and shuffle are unused):
    `epochs` reporting steps over at most `trees` trees; each calls the
    callbacks' on_epoch_begin/on_batch_end/on_epoch_end with logs
    {loss, val_loss}; a callback setting trainer.stop_training ends the
    growth; early stopping (the model's setting) keeps the best count."""

    def __init__(self, model, task):
        if not isinstance(model, BoostedTrees):
            raise TypeError(f"BoostingTrainer trains a BoostedTrees model, got {type(model).__name__}")
        super().__init__(model, task)
        self.booster = None

    def _booster(self, x, y, validation_data, seed):
        m, s = self.model, self.model.settings
        x = _features(x, m.num_inputs, "x")
        if self.task == "classification":
            y, loss, classes = as_tensor(y).to(ts.int64).reshape(-1), "log_loss", m.num_outputs
        else:
            y, loss, classes = as_tensor(y).to(ts.float32).reshape(-1), "squared_error", 0
        xv = yv = None
        if validation_data is not None:
            xv = _features(validation_data[0], m.num_inputs, "validation inputs")
            yv = as_tensor(validation_data[1]).reshape(-1).to(y.dtype)
        return ts._C._trees.Booster(x, y, xv, yv, loss=loss, num_classes=classes, depth=s["depth"],
                                    learning_rate=s["learning_rate"], l2=s["l2"], subsample=s["subsample"],
                                    colsample=s["colsample"], max_bins=s["max_bins"],
                                    early_stopping=s["early_stopping"] if xv is not None else 0,
                                    seed=int(seed or 0) % 2**63)

    def fit(self, x, y=None, batch_size=None, epochs=10, validation_data=None, shuffle=True, seed=None,
            callbacks=(), verbose=0):
        del batch_size, shuffle, verbose
        epochs = max(1, int(epochs))
        b = self.booster = self._booster(x, y, validation_data, seed)
        total = self.model.settings["trees"]
        cbs = self._begin(callbacks, {"epochs": epochs, "trees": total})
        for epoch in range(epochs):
            logs = {}
            for cb in cbs:
                cb.on_epoch_begin(epoch, logs)
            target = total * (epoch + 1) // epochs
            step = 0
            while b.num_trees < target and not b.stopped:
                # a few calls per epoch, so that a callback's deadline is checked as trees grow
                n = b.grow(min(target - b.num_trees, max(1, total // (epochs * 4))))
                for cb in cbs:
                    cb.on_batch_end(step, {"batch": step, "size": n, "loss": b.train_loss})
                step += 1
            logs["loss"] = b.train_loss
            if b.has_validation:  # the model kept is the best count of trees so far: its loss
                logs["val_loss"] = b.best_val_loss
            logs["trees"] = b.num_trees
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training or b.stopped:
                break
        self.model.set_trees(*b.ensemble())
        for cb in cbs:
            cb.on_train_end({})
        return self.history

    @property
    def best_val_loss(self):
        return None if self.booster is None or not self.booster.has_validation else self.booster.best_val_loss


def _features(x, n, what):
    return features(x, n, what, "boosted_trees", ts.float32)
