"""Linear models fit by a solver (`model.name: linear`): ridge regression and
multinomial logistic regression, the baseline every tabular AutoML system keeps;
`text_linear` is the same head on text_tf's bag-of-words vector (TextLinear).

LinearModel is a ts.nn.Module holding one nn.Linear, so state dicts,
Predictor, ONNX export (a Gemm) and tessel-serve treat it like any other
family. LinearTrainer minimizes, in float64,

    mean_i loss_i + l2 / 2 * |W|^2      (the intercept is not penalized)

with loss_i half the squared error (regression: the normal equations, solved
once) or the cross entropy of softmax(x W^T + b) (classification: L-BFGS with
the strong Wolfe line search, warm across epochs; two classes fit one logit,
exported as logits [0, f], so that l2 means what it means in a binary logistic
regression). The problem is convex, so
its solution depends on l2 alone, not on a seed, a learning rate or batches.
It has Trainer.fit's signature and callbacks: an "epoch" is a share of the
solver's iterations.
"""
import math

import tessel as ts
from tessel import nn

from ._solved import SolverTrainer, as_tensor, features
from .families import TextTF

__all__ = ["LinearModel", "TextLinear", "LinearTrainer"]


def _settings(family, l2, iterations):
    if not (isinstance(l2, (int, float)) and math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"{family}: l2 must be a finite number >= 0, got {l2!r}")
    if int(iterations) < 1:
        raise ValueError(f"{family}: iterations must be >= 1, got {iterations!r}")
    return {"l2": float(l2), "iterations": int(iterations)}


class LinearModel(nn.Module):
    """x.flatten(1) @ W^T + b: logits [N, num_outputs] for classification, the
    (standardized) value [N, 1] for regression. The keyword arguments are
    LinearTrainer's settings."""

    def __init__(self, num_inputs, num_outputs, l2=1e-3, iterations=200):
        super().__init__()
        self.settings = _settings("linear", l2, iterations)
        self.num_inputs, self.num_outputs = int(num_inputs), int(num_outputs)
        self.linear = nn.Linear(self.num_inputs, self.num_outputs)

    def solver_inputs(self, x):
        """What the solved head reads: the inputs themselves."""
        return x

    def forward(self, x):
        return self.linear(x.flatten(1) if x.dim() != 2 else x)

    def extra_repr(self):
        return f"inputs={self.num_inputs}, outputs={self.num_outputs}, l2={self.settings['l2']:g}"


class TextLinear(TextTF):
    """Logistic (or ridge) regression on text (model.name: text_linear):
    TextTF's unit-length log-count vector of the tokens (hashed token pairs
    and idf optional) and one linear head, solved by LinearTrainer rather
    than by gradient steps: the TF-IDF + logistic regression baseline of text
    classification, as one module that exports and serves like the others."""

    def __init__(self, vocab_size, num_outputs, pairs=0, idf=False, l2=1e-3, iterations=200):
        super().__init__(vocab_size, num_outputs, hidden=0, dropout=0.0, pairs=pairs, idf=idf)
        self.settings = _settings("text_linear", l2, iterations)
        self.num_inputs, self.num_outputs = self.vocab_size + self.pairs, int(num_outputs)

    @property
    def linear(self):
        return self.head[-1]

    @ts.no_grad()
    def solver_inputs(self, ids, chunk=1024):
        """The feature vectors [N, vocab_size + pairs] of token ids [N, L]."""
        ids = as_tensor(ids)
        return ts.cat([self.features(ids[i:i + chunk]) for i in range(0, int(ids.shape[0]), chunk)])


