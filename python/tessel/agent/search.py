"""The search: an Optuna study (TPE with a fixed seed, median pruning on the
per-epoch validation loss), its storage, the budget schedule, and one trial.

Storage: 'sqlite' (default) is STORE/studies.db next to the tracking store,
one process at a time (Optuna warns against SQLite for parallel writers);
'journal' is STORE/studies.journal, Optuna's journal file that several local
worker processes share; 'memory' keeps nothing; any other string is an RDB URL
(postgresql+psycopg://... for teams).
"""
import math
import os
import re
import statistics
import time

from ..training import Callback
from .errors import BudgetError, StudyLockedError

__all__ = ["parse_budget", "open_study", "Schedule", "PruningCallback", "TrialOverBudget", "MIN_BUDGET_S"]

MIN_BUDGET_S = 1.0
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600}


def parse_budget(budget):
    """Seconds from 600, 90.5, "90s", "10m", "1h30m" or "2.5m"; None stays None.
    BudgetError for anything else, or a budget under MIN_BUDGET_S."""
    if budget is None:
        return None
    if isinstance(budget, bool):
        raise BudgetError(f"budget must be seconds or a duration like '10m', got {budget!r}")
    if isinstance(budget, (int, float)):
        secs = float(budget)
    elif isinstance(budget, str):
        text = budget.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            secs = float(text)
        else:
            parts = re.findall(r"(\d+(?:\.\d+)?)(h|hr|min|m|sec|s)", text)
            if not parts or "".join(a + b for a, b in parts) != text:
                raise BudgetError(f"budget {budget!r} is not a duration: use seconds (600) or units s, m, h "
                                  f"('90s', '10m', '1h30m')")
            secs = sum(float(a) * _UNITS[b] for a, b in parts)
    else:
        raise BudgetError(f"budget must be seconds or a duration like '10m', got {type(budget).__name__}")
    if not math.isfinite(secs) or secs < MIN_BUDGET_S:
        raise BudgetError(f"budget {budget!r} is too small: the agent needs at least {MIN_BUDGET_S:g} s "
                          f"for one trial")
    return secs


def storage_location(storage, root):
    """(kind, location) of a storage spec: sqlite/journal files under `root`."""
    if storage in (None, "sqlite"):
        return "sqlite", f"sqlite:///{os.path.join(root, 'studies.db')}"
    if storage == "journal":
        return "journal", os.path.join(root, "studies.journal")
    if storage == "memory":
        return "memory", None
    if isinstance(storage, str) and "://" in storage:
        return "rdb", storage
    raise ValueError(f"storage must be 'sqlite', 'journal', 'memory' or a database URL, got {storage!r}")


def _is_locked(e):
    """A SQLite lock timeout, also when Optuna wrapped it (StorageInternalError from the commit)."""
    seen = 0
    while e is not None and seen < 5:
        if "database is locked" in str(e) or "database table is locked" in str(e):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def _shown(where):
    return where[len("sqlite:///"):] if where and where.startswith("sqlite:///") else where


def locked_message(where, timeout):
    return (f"study database {_shown(where)} is locked by another process (waited {timeout:g} s); finished trials are "
            f"kept. SQLite takes one writer at a time: for several workers use storage='journal' "
            f"(--storage journal), or wait for the other process to finish")


def _family_median_pruner():
    import optuna
    from optuna.trial import TrialState

    class FamilyMedianPruner(optuna.pruners.BasePruner):
        """Optuna's median rule (prune when the trial's best value so far is
        worse than the median of earlier trials at the same step) among trials
        of the same model family only: families' losses at one step are not
        comparable (100 boosted trees against one MLP epoch pruned every MLP).
        No pruning before `n_startup_trials` trials of the family completed."""

        def __init__(self, n_startup_trials=2):
            self.n_startup_trials = int(n_startup_trials)

        def prune(self, study, trial):
            step = trial.last_step
            if step is None:
                return False
            values = [v for s, v in trial.intermediate_values.items() if s <= step]
            best = min(values) if values else float("nan")
            if not math.isfinite(best):
                return True
            fam = trial.params.get("family")
            done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                    if t.params.get("family") == fam]
            if sum(t.state == TrialState.COMPLETE for t in done) < self.n_startup_trials:
                return False
            at_step = [t.intermediate_values[step] for t in done if step in t.intermediate_values]
            at_step = [v for v in at_step if math.isfinite(v)]
            if not at_step:
                return False
            return best > statistics.median(at_step)

    return FamilyMedianPruner


