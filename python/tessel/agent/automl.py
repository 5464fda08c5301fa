"""AutoML: profile -> held-out split -> search (Optuna) -> retrain the best on
all training data (or an ensemble of the best) -> evaluate on the held-out
split -> on small tables, refit with the held-out rows -> export ONNX,
register as `champion` -> HTML report. Every trial and the final model are runs of
`tessel.train` (the same config schema and output folder); the agent's own
run in the tracking store holds the profile, leaderboard and report.

    automl = ts.agent.AutoML(budget="10m", seed=0)
    result = automl.fit("train.csv", target="price")
    print(result.leaderboard_table())
    result.predict([{"area": 80, "rooms": 3}])

The stages live in their own files: the search (loop.py), the ensemble
(ensemble_stage.py), the final retrain (final.py), the refit (refit.py), the leaderboard
(leaderboard.py); this one runs them in order.
"""
import contextlib
import dataclasses
import json
import math
import os
import re
import sys
import time

from . import plan
from .ensemble_stage import bag_of, finish_ensemble, measure_ensemble_cost, register_final, select_ensemble
from .errors import AgentError, BudgetError, DataError
from .final import retrain_best
from .leaderboard import fmt as _fmt, leaderboard_text, write_leaderboard_csv
from .loop import run_search, search_loop  # noqa: F401  (search_loop: the tests drive it from here)
from .prepare import prepare
from .profile import Profile, profile
from .refit import refit_cost, refit_members
from .search import open_study, parse_budget
from ..utils.jsonable import jsonable as _jsonable

__all__ = ["AutoML", "AgentResult"]


@dataclasses.dataclass
class AgentResult:
    """What AutoML.fit() found and wrote."""
    profile: Profile
    leaderboard: list          # one dict per trial, best first
    best: dict                 # the leaderboard row of the best trial
    config: dict               # the final train config (resolved)
    test_metrics: dict         # metrics of the final model on the held-out split
    output_dir: str            # the final model's output folder (config.yaml, model.onnx, ...)
    model_version: dict        # the registry version (name, version, folder, aliases) or None
    report_path: str
    run_id: str                # the agent's run in the tracking store
    study_name: str
    storage: str
    stages: dict               # seconds per stage
    work_dir: str
    predictions: list = None   # the final model's predictions on the held-out split
    test_labels: list = None
    ensemble: dict = None      # the selected ensemble (members, weights, val losses, used) or None
    advice: dict = None        # the LLM advisor's answer (changes, explanation) or None
    refit: dict = None         # the refit with the held-out rows (rows, estimated_s, seconds, used) or None

    def to_dict(self):
        d = {k: getattr(self, k) for k in ("leaderboard", "best", "test_metrics", "output_dir", "report_path",
                                           "run_id", "study_name", "storage", "stages", "work_dir",
                                           "ensemble", "advice", "refit")}
        d["profile"] = self.profile.to_dict()
        d["model_version"] = None if self.model_version is None else \
            {k: self.model_version.get(k) for k in ("name", "version", "folder", "aliases")}
        return d

    def leaderboard_table(self, limit=20):
        text = leaderboard_text(self.leaderboard[:limit])
        e = self.ensemble
        if e:
            w = ", ".join(f"trial {m['trial']}: {m['weight']:.3g}" for m in e["members"] if m["weight"] > 0)
            text += (f"\nensemble: val_loss={_fmt(e['val_loss'])} vs best single {_fmt(e['best_single_loss'])} "
                     f"({'used' if e['used'] else 'not used'}); weights {w}")
        return text

    def predict(self, items):
        from ..train import Predictor
        return Predictor.load(self.output_dir).predict(items)


def _model_name(data, profile):
    if isinstance(data, (str, os.PathLike)):
        stem = os.path.splitext(os.path.basename(os.path.normpath(os.fspath(data))))[0]
    else:
        stem = "arrays"
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._") or "model"
    return name[:100]


