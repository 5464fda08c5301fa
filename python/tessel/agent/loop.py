"""The search stage: trials asked from the Optuna study, run through
tessel.train and told back, in this process and in worker processes that
share the study through its storage."""
import os
import sys
import time

from . import plan
from . import trial as trial_mod
from .errors import BudgetError
from .leaderboard import leaderboard_rows
from .refit import REFIT_MEMBERS
from .search import Schedule, with_lock_retry
from ..utils.jsonable import jsonable as _jsonable

__all__ = ["run_search", "search_loop"]


def run_search(automl, store, study, kind, where, base, families, work, t_start, measure_cost=None):
    """Runs the search of `automl` (an AutoML: its budget, trial count,
    epochs, workers and search-space changes) on `study`: the families'
    defaults first, then TPE, in this process and `automl.workers - 1`
    spawned ones. measure_cost(output_dir, members): the ensemble stage's
    cost, measured on the first finished trial under a time budget. Returns
    (leaderboard rows, the measured ensemble cost or None)."""
    from optuna.trial import TrialState

    retry = retry_for(kind, where, automl.lock_timeout)
    t_search = time.monotonic()
    remaining = None if automl.budget_s is None else automl.budget_s - (t_search - t_start)
    if remaining is not None and remaining < 1.0:
        raise BudgetError(f"budget of {automl.budget_s:g} s was spent before the search started "
                          f"(profiling and the split took {automl.budget_s - remaining:.1f} s)")
    if not study.trials:
        for fam in families:  # each family's defaults first: a sound baseline before TPE explores
            retry(lambda fam=fam: study.enqueue_trial(optuna_params(plan.defaults(fam, space=automl._space),
                                                                    families)))
    first = sum(t.state != TrialState.WAITING for t in study.trials)  # trials of earlier runs (resumed)
    spec = {"base": base, "families": list(families), "work": work, "budget_s": remaining,
            "n_trials": automl.n_trials, "first": first, "max_epochs": automl._epochs[0],
            "min_epochs": automl._epochs[1], "repeats": automl._repeats, "lock_timeout": automl.lock_timeout,
            "verbose": automl.verbose,
            "start": t_search,
            "budget_label": automl.budget_s, "workers": automl.workers, "space": automl._space,
            "ensemble_members": automl.ensemble_size if automl.ensemble and automl.ensemble_size >= 2 else 0,
            # the rows a refit bag (tessel.agent.refit) learns from over a trial's, kept in reserve for. With one
            # split per trial only a used ensemble is refit, in the time its unused retrain reserve leaves (a
            # reserve for it ended diamonds' search 17 s early, then a retrain won)
            "refit_factor": 1.0 / (1.0 - automl.test_size) if getattr(automl, "_refittable", False) and
            automl._repeats > 1 else 0.0}
    procs = []
    from ..train import runner  # noqa: F401  (the training runtime, imported once before the clock matters)
    import tessel as ts
    threads0 = ts.get_num_threads()
    if automl.workers > 1:
        # Each process its share of the cores: two processes with every core each would oversubscribe them.
        spec["threads"] = max(1, threads0 // automl.workers)
        ts.set_num_threads(spec["threads"])
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with OpenMP threads
        ready = ctx.Semaphore(0)
        for w in range(1, automl.workers):
            wspec = dict(spec, worker=w, seed=automl.seed + w, study=study.study_name, storage=automl.storage,
                         store_url=store.url, artifact_root=store.artifact_root)
            p = ctx.Process(target=worker_main, args=(wspec, ready), name=f"tessel-agent-worker-{w}",
                            daemon=True)
            p.start()
            procs.append(p)
        # A worker needs seconds to import tessel. Under a time budget this process searches meanwhile (the
        # wait was a share of the budget with one core idle); a trial budget waits for them (up to a minute),
        # or this process could run every trial before the others start.
        if remaining is None:
            wait_until = time.monotonic() + 60.0
            for p in procs:
                if not ready.acquire(timeout=max(0.0, wait_until - time.monotonic())):
                    break
        automl._log(f"{automl.workers} workers share the study ({where})")
    try:
        main_spec = dict(spec, worker=0)
        ran = search_loop(study, retry, store, main_spec, automl._log, measure_cost=measure_cost)
    finally:
        ts.set_num_threads(threads0)
        for p in procs:
            p.join(None if automl.budget_s is None else max(5.0, (remaining or 0) + 30.0))
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p.exitcode:
                automl._log(f"warning: worker {p.name} ended with exit code {p.exitcode}")
    if ran == 0 and not study.trials:
        raise BudgetError(f"budget of {automl.budget_s:g} s is too small for one trial")
    return leaderboard_rows(study, repeats=automl._repeats), main_spec.get("ensemble_cost")


def retry_for(kind, where, lock_timeout):
    if kind == "sqlite":
        return lambda fn: with_lock_retry(fn, where, lock_timeout)
    return lambda fn: fn()


def search_loop(study, retry, store, spec, log, clock=time.monotonic, measure_cost=None):
    """Asks, runs and tells trials until the schedule says stop; returns how
    many this process ran. Shared by the main process and worker processes:
    with several workers the trial budget counts every trial of the study
    since `spec['first']` (so the study may overshoot by a trial per worker).
    measure_cost: see run_search (the main process only)."""
    from optuna.trial import TrialState

    families, base, work = spec["families"], spec["base"], spec["work"]
    shared = spec["workers"] > 1
    # The budget counts from when `budget_s` was measured (spec['start'], time.monotonic, which every process
    # shares), not from here: waiting for the workers to start is spent budget too.
    start = spec.get("start") if clock is time.monotonic else None
    sched = Schedule(spec["budget_s"], None if shared else spec["n_trials"], spec["max_epochs"], spec["min_epochs"],
                     start=start, clock=clock, repeats=spec.get("repeats", 1),
                     refit_factor=spec.get("refit_factor", 0.0), refit_members=REFIT_MEMBERS)
    best_value = min((t.value for t in study.trials if t.state == TrialState.COMPLETE), default=None)
    tag = f"[w{spec['worker']}] " if spec.get("worker") else ""
    ran, fail_streak, last_error = 0, 0, None
    while True:
        if shared and spec["n_trials"] is not None:
            started = sum(t.state != TrialState.WAITING for t in retry(lambda: study.get_trials(deepcopy=False)))
            if started - spec["first"] >= spec["n_trials"]:
                break
        epochs = sched.next_epochs(None)
        if epochs is None:
            break
        tr = retry(study.ask)
        params = plan.sample(tr, families, spec.get("space"))
        epochs = sched.next_epochs(params["family"]) or epochs
        cfg = plan.to_config(base, params, epochs)
        cfg["experiment"]["run_name"] = f"trial {tr.number}"
        cfg["experiment"]["tags"] = dict(base["experiment"]["tags"], **{"agent.trial": str(tr.number),
                                                                        "agent.worker": str(spec.get("worker", 0))})
        cfg["output"] = {"dir": os.path.join(work, "trials", f"{tr.number:04d}"), "export_onnx": False}
        out = trial_mod.run_trial(cfg, store, tr, sched.trial_deadline(), repeats=spec.get("repeats", 1))
        ran += 1
        if out.over_budget and out.epochs == 0 and sched.trials_run == 0 and not any(
                t.state == TrialState.COMPLETE for t in study.trials):
            retry(lambda: study.tell(tr, state=TrialState.FAIL))
            raise BudgetError(f"budget of {spec['budget_label']:g} s is too small for one trial: trial {tr.number} "
                              f"({params['family']}) did not finish one epoch in {out.seconds:.1f} s; give a "
                              f"larger --budget (or fewer --max-epochs, smaller data)")
        attrs = {"family": params["family"], "params": params, "epochs": out.epochs, "seconds": out.seconds,
                 "epoch_seconds": sum(out.epoch_seconds) if out.epoch_seconds else None,
                 "history": out.history, "output_dir": out.output_dir, "split_dirs": out.split_dirs,
                 "run_id": out.run_id, "over_budget": out.over_budget,
                 "error": out.error, "metrics": metric_subset(out.metrics), "worker": spec.get("worker", 0)}
        for k, v in attrs.items():
            retry(lambda k=k, v=v: tr.set_user_attr(k, _jsonable(v)))
        if out.state == "COMPLETE":
            retry(lambda: study.tell(tr, out.value))
        elif out.state == "PRUNED":
            retry(lambda: study.tell(tr, state=TrialState.PRUNED))
        else:
            retry(lambda: study.tell(tr, state=TrialState.FAIL))
        if out.state == "COMPLETE" and out.output_dir and spec.get("ensemble_members", 0) >= 2 and \
                spec["budget_s"] is not None and "ensemble_cost" not in spec and not spec.get("worker") and \
                measure_cost is not None:
            try:
                # every member may be a bag of its split models
                spec["ensemble_cost"] = measure_cost(out.output_dir,
                                                     spec["ensemble_members"] * max(1, spec.get("repeats", 1)))
                sched.set_ensemble_cost(spec["ensemble_cost"])
                log(f"ensemble stage measured on trial {tr.number}: about {spec['ensemble_cost']:.1f} s, "
                    f"kept in reserve")
            except Exception as e:  # noqa: BLE001  (no estimate: the stage then runs if any time is left)
                spec["ensemble_cost"] = None
                log(f"warning: the ensemble stage's cost could not be measured: {e}")
        if out.state == "COMPLETE":
            sched.record_complete(out.seconds, out.value)
        is_best = out.state == "COMPLETE" and (best_value is None or out.value < best_value)
        if is_best:
            best_value = out.value
        sched.record(params["family"], (out.metrics or {}).get("first_split_s", out.seconds), out.epochs, best=is_best,
                     epoch_seconds=out.epoch_seconds)
        msg = f"{tag}trial {tr.number} {params['family']}: {out.state.lower()}"
        if out.value is not None:
            msg += f", val_loss {out.value:.4g}"
        msg += f", {out.epochs} epochs in {out.seconds:.1f} s"
        if out.error:
            msg += f" ({out.error})"
        log(msg)
        # A trial that fails at once the same way again and again (bad data, a broken family) would otherwise
        # be started hundreds of times within a time budget.
        fail_streak = fail_streak + 1 if out.state == "FAIL" and out.error == last_error else int(out.state == "FAIL")
        last_error = out.error if out.state == "FAIL" else None
        if fail_streak >= MAX_SAME_FAILURES:
            log(f"{tag}search stopped: the last {fail_streak} trials failed with the same error")
            break
    return ran


MAX_SAME_FAILURES = 5  # consecutive trials failing with one error stop the search


def worker_main(spec, ready=None):
    """A worker process: its own store connection and study handle (seeded
    apart from the others), the same loop."""
    from .. import store as tstore
    from .search import open_study

    def log(msg):
        if spec["verbose"]:
            print(f"[agent] {msg}", file=sys.stderr, flush=True)

    if spec.get("threads"):
        import tessel as ts
        ts.set_num_threads(spec["threads"])
    store = tstore.open(spec["store_url"], spec["artifact_root"])
    try:
        study, kind, where = open_study(spec["study"], spec["storage"], spec["artifact_root"], spec["seed"],
                                        spec["lock_timeout"], resume=True)
        from ..train import runner  # noqa: F401  (warm before the start: the main process is warm too)
        if ready is not None:
            ready.release()
        search_loop(study, retry_for(kind, where, spec["lock_timeout"]), store, spec, log)
    finally:
        store.close()


def optuna_params(point, families):
    # The params Optuna records: 'family' only when there is a choice (as plan.sample asks).
    return {k: v for k, v in point.items() if k != "family" or len(families) > 1}


_KEEP = ("val_accuracy", "val_loss", "val_mae", "val_rmse", "val_r2", "val_f1_macro", "train_accuracy",
         "num_parameters", "train_time_s", "trees", "splits", "first_split_s")


def metric_subset(m):
    return {k: m[k] for k in _KEEP if k in m and isinstance(m[k], (int, float))}
