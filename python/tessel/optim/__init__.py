"""Optimizers, as torch.optim. SGD/Adam/AdamW/RMSprop step with one fused C++
call per param group and dtype; Adagrad/Adadelta/Adamax/NAdam/RAdam run a Python loop
of tensor ops per parameter; LBFGS works on the parameters as one flat vector."""
from . import lr_scheduler  # noqa: F401
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "LBFGS",
           "lr_scheduler"]