def open_study(name, storage, root, seed, lock_timeout=10.0, resume=True):
    """An Optuna study (direction minimize: the validation loss) with a seeded
    TPE sampler and a median pruner. resume: continue a study of that name."""
    import optuna
    from sqlalchemy import exc as sa_exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the agent logs its own lines
    kind, where = storage_location(storage, root)
    if kind in ("sqlite", "journal"):
        os.makedirs(root, exist_ok=True)
    try:
        if kind in ("sqlite", "rdb"):
            kw = {"connect_args": {"timeout": float(lock_timeout)}} if where.startswith("sqlite") else None
            st = optuna.storages.RDBStorage(where, engine_kwargs=kw)
        elif kind == "journal":
            from optuna.storages.journal import JournalFileBackend, JournalStorage
            st = JournalStorage(JournalFileBackend(where, lock_obj=_journal_lock(where, lock_timeout)))
        else:
            st = optuna.storages.InMemoryStorage()
        sampler = optuna.samplers.TPESampler(seed=seed)
        FamilyMedianPruner = _family_median_pruner()
        pruner = FamilyMedianPruner(n_startup_trials=2)
        if not resume:
            try:
                optuna.delete_study(study_name=name, storage=st)
            except KeyError:
                pass
        study = optuna.create_study(study_name=name, storage=st, sampler=sampler, pruner=pruner,
                                    direction="minimize", load_if_exists=True)
    except (sa_exc.OperationalError, optuna.exceptions.StorageInternalError) as e:
        if _is_locked(e):
            raise StudyLockedError(locked_message(where, lock_timeout)) from None
        raise
    return study, kind, where


def _journal_lock(path, timeout):
    """The journal file's lock for workers on one machine: flock() on
    PATH.lock, polled every half millisecond. Optuna's default (a symlink, for
    NFS) sleeps 1, 2, 4 ... up to 1000 ms between tries, so a worker that
    finds the lock taken idles long after the other's write (a trial writes
    about 15 times); the kernel also releases a flock when its holder dies, so
    no grace period is needed. Every process of a study must use the same
    lock: the agent opens journals only here. None (Optuna's) without fcntl."""
    try:
        import fcntl
    except ImportError:
        return None

    class FlockLock:  # what JournalFileBackend calls: acquire() and release()
        def __init__(self):
            self._fd = None

        def acquire(self):
            fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._fd = fd
                    return True
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        os.close(fd)
                        raise StudyLockedError(f"the study journal {path} stayed locked for {timeout:g} s (a "
                                               f"process holding {path}.lock hangs?)") from None
                    time.sleep(0.0005)

        def release(self):
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    return FlockLock()


def with_lock_retry(fn, where, timeout):
    """fn() retried while SQLite reports a lock, up to `timeout` seconds in all;
    then StudyLockedError."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy import exc as sa_exc
    t0 = time.monotonic()
    delay = 0.05
    while True:
        try:
            return fn()
        except (sa_exc.OperationalError, StorageInternalError) as e:
            if not _is_locked(e):
                raise
            if time.monotonic() - t0 > timeout:
                raise StudyLockedError(locked_message(where, timeout)) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


class TrialOverBudget(Exception):
    """Raised inside a trial's training when the time budget runs out mid-epoch."""


