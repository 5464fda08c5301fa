"""ts.agent: the ML agent. From raw data to a registered, exported model in one call.

    import tessel as ts
    p = ts.agent.profile("houses.csv", target="price")      # what the data is
    print(p)
    result = ts.agent.AutoML(budget="10m", seed=0).fit("houses.csv", target="price")
    print(result.leaderboard_table())                        # trials, best first
    result.report_path                                       # HTML report

The agent profiles the data, holds out a test split, searches model families
and their hyperparameters with Optuna (TPE, seeded; median pruning on the
per-epoch validation loss) through `tessel.train` (the same config schema
and output folder as `tessel train`), retrains the best on all training data,
evaluates it on the held-out split, exports it to ONNX and registers it as
`champion`. Command line: `tessel agent run DATA --target COL --budget 10m`.
See docs/agent.md.
"""
from .errors import AgentError, BudgetError, DataError, StudyLockedError
from .profile import ColumnProfile, Profile, TargetProfile, profile

__all__ = ["profile", "Profile", "ColumnProfile", "TargetProfile", "AutoML", "AgentResult", "run", "drift",
           "DriftReport", "watch", "WatchResult",
           "AgentError", "DataError", "BudgetError", "StudyLockedError"]


def __getattr__(name):
    # Lazy: Optuna and the training runtime load only when a search runs.
    if name in ("AutoML", "AgentResult"):
        from . import automl
        return getattr(automl, name)
    if name in ("watch", "WatchResult"):
        from . import watcher as _watch  # not 'watch': the submodule would shadow the function
        return getattr(_watch, name)
    if name in ("drift", "DriftReport"):
        from . import monitor as _monitor
        return getattr(_monitor, name)
    raise AttributeError(f"module 'tessel.agent' has no attribute {name!r}")


def run(data, target=None, budget=None, n_trials=None, seed=0, task="auto", **kwargs):
    """AutoML(budget=..., n_trials=..., seed=..., **kwargs).fit(data, target, task)."""
    from .automl import AutoML
    return AutoML(budget=budget, n_trials=n_trials, seed=seed, **kwargs).fit(data, target, task)