class LinearTrainer(SolverTrainer):
    """Fits a LinearModel. task: 'classification' (y: class ids) or
    'regression' (y: values). fit() takes Trainer.fit's arguments (batch_size,
    shuffle and seed are unused: the solution is unique); each of `epochs`
    reporting steps runs a share of the iterations and calls the callbacks'
    on_epoch_begin/on_batch_end/on_epoch_end with logs {loss, val_loss}; the
    solver stops early once converged, and a callback setting
    trainer.stop_training ends it."""

    def __init__(self, model, task):
        if not isinstance(model, (LinearModel, TextLinear)):
            raise TypeError(f"LinearTrainer fits a LinearModel or TextLinear, got {type(model).__name__}")
        super().__init__(model, task)
        if task == "regression" and model.num_outputs != 1:
            raise ValueError(f"linear: regression takes one output, the model has {model.num_outputs}")
        self.converged = False

    # ----- the objective -----------------------------------------------------

    def _data_loss(self, w, b, x, y):
        # what the logs report, on the same scale as the other families' losses (mean squared error, not half of
        # it: the agent ranks trials of all families by it)
        z = x.matmul(w.t()) + b
        if self.task == "regression":
            r = z.reshape(-1) - y
            return (r * r).mean()
        if self.model.num_outputs == 2:  # one logit f of class 1 (logits [0, f])
            return ts.nn.functional.binary_cross_entropy_with_logits(z.reshape(-1), y.to(z.dtype))
        return ts.nn.functional.cross_entropy(z, y)

    def _set_model(self, w, b):
        lin = self.model.linear
        with ts.no_grad():
            if w.shape[0] != lin.weight.shape[0]:  # binary: class 0's logit is 0
                w = ts.cat([ts.zeros_like(w), w])
                b = ts.cat([ts.zeros_like(b), b])
            lin.weight.copy_(w.detach().to(lin.weight.dtype))
            lin.bias.copy_(b.detach().to(lin.bias.dtype))

    def _ridge(self, x, y, l2):
        # normal equations of the centred data: (Xc^T Xc / N + l2 I) w = Xc^T yc / N; b = mean(y) - mean(x) w.
        # Wider than tall (text: tens of thousands of columns), the same w in the dual: w = Xc^T a with
        # (Xc Xc^T / N + l2 I) a = yc / N, an N x N system instead of P x P.
        n, p = x.shape
        xm, ym = x.mean(0), y.mean()
        xc = x - xm
        lam = max(l2, 1e-12)
        if p > n:
            a = xc.matmul(xc.t()) / n + ts.eye(n, dtype=ts.float64) * lam
            w = xc.t().matmul(ts.linalg.solve(a, (y - ym).reshape(-1, 1) / n)).reshape(1, p)
        else:
            a = xc.t().matmul(xc) / n + ts.eye(p, dtype=ts.float64) * lam
            w = ts.linalg.solve(a, xc.t().matmul((y - ym).reshape(-1, 1)) / n).reshape(1, p)
        b = (ym - (xm * w.reshape(-1)).sum()).reshape(1)
        return w, b

    # ----- fit ---------------------------------------------------------------

    def fit(self, x, y=None, batch_size=None, epochs=10, validation_data=None, shuffle=True, seed=None,
            callbacks=(), verbose=0):
        del batch_size, shuffle, seed, verbose
        m, s = self.model, self.model.settings
        epochs = max(1, int(epochs))
        x = _features(m.solver_inputs(x), m.num_inputs, "x")
        y = _targets(y, self.task, m.num_outputs, x.shape[0], "y")
        xv = yv = None
        if validation_data is not None:
            xv = _features(m.solver_inputs(validation_data[0]), m.num_inputs, "validation inputs")
            yv = _targets(validation_data[1], self.task, m.num_outputs, xv.shape[0], "validation targets")

        cbs = self._begin(callbacks, {"epochs": epochs, "iterations": s["iterations"]})
        self.converged = False

        l2 = s["l2"]
        # binary: one logit, penalized as in the usual logistic regression (two softmax rows would halve it)
        k, p = (1 if m.num_outputs == 2 and self.task == "classification" else m.num_outputs), m.num_inputs
        # Wider than tall (text: tens of thousands of columns, hundreds of texts): the penalized solution lies in
        # the rows' span, so with X^T = Q R (Q [P, N] orthonormal) the same problem is solved on the rows'
        # coordinates X Q = R^T [N, N] for V, and W = V Q^T: the same objective and conditioning, each step
        # N x N instead of N x P.
        basis = None
        if self.task == "classification" and p > x.shape[0]:
            basis, r = ts.linalg.qr(x.t())
            x, p = r.t().contiguous(), int(r.shape[0])
            if xv is not None:
                xv = xv.matmul(basis)
        w = ts.zeros(k, p, dtype=ts.float64, requires_grad=True)
        b = ts.zeros(k, dtype=ts.float64, requires_grad=True)
        opt = None
        if self.task == "classification":
            per_epoch = max(1, math.ceil(s["iterations"] / epochs))
            opt = ts.optim.LBFGS([w, b], lr=1, max_iter=per_epoch, history_size=20, tolerance_grad=1e-7,
                                 tolerance_change=1e-10, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                loss = self._data_loss(w, b, x, y) + (w * w).sum() * (0.5 * l2)
                loss.backward()
                return loss

        for epoch in range(epochs):
            logs = {}
            for cb in cbs:
                cb.on_epoch_begin(epoch, logs)
            if self.task == "regression":
                if epoch == 0:
                    w_, b_ = self._ridge(x, y, l2)
                    with ts.no_grad():
                        w.copy_(w_)
                        b.copy_(b_)
                self.converged = True
            else:
                before = float(opt.step(closure))
                after = float(closure())
                with ts.no_grad():
                    gmax = max(float(w.grad.abs().max()), float(b.grad.abs().max()))
                # converged: a flat gradient, or an epoch of iterations that no longer lowers the objective
                self.converged = gmax <= 1e-6 or before - after <= 1e-10 * max(1.0, abs(after))
            with ts.no_grad():
                logs["loss"] = float(self._data_loss(w, b, x, y))
                if xv is not None:
                    logs["val_loss"] = float(self._data_loss(w, b, xv, yv))
            if not all(math.isfinite(v) for v in logs.values()):
                raise FloatingPointError(f"linear: the loss is not finite at epoch {epoch + 1} ({logs})")
            self._set_model(w if basis is None else w.detach().matmul(basis.t()), b)
            for cb in cbs:
                cb.on_batch_end(0, {"batch": 0, "size": int(x.shape[0]), "loss": logs["loss"]})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training or self.converged:
                break
        for cb in cbs:
            cb.on_train_end({})
        return self.history


def _features(x, n, what):
    return features(x, n, what, "linear", ts.float64, finite=True)


def _targets(y, task, k, n, what):
    y = as_tensor(y).reshape(-1)
    if y.shape[0] != n:
        raise ValueError(f"linear: {what} have {y.shape[0]} rows, the inputs {n}")
    if task == "classification":
        y = y.to(ts.int64)
        if n and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(f"linear: {what} must be class ids in [0, {k}), got {int(y.min())}..{int(y.max())}")
        return y
    return y.to(ts.float64)