class PruningCallback(Callback):
    """Reports the monitored validation metric to the Optuna trial after every
    epoch and stops training when the pruner says so (or the value is not
    finite); raises TrialOverBudget at a batch end after the hard deadline."""

    def __init__(self, trial, monitor="val_loss", deadline=None, report=True, clock=time.monotonic):
        super().__init__()
        self.trial, self.monitor, self.deadline, self.report = trial, monitor, deadline, report
        self.clock = clock
        self.values, self.pruned, self.nonfinite = [], False, False
        self.epoch_times = []
        self._t = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        if self.deadline is not None and self.clock() > self.deadline:
            raise TrialOverBudget(f"over the time budget in epoch {len(self.values) + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self._t is not None:
            self.epoch_times.append(time.perf_counter() - self._t)
        v = (logs or {}).get(self.monitor)
        if v is None:
            return
        v = float(v)
        self.values.append(v)
        if not math.isfinite(v):
            self.nonfinite = True
            self._stop()
            return
        if self.report:
            self.trial.report(v, len(self.values) - 1)
            if self.trial.should_prune():
                self.pruned = True
                self._stop()
        if self.deadline is not None and self.clock() > self.deadline:
            self._stop()

    def _stop(self):
        if self.trainer is not None:
            self.trainer.stop_training = True


class Schedule:
    """When to stop searching and how many epochs the next trial gets.

    With a trial budget only, every trial gets max_epochs (deterministic).
    With a time budget, each trial's cost is modelled as a fixed part (data,
    model, tracking) plus epochs x seconds per epoch, both measured (per
    family, else over all); the time the final retrain will need is kept in
    reserve; epochs shrink toward min_epochs when fewer than `target_trials`
    more trials would fit, and the search stops when not even one trial of
    min_epochs fits. `clock` is time.monotonic (tests pass their own).
    repeats: the train/validation splits a trial that completes trains on
    (val_repeats); costs are measured per split (record's `seconds` is one
    split's), and a trial's epochs are shared out as if every split ran.
    refit_factor: > 0 when the final's members will be refit with the
    held-out rows (tessel.agent.refit): the rows they add; the reserve then
    holds the time of the refit_members best complete trials (all splits,
    the ensemble's likely members) times it.
    """

    def __init__(self, budget_s=None, n_trials=None, max_epochs=5, min_epochs=1, target_trials=10,
                 final_factor=1.5, start=None, clock=time.monotonic, repeats=1, refit_factor=0.0, refit_members=3):
        self.repeats = max(1, int(repeats))
        self.refit_factor, self.refit_members = float(refit_factor), int(refit_members)
        self.complete_s = []     # (validation loss, wall time over all its splits) of each complete trial
        self.budget_s, self.n_trials = budget_s, n_trials
        self.max_epochs, self.min_epochs = int(max_epochs), int(min(min_epochs, max_epochs))
        self.target_trials, self.final_factor = target_trials, final_factor
        self.clock = clock
        self.start = clock() if start is None else start
        self.deadline = None if budget_s is None else self.start + budget_s
        self.per_epoch = {}      # family -> [seconds per epoch]
        self.fixed = []          # seconds of each trial outside its epochs
        self.trials_run = 0
        self.best_cost = None    # seconds per epoch of the best trial so far
        self.ensemble_s = 0.0    # the ensemble stage's measured cost (set_ensemble_cost), kept in reserve too

    def record(self, family, seconds, epochs, best=False, epoch_seconds=None):
        """A finished trial: the wall time of its first split (of all of it
        without repeats), epochs run, and (when known) the seconds of those
        epochs, which split the time into fixed + per epoch. The other splits'
        time is not fixed cost: counted so, one slow first trial on 5 splits
        made the reserve look larger than the time left and ended the search."""
        self.trials_run += 1
        if epochs <= 0:
            return
        in_epochs = sum(epoch_seconds) if epoch_seconds else seconds
        cpe = in_epochs / epochs
        self.per_epoch.setdefault(family, []).append(cpe)
        self.fixed.append(max(0.0, seconds - in_epochs))
        if best:
            self.best_cost = cpe

    def record_complete(self, seconds, value):
        """A complete trial's wall time over all its splits (the refit's unit
        of cost) and its validation loss (the best are the likely members)."""
        self.complete_s.append((float(value), float(seconds)))

    # A refit that would need more than this share of the budget is not reserved for: it would starve the
    # search, and runs only if the search leaves the time anyway.
    REFIT_MAX_SHARE = 0.4

    def refit_reserve(self):
        """Seconds kept for the refit: its members' runs and one more export."""
        if self.refit_factor <= 0 or not self.complete_s:
            return 0.0
        best = sorted(self.complete_s)[:self.refit_members]
        need = self.refit_factor * sum(t for _, t in best) + self.ensemble_s
        return need if self.budget_s is None or need <= self.REFIT_MAX_SHARE * self.budget_s else 0.0

    def cost_per_epoch(self, family):
        own = self.per_epoch.get(family)
        if own:
            return statistics.median(own)
        every = [v for vs in self.per_epoch.values() for v in vs]
        return statistics.median(every) if every else None

    def fixed_cost(self):
        return statistics.median(self.fixed) if self.fixed else 0.0

    def set_ensemble_cost(self, seconds):
        """The ensemble stage's cost, measured on a finished trial (see
        ensemble_stage.measure_ensemble_cost): reserved from then on, since whether the
        ensemble or the retrained best wins is known only after both could run."""
        self.ensemble_s = max(0.0, float(seconds))

    def reserve(self):
        """Seconds kept for the ensemble stage (once measured), the refit
        (when one follows), the final retrain (all training data, max epochs)
        and the report."""
        every = [v for vs in self.per_epoch.values() for v in vs]
        if not every:
            return self.ensemble_s
        cpe = self.best_cost if self.best_cost is not None else statistics.median(every)
        return self.ensemble_s + self.refit_reserve() + self.fixed_cost() + \
            self.final_factor * cpe * self.max_epochs + 1.0

    def remaining(self):
        return None if self.deadline is None else self.deadline - self.clock()

    def next_epochs(self, family):
        """Epochs for the next trial of `family`, or None to stop the search."""
        if self.n_trials is not None and self.trials_run >= self.n_trials:
            return None
        if self.deadline is None:
            return self.max_epochs
        left = self.remaining() - self.reserve()
        cpe = self.cost_per_epoch(family)
        if cpe is None:  # nothing measured yet: the first trial finds the cost
            return self.max_epochs if left > 0 else None
        left -= self.fixed_cost()
        if left < cpe * self.min_epochs:
            return None
        want = max(1, self.n_trials - self.trials_run) if self.n_trials is not None else self.target_trials
        fit = int(left // (cpe * want * self.repeats)) if cpe > 0 else self.max_epochs
        return max(self.min_epochs, min(self.max_epochs, fit))

    # The first trial's share of a time budget: the final retrain repeats the best trial's epochs on all the
    # training data (1 / (1 - val_split) = 1.25x its rows), so first trial + retrain stay within the budget.
    FIRST_TRIAL_SHARE = 0.4

    def trial_deadline(self):
        """Clock time after which a running trial is stopped: the budget
        minus the reserve, and for the first trial at most 0.4 of the budget."""
        if self.deadline is None:
            return None
        if not self.per_epoch:
            return self.start + self.FIRST_TRIAL_SHARE * self.budget_s
        return self.deadline - self.reserve()
