"""What the families fit by a solver rather than by gradient steps
(boosted_trees, linear) share: the trainer's face that Trainer's callbacks read."""
import numpy as np

import tessel as ts

from ..training import History


class SolverTrainer:
    """Base of BoostingTrainer and LinearTrainer: the attributes a Trainer's
    callbacks read (the tracker records them; no optimizer or schedule), and
    the History/callback start of a fit."""

    def __init__(self, model, task):
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be classification or regression, got {task!r}")
        self.model, self.task = model, task
        self.optimizer = self.scheduler = None
        self.loss_fn = _Named("log_loss" if task == "classification" else "squared_error")
        self.metrics = []
        self.stop_training = False
        self.history = None

    def _begin(self, callbacks, params):
        """[History, *callbacks], each told the trainer and on_train_begin called."""
        history = History()
        cbs = [history, *callbacks]
        for cb in cbs:
            cb.set_trainer(self)
        history.params = dict(params)
        self.history, self.stop_training = history, False
        for cb in cbs:
            cb.on_train_begin({})
        return cbs


class _Named:
    def __init__(self, name):
        self.__name__ = name


def as_tensor(a):
    return a if isinstance(a, ts.Tensor) else ts.from_numpy(np.ascontiguousarray(a))


def features(x, n, what, family, dtype, finite=False):
    """x as a contiguous 2-d `dtype` tensor of `n` features (trailing dims
    flattened); errors name the family and `what` (x, validation inputs).
    finite: refuse NaN and infinities (the linear solve has no use for them;
    trees send NaN left)."""
    x = as_tensor(x)
    if x.dim() != 2:
        x = x.flatten(1)
    if x.shape[1] != n:
        raise ValueError(f"{family}: {what} have {x.shape[1]} features, the model takes {n}")
    x = x.to(dtype).contiguous()
    if finite and not bool(ts.isfinite(x).all()):
        raise ValueError(f"{family}: {what} hold NaN or infinite values")
    return x