class AutoML:
    """The ML agent.

    budget: wall-clock budget of the whole fit ("10m", "90s", 600); None with
    n_trials for a trial budget only (deterministic: the same seed and
    n_trials give the same leaderboard). n_trials: most trials. seed: the
    sampler's, the splits' and training's seed. families: model families to
    search (default: per modality, see plan.CANDIDATES). max_epochs /
    min_epochs: epochs per trial (a time budget shrinks them toward
    min_epochs when few trials would fit); max_epochs None: per modality
    (plan.MAX_EPOCHS: 20 for audio, 10 for the rest). store: tracking store (folder or
    URL; default $TESSEL_STORE or ./tessel-store). storage: 'sqlite' (the
    study in STORE/studies.db), 'journal' (STORE/studies.journal, for several
    local workers), 'memory', or a database URL. study_name: continue (or
    share with other workers) the study of that name. workers: processes
    that run trials at once (> 1: the journal storage unless a URL is given;
    not deterministic). register: registry model name (True: from the data's
    name; False: do not register).
    ensemble: try a weighted ensemble of the best
    `ensemble_size` (5) trials (greedy selection with replacement,
    `ensemble_iterations` picks, on the validation split all trials share);
    it replaces the retrained best model when its validation loss is lower.
    refit: once a final made of trials' models (a bag of split models, or an
    ensemble; tables, arrays, text) is evaluated on the held-out split, train
    its members again with the held-out rows added and register that (tessel.agent.refit; its test
    metrics are the evaluated model's), when the budget leaves time for it.
    advisor: URL of an OpenAI-compatible endpoint (".../v1") asked for
    search-space changes and an explanation (off by default; see
    tessel.agent.advisor); advisor_model: the model name sent to it.
    """

    def __init__(self, budget=None, n_trials=None, seed=0, families=None, max_epochs=None, min_epochs=1,
                 store=None, experiment="agent", study_name=None, storage="sqlite", work_dir=None, test_size=0.2,
                 val_split=0.2, register=True, alias="champion", export=True, report=True, lock_timeout=10.0,
                 workers=1, verbose=True, log=None, ensemble=True, ensemble_size=5, ensemble_iterations=25,
                 advisor=None, advisor_model=None, advisor_timeout=30.0, val_repeats=None, refit=True):
        if budget is None and n_trials is None:
            budget = "10m"
        self.budget_s = parse_budget(budget)
        if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
            raise BudgetError(f"n_trials must be a positive integer, got {n_trials!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, int)
                                       or max_epochs < 1):
            raise ValueError(f"max_epochs must be a positive integer, got {max_epochs!r}")
        if not 0.0 < val_split < 0.9:
            raise ValueError(f"val_split must be in (0, 0.9), got {val_split!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if workers > 1 and storage == "memory":
            raise ValueError("workers > 1 share the study through storage: use 'journal' or a database URL, "
                             "not 'memory'")
        if workers > 1 and storage in (None, "sqlite"):
            storage = "journal"  # Optuna warns against SQLite for parallel writers
        self.workers = workers
        if val_repeats is not None and (isinstance(val_repeats, bool) or not isinstance(val_repeats, int)
                                        or val_repeats < 1):
            raise ValueError(f"val_repeats must be a positive integer or None, got {val_repeats!r}")
        self.val_repeats = val_repeats
        self.refit = bool(refit)
        self._refittable = False  # for the data being fit: refit on, export on, and an all-rows file
        self._repeats = 1  # for the data being fit (val_repeats None: plan.val_repeats)
        self.n_trials, self.seed, self.families = n_trials, seed, families
        if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 1:
            raise ValueError(f"min_epochs must be a positive integer, got {min_epochs!r}")
        self.max_epochs, self.min_epochs = max_epochs, min_epochs  # min_epochs above max_epochs: clipped to it
        self._epochs = None  # (max, min) for the data being fit (max_epochs None: plan.max_epochs)
        self.store_location, self.experiment = store, experiment
        self.study_name, self.storage = study_name, storage
        self.work_dir, self.test_size, self.val_split = work_dir, test_size, val_split
        self.register, self.alias, self.export, self.report = register, alias, export, report
        self.lock_timeout, self.verbose = lock_timeout, verbose
        self.log_stream = log
        if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or ensemble_size < 1:
            raise ValueError(f"ensemble_size must be a positive integer, got {ensemble_size!r}")
        if isinstance(ensemble_iterations, bool) or not isinstance(ensemble_iterations, int) or ensemble_iterations < 1:
            raise ValueError(f"ensemble_iterations must be a positive integer, got {ensemble_iterations!r}")
        self.ensemble, self.ensemble_size, self.ensemble_iterations = bool(ensemble), ensemble_size, \
            ensemble_iterations
        self.advisor, self.advisor_model, self.advisor_timeout = advisor, advisor_model, advisor_timeout
        self._space = {}  # the advisor's search-space changes (plan.sample's space)
        self.result_ = None

    # ----- logging ---------------------------------------------------------------------------------

    def _log(self, msg):
        if self.verbose:
            print(f"[agent] {msg}", file=self.log_stream or sys.stderr, flush=True)

    # ----- fit -------------------------------------------------------------------------------------

    def fit(self, data, target=None, task="auto"):
        t_start = time.monotonic()
        stages = {}

        @contextlib.contextmanager
        def stage(name):
            t0 = time.perf_counter()
            try:
                yield
            finally:
                stages[name] = stages.get(name, 0.0) + time.perf_counter() - t0

        with stage("profile"):
            prof = profile(data, target, task)
        if prof.target is None:
            raise DataError("the agent needs something to predict: give target= (a column name, or the labels "
                            "of array data)")
        self._log(f"profile: {prof.kind}, {prof.task}, {prof.n_samples} samples, {prof.n_features} features")
        for w in prof.warnings:
            self._log(f"warning: {w}")
        families = plan.candidates(prof, self.families)
        most = self.max_epochs or plan.max_epochs(prof)
        self._epochs = (most, min(self.min_epochs, most))
        self._repeats = self.val_repeats or plan.val_repeats(prof)
        if self._repeats > 1:
            self._log(f"plan: each trial validated on {self._repeats} train/validation splits (small data)")

        from .. import store as tstore
        store = tstore.open(self.store_location)
        try:
            return self._fit(store, data, target, prof, families, stages, stage, t_start)
        finally:
            store.close()

    def _fit(self, store, data, target, prof, families, stages, stage, t_start):
        name = _model_name(data, prof)
        params = {"agent.budget_s": self.budget_s, "agent.n_trials": self.n_trials, "agent.seed": self.seed,
                  "agent.families": ",".join(families), "agent.max_epochs": self._epochs[0],
                  "agent.val_repeats": self._repeats,
                  "agent.data": os.fspath(data) if isinstance(data, (str, os.PathLike)) else "arrays"}
        run_id = store.start_run(self.experiment, name=f"agent {name}", params=params,
                                 tags={"source": "tessel agent"})
        status = "FAILED"
        try:
            prof.log(store, run_id)
            result = self._search_and_finish(store, run_id, data, target, prof, families, stages, stage, t_start,
                                             name)
            status = "FINISHED"
            return result
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            try:
                store.end_run(run_id, status)
            except Exception:  # noqa: BLE001  (the error that ended the fit is the one to report)
                pass

    def _search_and_finish(self, store, run_id, data, target, prof, families, stages, stage, t_start, name):
        work = os.path.abspath(self.work_dir or os.path.join(store.artifact_root, "agent", run_id))
        os.makedirs(work, exist_ok=True)
        with stage("prepare"):
            prep = prepare(prof, data, target, work, self.test_size, self.seed)
        self._log(f"held out {prep.n_test} samples for the test; {prep.n_train} for training")
        self._refittable = self.refit and self.export and prep.all_path is not None  # the search reserves for it

        base = {"experiment": {"name": self.experiment, "tags": {"agent.run": run_id}},
                # several splits per trial: one recipe for all of them, so that their models take the same
                # inputs (their bag and the ensemble average them)
                "data": dict(prep.data, val_split=self.val_split, seed=self.seed,
                             **({"preprocess_from": "all"} if self._repeats > 1 else {})),
                "train": {"seed": self.seed, "verbose": False},
                "output": {"export_onnx": False}}

        self._space, advice = {}, None
        if self.advisor:
            with stage("advisor"):
                advice = self._ask_advisor(prof, [], families)
            if advice is not None:
                if advice.families:
                    # Families the user chose bound the advice; otherwise any family the data takes.
                    families = (tuple(f for f in advice.families if f in families) or families) if self.families \
                        else advice.families
                self._space = dict(advice.space)
                self._log(f"advisor: families {', '.join(families)}; {len(self._space)} search-space changes"
                          + (f"; {len(advice.warnings)} ignored" if advice.warnings else ""))
                store.log_params(run_id, {"agent.advisor": self.advisor,
                                          "agent.advised_families": ",".join(families)})

        study_name = self.study_name or f"{name}-{run_id[:8]}"
        with stage("search"):
            study, kind, where = open_study(study_name, self.storage, store.artifact_root, self.seed,
                                            self.lock_timeout, resume=True)
            store.log_params(run_id, {"agent.study": study_name, "agent.storage": where or "memory"})
            rows = self._search(store, study, kind, where, base, families, work, t_start)
        done = [r for r in rows if r["state"] == "COMPLETE"]
        stopped_n = sum(r["state"] == "STOPPED" for r in rows)
        self._log(f"search: {len(rows)} trials ({len(done)} complete, "
                  f"{sum(r['state'] == 'PRUNED' for r in rows)} pruned, {sum(r['state'] == 'FAIL' for r in rows)} "
                  f"failed" + (f", {stopped_n} stopped by the budget" if stopped_n else "") + ")")
        cut = [r for r in done if r.get("splits_cut")]
        if cut:
            self._log(f"{len(cut)} complete trial(s) ran fewer than their {self._repeats} splits before the budget "
                      f"ended: they rank after the trials that ran them all")
        stopped = [r for r in rows if r["state"] == "PRUNED" and r["value"] is not None and math.isfinite(r["value"])]
        if not done and stopped:
            # Every trial was stopped early (a tight budget stops the first one at 0.4 of it): the best of them
            # still learned something, so it is retrained rather than leaving the user with no model.
            self._log(f"no trial ran to the end: retraining the best stopped one (trial {stopped[0]['trial']}, "
                      f"{stopped[0]['epochs']} epochs)")
            done = stopped[:1]
        if not done:
            errors = [r for r in rows if r.get("error")]
            first = f"; first error (trial {errors[0]['trial']}): {errors[0]['error']}" if errors else ""
            raise AgentError(f"no trial finished, so there is no model to keep{first}")
        best = done[0]
        advice_out = None
        if self.advisor:
            with stage("advisor"):
                after = self._ask_advisor(prof, rows, families)
            if advice is not None or after is not None:
                advice_out = (advice or after).to_dict()
                advice_out["explanation"] = (after.explanation if after is not None and after.explanation
                                             else advice_out["explanation"])
                if advice is None:  # only the explanation came after the search: its changes were not used
                    advice_out["changes"], advice_out["families"] = {}, None

        ens, bagged = None, False
        need = getattr(self, "_ensemble_cost", None)  # measured during the search (time budgets only)
        left = None if self.budget_s is None else self.budget_s - (time.monotonic() - t_start)
        if self.ensemble and len(done) >= 2 and left is not None and (left <= 0 or (need is not None and
                                                                                    left < need)):
            self._log(f"no time left in the budget for an ensemble ({max(left, 0.0):.1f} s left"
                      + (f", it needs about {need:.1f} s" if need is not None else "") + "): keeping the best trial")
        elif self.ensemble and len(done) >= 2:
            t_ens = time.perf_counter()
            with stage("ensemble"):
                ens, members = select_ensemble(done, self.ensemble_size, self.ensemble_iterations, self._log)
            if ens is not None:
                ens["estimated_s"] = need
        # A final assembled from trials' models (a used ensemble, or the best trial's bag; tables, arrays and
        # text) is refit with the held-out rows once evaluated (tessel.agent.refit); it registers after that.
        refit = self._refittable
        register_now = False if refit else self.register
        assembled = None
        if ens is not None and ens["used"]:
            t_fin = time.perf_counter()
            with stage("final"):
                res, test_metrics, predictions = finish_ensemble(store, run_id, ens, members, prep, work, name,
                                                                 register_now, self.export, self.alias, self._log)
            assembled = (ens, members, time.perf_counter() - t_fin)
            ens["seconds"] = time.perf_counter() - t_ens
            if need is not None:
                self._log(f"ensemble stage: {ens['seconds']:.1f} s (reserved {need:.1f} s)")
        else:
            # ----- the final model. A best trial judged on several splits (val_repeats): its split models
            # averaged, a bag that saw all the training data between them; else the best trial's config
            # retrained on all the training data. Either is evaluated on the held-out split.
            bag, bag_members = bag_of(best, self._log) if self.export else (None, None)
            if bag is not None:
                t_fin = time.perf_counter()
                with stage("final"):
                    res, test_metrics, predictions = finish_ensemble(store, run_id, bag, bag_members, prep, work,
                                                                     name, register_now, self.export, self.alias,
                                                                     self._log)
                assembled = (bag, bag_members, time.perf_counter() - t_fin)
                bagged = True
            else:
                # The time left, less what the evaluation, export and report take after the retrain (about 10%).
                left = None if self.budget_s is None else 0.9 * (self.budget_s - (time.monotonic() - t_start))
                res, test_metrics, predictions = retrain_best(store, run_id, base, best, prep, work, name,
                                                              self.register, self.export, self.alias,
                                                              self._log, stage, seconds_left=left,
                                                              data_factor=1.0 / (1.0 - self.val_split))
        refit_info = None
        if refit and assembled is not None:
            res, refit_info = self._refit(store, run_id, assembled, prep, work, name, res,
                                          (test_metrics, predictions), stage, t_start)
        version = getattr(res, "model_version", None)
        if version:
            self._log(f"registered {'the ensemble as ' if ens is not None and ens['used'] else ''}{version['name']} "
                      f"version {version['version']} as {self.alias!r}")

        if version:
            # Where the model's data is, for `tessel agent watch` (drift against it, retraining on it).
            with open(os.path.join(version["folder"], "agent.json"), "w") as f:
                json.dump({"reference": prep.train_path, "heldout": prep.test_path, "target": target,
                           "task": prof.task, "kind": prep.data["kind"], "agent_run": run_id,
                           "ensemble": bool(ens and ens["used"]) or bagged}, f, indent=1)

        # ----- leaderboard, metrics and the report as artifacts of the agent's run
        lb_json = os.path.join(work, "leaderboard.json")
        with open(lb_json, "w") as f:
            json.dump(_jsonable(rows), f, indent=1)
        if ens is not None:
            ens_json = os.path.join(work, "ensemble.json")
            with open(ens_json, "w") as f:
                json.dump(_jsonable(ens), f, indent=1)
            store.log_artifact(run_id, ens_json)
            store.log_params(run_id, {"agent.ensemble": "used" if ens["used"] else "not used"})
        lb_csv = os.path.join(work, "leaderboard.csv")
        write_leaderboard_csv(lb_csv, rows)
        for p in (lb_json, lb_csv):
            store.log_artifact(run_id, p)
        points = [(f"test/{k[5:]}", 0, float(v)) for k, v in test_metrics.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))]
        points += [("agent/trials", 0, len(rows)), ("agent/complete", 0, len(done)),
                   ("agent/best_val_loss", 0, best["value"])]
        store.log_metrics(run_id, points)
        result = AgentResult(profile=prof, leaderboard=rows, best=best, config=res.config,
                             test_metrics=test_metrics, output_dir=res.output_dir, model_version=version,
                             report_path=None, run_id=run_id, study_name=study_name, storage=where or "memory",
                             stages=stages, work_dir=work, predictions=predictions, test_labels=prep.test_labels,
                             ensemble=ens, advice=advice_out, refit=refit_info)
        if self.report:
            with stage("report"):
                from .report import write_report
                result.report_path = write_report(result, os.path.join(work, "report.html"),
                                                  histories=self._histories(rows))
            store.log_artifact(run_id, result.report_path)
        store.log_metrics(run_id, [(f"stage_seconds/{k}", 0, v) for k, v in stages.items()])
        store.set_tags(run_id, {"agent.output_dir": res.output_dir, "agent.report": result.report_path or ""})
        self.result_ = result
        return result

    # ----- the refit ------------------------------------------------------------------------------

    def _refit(self, store, run_id, assembled, prep, work, name, res, evaluated, stage, t_start):
        """The evaluated final (res) refit with the held-out rows when the
        budget has time for it, registered either way. Returns (the final
        result, what the refit did)."""
        ens, members, export_s = assembled
        factor = (prep.n_train + prep.n_test) / prep.n_train
        need = refit_cost(ens, members, factor, self.val_split) + export_s  # the members' runs, one more export
        left = None if self.budget_s is None else self.budget_s - (time.monotonic() - t_start)
        info = {"rows": prep.n_train + prep.n_test, "estimated_s": need, "used": False}
        refitted = None
        if left is not None and left < need:
            self._log(f"refit: {max(left, 0.0):.1f} s left, it needs about {need:.1f} s: keeping the evaluated "
                      f"model")
        else:
            t0 = time.perf_counter()
            with stage("refit"):
                refitted = refit_members(store, run_id, ens, members, prep, work, factor, self._log,
                                         deadline=None if left is None else t_start + self.budget_s)
                if refitted is not None:
                    try:
                        res = finish_ensemble(store, run_id, *refitted, prep, work, name, self.register,
                                              self.export, self.alias, self._log, evaluated=evaluated)[0]
                        info["used"] = True
                    except Exception as e:  # noqa: BLE001  (the evaluated model is kept and registered)
                        self._log(f"warning: the refit model could not be assembled ({type(e).__name__}: {e}); "
                                  f"keeping the evaluated model")
            info["seconds"] = time.perf_counter() - t0
        if not info["used"] and self.register:
            register_final(store, run_id, res, name, self.register, self.alias)
        return res, info

    # ----- the advisor ---------------------------------------------------------------------------

    def _ask_advisor(self, prof, rows, families):
        import warnings

        from . import advisor as adv
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            advice = adv.ask(self.advisor, prof, rows, self.advisor_model, self.advisor_timeout, families)
        for w in caught:
            self._log(f"warning: {w.message}")
        return advice

    # ----- the search -----------------------------------------------------------------------------

    def _search(self, store, study, kind, where, base, families, work, t_start):
        # measure_ensemble_cost is looked up here, at call time (tests replace it on this module).
        rows, self._ensemble_cost = run_search(self, store, study, kind, where, base, families, work, t_start,
                                               measure_cost=measure_ensemble_cost)
        return rows

    def _histories(self, rows):
        return {r["trial"]: r.get("history") or [] for r in rows}
