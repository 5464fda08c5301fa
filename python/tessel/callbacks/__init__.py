"""ts.callbacks: Keras-style callbacks for model.fit / ts.Trainer.

The training loop's callbacks live in tessel.training and are re-exported
here; Tracker records a run in the tracking store (tessel.store).

    model.fit(x, y, callbacks=[ts.callbacks.Tracker(experiment="digits"),
                               ts.callbacks.EarlyStopping(patience=3)])
"""
from ..training import Callback, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint
from .tracker import Tracker
from .tensorboard import SummaryWriter, TensorBoard
from .mlflow import MLflowLogger

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "Tracker",
           "TensorBoard", "SummaryWriter", "MLflowLogger"]
