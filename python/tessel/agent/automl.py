"""AutoML: profile -> held-out split -> search (Optuna) -> retrain the best on
all training data -> evaluate on the held-out split -> export ONNX, register
as `champion` -> HTML report. Every trial and the final model are runs of
`tessel.train` (the same config schema and output folder); the agent's own
run in the tracking store holds the profile, leaderboard and report.

    automl = ts.agent.AutoML(budget="10m", seed=0)
    result = automl.fit("train.csv", target="price")
    print(result.leaderboard_table())
    result.predict([{"area": 80, "rooms": 3}])
"""
import contextlib
import csv
import dataclasses
import json
import math
import os
import re
import sys
import time

from . import plan
from . import trial as trial_mod
from .errors import AgentError, BudgetError, DataError
from .prepare import prepare
from .profile import Profile, profile
from .search import Schedule, open_study, parse_budget, with_lock_retry
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

    def to_dict(self):
        d = {k: getattr(self, k) for k in ("leaderboard", "best", "test_metrics", "output_dir", "report_path",
                                           "run_id", "study_name", "storage", "stages", "work_dir",
                                           "ensemble", "advice")}
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


def leaderboard_text(rows):
    cols = ("rank", "trial", "family", "state", "val_loss", "metric", "epochs", "seconds")
    cells = [cols]
    for r in rows:
        m = r.get("val_metric")
        cells.append((str(r.get("rank") or "-"), str(r["trial"]), r["family"], r["state"], _fmt(r.get("value")),
                      "-" if m is None else f"{r.get('val_metric_name')}={_fmt(m)}", str(r.get("epochs", "")),
                      _fmt(r.get("seconds"))))
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


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
    min_epochs when few trials would fit). store: tracking store (folder or
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
    advisor: URL of an OpenAI-compatible endpoint (".../v1") asked for
    search-space changes and an explanation (off by default; see
    tessel.agent.advisor); advisor_model: the model name sent to it.
    """

    def __init__(self, budget=None, n_trials=None, seed=0, families=None, max_epochs=10, min_epochs=1,
                 store=None, experiment="agent", study_name=None, storage="sqlite", work_dir=None, test_size=0.2,
                 val_split=0.2, register=True, alias="champion", export=True, report=True, lock_timeout=10.0,
                 workers=1, verbose=True, log=None, ensemble=True, ensemble_size=5, ensemble_iterations=25,
                 advisor=None, advisor_model=None, advisor_timeout=30.0):
        if budget is None and n_trials is None:
            budget = "10m"
        self.budget_s = parse_budget(budget)
        if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1):
            raise BudgetError(f"n_trials must be a positive integer, got {n_trials!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if not isinstance(max_epochs, int) or max_epochs < 1:
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
        self.n_trials, self.seed, self.families = n_trials, seed, families
        self.max_epochs, self.min_epochs = max_epochs, max(1, min(int(min_epochs), max_epochs))
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

        from .. import store as tstore
        store = tstore.open(self.store_location)
        try:
            return self._fit(store, data, target, prof, families, stages, stage, t_start)
        finally:
            store.close()

    def _fit(self, store, data, target, prof, families, stages, stage, t_start):
        name = _model_name(data, prof)
        params = {"agent.budget_s": self.budget_s, "agent.n_trials": self.n_trials, "agent.seed": self.seed,
                  "agent.families": ",".join(families), "agent.max_epochs": self.max_epochs,
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

        base = {"experiment": {"name": self.experiment, "tags": {"agent.run": run_id}},
                "data": dict(prep.data, val_split=self.val_split, seed=self.seed),
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
        self._log(f"search: {len(rows)} trials ({len(done)} complete, "
                  f"{sum(r['state'] == 'PRUNED' for r in rows)} pruned, {sum(r['state'] == 'FAIL' for r in rows)} "
                  f"failed)")
        stopped = [r for r in rows if r["state"] == "PRUNED" and r["value"] is not None and math.isfinite(r["value"])]
        if not done and stopped:
            # Every trial was stopped early (a tight budget stops the first one at half of it): the best of them
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

        ens = None
        need = getattr(self, "_ensemble_cost", None)  # measured during the search (time budgets only)
        left = None if self.budget_s is None else self.budget_s - (time.monotonic() - t_start)
        if self.ensemble and len(done) >= 2 and left is not None and (left <= 0 or (need is not None and
                                                                                    left < need)):
            self._log(f"no time left in the budget for an ensemble ({max(left, 0.0):.1f} s left"
                      + (f", it needs about {need:.1f} s" if need is not None else "") + "): keeping the best trial")
        elif self.ensemble and len(done) >= 2:
            t_ens = time.perf_counter()
            with stage("ensemble"):
                ens = self._select_ensemble(done)
            if ens is not None:
                ens["estimated_s"] = need
        if ens is not None and ens["used"]:
            with stage("final"):
                res, test_metrics, predictions = self._finish_ensemble(store, run_id, ens, prep, work, name)
            ens["seconds"] = time.perf_counter() - t_ens
            if need is not None:
                self._log(f"ensemble stage: {ens['seconds']:.1f} s (reserved {need:.1f} s)")
            version = res.model_version
            if version:
                self._log(f"registered the ensemble as {version['name']} version {version['version']} "
                          f"({self.alias!r})")
        else:
            # ----- the final model: all the training data, evaluated on the held-out split
            with stage("final"):
                cfg = plan.to_config(base, best["params"], max(1, best["epochs"]))
                cfg["data"]["val_path"] = prep.test_path
                cfg["experiment"]["run_name"] = f"agent {name} final"
                cfg["experiment"]["tags"] = {"agent.run": run_id, "agent.role": "final",
                                             "agent.trial": str(best["trial"])}
                cfg["output"] = {"dir": os.path.join(work, "final"), "export_onnx": bool(self.export)}
                if self.register and self.export:
                    cfg["output"]["register"] = name if self.register is True else self.register
                    cfg["output"]["alias"] = self.alias
                res = trial_mod.run_train(cfg, store)
            test_metrics = {("test_" + k[4:] if k.startswith("val_") else k): v for k, v in res.metrics.items()
                            if k.startswith("val_")}
            self._log("final: " + ", ".join(f"{k}={_fmt(v)}" for k, v in test_metrics.items()
                                            if isinstance(v, float)))
            predictions = None
            if self.export:
                with stage("evaluate"):
                    predictions = self._predict_test(res.output_dir, prep)
            version = getattr(res, "model_version", None)
            if version:
                self._log(f"registered {version['name']} version {version['version']} as {self.alias!r}")

        if version:
            # Where the model's data is, for `tessel agent watch` (drift against it, retraining on it).
            with open(os.path.join(version["folder"], "agent.json"), "w") as f:
                json.dump({"reference": prep.train_path, "heldout": prep.test_path, "target": target,
                           "task": prof.task, "kind": prep.data["kind"], "agent_run": run_id,
                           "ensemble": bool(ens and ens["used"])}, f, indent=1)

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
        _write_leaderboard_csv(lb_csv, rows)
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
                             ensemble=ens, advice=advice_out)
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

    # ----- ensemble selection ---------------------------------------------------------------------

    def _select_ensemble(self, done):
        """Greedy ensemble selection over the best `ensemble_size` complete
        trials' predictions on their shared validation split. Members must
        share the preprocessing (one input for the one ONNX graph)."""
        import numpy as np

        from . import ensemble as E
        members, cache = [], {}
        for r in done[:self.ensemble_size]:
            if not r.get("output_dir"):
                continue
            try:
                mp = E.member_predictions(r["output_dir"], cache)
            except Exception as e:  # noqa: BLE001  (a member that cannot be reloaded is left out)
                self._log(f"warning: trial {r['trial']} left out of the ensemble: {e}")
                continue
            if members:
                m0 = members[0][1]
                if mp.preprocess != m0.preprocess or mp.pred.shape != m0.pred.shape or not np.array_equal(mp.y, m0.y):
                    self._log(f"trial {r['trial']} left out of the ensemble: its inputs differ from trial "
                              f"{members[0][0]['trial']}'s")
                    continue
            members.append((r, mp))
        if len(members) < 2:
            return None
        task = members[0][1].task
        preds = np.stack([m.pred for _, m in members])
        y = members[0][1].y
        singles = [E.loss_of(p, y, task) for p in preds]
        weights, loss = E.select(preds, y, task, self.ensemble_iterations)
        best_single = min(singles)
        # Strictly better on validation, and a real mix: one member at weight 1 is the single model.
        used = bool(loss < best_single - 1e-9 * max(1.0, abs(best_single)) and int((weights > 0).sum()) >= 2)
        avg = np.tensordot(weights, preds, axes=1)
        ens = {"members": [{"trial": r["trial"], "family": r["family"], "weight": float(w), "val_loss": float(sl),
                            "output_dir": m.folder} for (r, m), w, sl in zip(members, weights, singles)],
               "val_loss": float(loss), "best_single_loss": float(best_single), "used": used,
               "loss": "log_loss" if task == "classification" else "mse (scaled target)",
               "iterations": self.ensemble_iterations, "task": task}
        if task == "classification":
            ens["val_accuracy"] = float(np.mean(avg.argmax(axis=1) == y))
        self._ens_members = members
        self._log(f"ensemble of {int((weights > 0).sum())} trials: val_loss {loss:.4g} vs best single "
                  f"{best_single:.4g} ({'used' if used else 'not used'})")
        return ens

    def _finish_ensemble(self, store, run_id, ens, prep, work, name):
        """Exports every member with a weight to ONNX, combines them into one
        graph (checked against the weighted sum of the members), evaluates it
        on the held-out split and registers it."""
        import shutil
        import types

        import numpy as np

        import tessel as ts

        from ..train import Predictor, runner
        from ..train.predictor import read_config
        from . import ensemble as E
        task = ens["task"]
        out = os.path.join(work, "ensemble")
        os.makedirs(out, exist_ok=True)
        paths, weights = [], []
        for m, (r, mp) in zip(ens["members"], self._ens_members):
            if m["weight"] <= 0:
                continue
            p = os.path.join(out, f"member-{r['trial']:04d}.onnx")
            runner.export_onnx(mp.module, mp.example, p)
            paths.append(p)
            weights.append(m["weight"])
        first = self._ens_members[0][1].folder
        E.export_onnx(paths, weights, task, os.path.join(out, "model.onnx"))
        shutil.copyfile(os.path.join(first, "signature.json"), os.path.join(out, "signature.json"))
        cfg = read_config(first)
        cfg["ensemble"] = {"members": [{"trial": m["trial"], "weight": m["weight"]} for m in ens["members"]
                                       if m["weight"] > 0]}
        cfg["data"]["val_path"] = prep.test_path  # what the ensemble was evaluated on (tessel evaluate's default)
        import yaml
        with open(os.path.join(out, "config.yaml"), "w") as f:
            yaml.safe_dump(_jsonable(cfg), f, sort_keys=False)
        with open(os.path.join(out, "ensemble.json"), "w") as f:
            json.dump(_jsonable(ens), f, indent=1)
        pred = Predictor.load(out)
        x = pred.preprocess(prep.test_inputs)
        got = pred.run(x)
        member_outs = []
        for p in paths:
            o = ts.onnx.load(p).run({pred.input_name: x})
            member_outs.append((o[pred.output_name] if pred.output_name in o else list(o.values())[0]).numpy())
        ref = E.ensemble_onnx_outputs(member_outs, weights, task)
        if not np.allclose(got.reshape(ref.shape), ref, rtol=1e-4, atol=1e-4):
            raise AgentError("the ensemble's ONNX graph does not compute the weighted sum of its members "
                             f"(largest difference {float(np.max(np.abs(got.reshape(ref.shape) - ref))):.3g})")
        predictions = pred.decode(got)
        test_metrics = held_out_metrics(predictions, prep.test_labels, task)
        self._log("final (ensemble): " + ", ".join(f"{k}={_fmt(v)}" for k, v in test_metrics.items()))
        version = None
        if self.register and self.export:
            reg = name if self.register is True else self.register
            version = store.register_model(reg, onnx=os.path.join(out, "model.onnx"), config=cfg,
                                           signature=pred.signature, run_id=run_id, metrics=test_metrics,
                                           alias=self.alias, description="tessel agent: weighted ensemble")
            for fname in ("config.yaml", "ensemble.json"):
                shutil.copyfile(os.path.join(out, fname), os.path.join(version["folder"], fname))
        res = types.SimpleNamespace(config=cfg, output_dir=out, model_version=version, metrics=test_metrics)
        return res, test_metrics, predictions

    # ----- the search loop -------------------------------------------------------------------------

    def _search(self, store, study, kind, where, base, families, work, t_start):
        from optuna.trial import TrialState

        retry = _retry_for(kind, where, self.lock_timeout)
        self._ensemble_cost = None
        t_search = time.monotonic()
        remaining = None if self.budget_s is None else self.budget_s - (t_search - t_start)
        if remaining is not None and remaining < 1.0:
            raise BudgetError(f"budget of {self.budget_s:g} s was spent before the search started "
                              f"(profiling and the split took {self.budget_s - remaining:.1f} s)")
        if not study.trials:
            for fam in families:  # each family's defaults first: a sound baseline before TPE explores
                retry(lambda fam=fam: study.enqueue_trial(_optuna_params(plan.defaults(fam, space=self._space),
                                                                         families)))
        first = sum(t.state != TrialState.WAITING for t in study.trials)  # trials of earlier runs (resumed)
        spec = {"base": base, "families": list(families), "work": work, "budget_s": remaining,
                "n_trials": self.n_trials, "first": first, "max_epochs": self.max_epochs,
                "min_epochs": self.min_epochs, "lock_timeout": self.lock_timeout, "verbose": self.verbose,
                "start": t_search,
                "budget_label": self.budget_s, "workers": self.workers, "space": self._space,
                "ensemble_members": self.ensemble_size if self.ensemble and self.ensemble_size >= 2 else 0}
        procs = []
        from ..train import runner  # noqa: F401  (the training runtime, imported once before the clock matters)
        import tessel as ts
        threads0 = ts.get_num_threads()
        if self.workers > 1:
            # Each process its share of the cores: two processes with every core each would oversubscribe them.
            spec["threads"] = max(1, threads0 // self.workers)
            ts.set_num_threads(spec["threads"])
            import multiprocessing
            ctx = multiprocessing.get_context("spawn")  # no fork of a process with OpenMP threads
            ready = ctx.Semaphore(0)
            for w in range(1, self.workers):
                wspec = dict(spec, worker=w, seed=self.seed + w, study=study.study_name, storage=self.storage,
                             store_url=store.url, artifact_root=store.artifact_root)
                p = ctx.Process(target=_worker_main, args=(wspec, ready), name=f"tessel-agent-worker-{w}",
                                daemon=True)
                p.start()
                procs.append(p)
            # Start together: a worker needs seconds to import tessel; the budget waits for none of them long.
            wait_until = time.monotonic() + (60.0 if remaining is None else min(60.0, 0.25 * remaining))
            for p in procs:
                if not ready.acquire(timeout=max(0.0, wait_until - time.monotonic())):
                    break
            self._log(f"{self.workers} workers share the study ({where})")
        try:
            main_spec = dict(spec, worker=0)
            ran = search_loop(study, retry, store, main_spec, self._log)
            self._ensemble_cost = main_spec.get("ensemble_cost")
        finally:
            ts.set_num_threads(threads0)
            for p in procs:
                p.join(None if self.budget_s is None else max(5.0, (remaining or 0) + 30.0))
                if p.is_alive():
                    p.terminate()
                    p.join(5)
                if p.exitcode:
                    self._log(f"warning: worker {p.name} ended with exit code {p.exitcode}")
        if ran == 0 and not study.trials:
            raise BudgetError(f"budget of {self.budget_s:g} s is too small for one trial")
        return leaderboard_rows(study)

    def _histories(self, rows):
        return {r["trial"]: r.get("history") or [] for r in rows}

    def _predict_test(self, output_dir, prep):
        from ..train import Predictor
        try:
            return Predictor.load(output_dir).predict(prep.test_inputs)
        except Exception as e:  # noqa: BLE001  (the report goes without plots of predictions)
            self._log(f"warning: predictions on the held-out split failed: {e}")
            return None


def held_out_metrics(predictions, labels, task):
    """test_accuracy/test_loss (log loss), or test_rmse/test_mae/test_r2, of
    Predictor-style predictions against the held-out labels."""
    if task == "classification":
        labels = [str(y) for y in labels]
        acc = sum(p["label"] == y for p, y in zip(predictions, labels)) / len(labels)
        ll = -sum(math.log(max(p["probabilities"].get(y, 0.0), 1e-12)) for p, y in zip(predictions, labels))
        return {"test_accuracy": float(acc), "test_loss": float(ll / len(labels))}
    ys = [float(y) for y in labels]
    ps = [float(p["value"]) for p in predictions]
    err = [a - b for a, b in zip(ps, ys)]
    mean = sum(ys) / len(ys)
    sst = sum((y - mean) ** 2 for y in ys)
    sse = sum(e * e for e in err)
    return {"test_rmse": math.sqrt(sse / len(ys)), "test_mae": sum(abs(e) for e in err) / len(ys),
            "test_r2": 1.0 - sse / sst if sst > 0 else 0.0}


def _retry_for(kind, where, lock_timeout):
    if kind == "sqlite":
        return lambda fn: with_lock_retry(fn, where, lock_timeout)
    return lambda fn: fn()


def search_loop(study, retry, store, spec, log, clock=time.monotonic):
    """Asks, runs and tells trials until the schedule says stop; returns how
    many this process ran. Shared by the main process and worker processes:
    with several workers the trial budget counts every trial of the study
    since `spec['first']` (so the study may overshoot by a trial per worker)."""
    from optuna.trial import TrialState

    families, base, work = spec["families"], spec["base"], spec["work"]
    shared = spec["workers"] > 1
    # The budget counts from when `budget_s` was measured (spec['start'], time.monotonic, which every process
    # shares), not from here: waiting for the workers to start is spent budget too.
    start = spec.get("start") if clock is time.monotonic else None
    sched = Schedule(spec["budget_s"], None if shared else spec["n_trials"], spec["max_epochs"], spec["min_epochs"],
                     start=start, clock=clock)
    best_value = min((t.value for t in study.trials if t.state == TrialState.COMPLETE), default=None)
    tag = f"[w{spec['worker']}] " if spec.get("worker") else ""
    ran = 0
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
        out = trial_mod.run_trial(cfg, store, tr, sched.trial_deadline())
        ran += 1
        if out.over_budget and out.epochs == 0 and sched.trials_run == 0 and not any(
                t.state == TrialState.COMPLETE for t in study.trials):
            retry(lambda: study.tell(tr, state=TrialState.FAIL))
            raise BudgetError(f"budget of {spec['budget_label']:g} s is too small for one trial: trial {tr.number} "
                              f"({params['family']}) did not finish one epoch in {out.seconds:.1f} s; give a "
                              f"larger --budget (or fewer --max-epochs, smaller data)")
        attrs = {"family": params["family"], "params": params, "epochs": out.epochs, "seconds": out.seconds,
                 "history": out.history, "output_dir": out.output_dir, "run_id": out.run_id,
                 "error": out.error, "metrics": _metric_subset(out.metrics), "worker": spec.get("worker", 0)}
        for k, v in attrs.items():
            retry(lambda k=k, v=v: tr.set_user_attr(k, _jsonable(v)))
        if out.state == "COMPLETE":
            retry(lambda: study.tell(tr, out.value))
        elif out.state == "PRUNED":
            retry(lambda: study.tell(tr, state=TrialState.PRUNED))
        else:
            retry(lambda: study.tell(tr, state=TrialState.FAIL))
        if out.state == "COMPLETE" and out.output_dir and spec.get("ensemble_members", 0) >= 2 and \
                spec["budget_s"] is not None and "ensemble_cost" not in spec and not spec.get("worker"):
            try:
                spec["ensemble_cost"] = measure_ensemble_cost(out.output_dir, spec["ensemble_members"])
                sched.set_ensemble_cost(spec["ensemble_cost"])
                log(f"ensemble stage measured on trial {tr.number}: about {spec['ensemble_cost']:.1f} s, "
                    f"kept in reserve")
            except Exception as e:  # noqa: BLE001  (no estimate: the stage then runs if any time is left)
                spec["ensemble_cost"] = None
                log(f"warning: the ensemble stage's cost could not be measured: {e}")
        is_best = out.state == "COMPLETE" and (best_value is None or out.value < best_value)
        if is_best:
            best_value = out.value
        sched.record(params["family"], out.seconds, out.epochs, best=is_best, epoch_seconds=out.epoch_seconds)
        msg = f"{tag}trial {tr.number} {params['family']}: {out.state.lower()}"
        if out.value is not None:
            msg += f", val_loss {out.value:.4g}"
        msg += f", {out.epochs} epochs in {out.seconds:.1f} s"
        if out.error:
            msg += f" ({out.error})"
        log(msg)
    return ran


def measure_ensemble_cost(output_dir, members):
    """Seconds the ensemble stage will take with `members` members, from one
    finished trial: its validation predictions with the data decoded (the
    first member) and from the shared cache (the others), the ONNX export of
    its graph and one more prediction per member (what a used ensemble's
    export and check do), plus half a second for the combined graph."""
    import tempfile

    from ..train import runner
    from . import ensemble as E
    cache = {}
    t0 = time.perf_counter()
    mp = E.member_predictions(output_dir, cache)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    E.member_predictions(output_dir, cache)
    warm = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        runner.export_onnx(mp.module, mp.example, os.path.join(d, "member.onnx"))
        export = time.perf_counter() - t0
    return cold + (members - 1) * warm + members * (export + warm) + 0.5


def _worker_main(spec, ready=None):
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
        search_loop(study, _retry_for(kind, where, spec["lock_timeout"]), store, spec, log)
    finally:
        store.close()


def _optuna_params(point, families):
    # The params Optuna records: 'family' only when there is a choice (as plan.sample asks).
    return {k: v for k, v in point.items() if k != "family" or len(families) > 1}


_KEEP = ("val_accuracy", "val_loss", "val_mae", "val_rmse", "val_r2", "val_f1_macro", "train_accuracy",
         "num_parameters", "train_time_s")


def _metric_subset(m):
    return {k: m[k] for k in _KEEP if k in m and isinstance(m[k], (int, float))}




def leaderboard_rows(study):
    """One dict per trial of the study: complete trials by validation loss,
    then pruned ones (by their last value), then failed ones."""
    from optuna.trial import TrialState
    rows = []
    for t in study.trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue
        a = t.user_attrs
        hist = a.get("history") or []
        value = t.value if t.state == TrialState.COMPLETE else (hist[-1] if hist and hist[-1] is not None else None)
        m = a.get("metrics") or {}
        metric_name = "val_accuracy" if "val_accuracy" in m else ("val_rmse" if "val_rmse" in m else None)
        rows.append({"trial": t.number, "state": t.state.name, "family": a.get("family", t.params.get("family")),
                     "value": value, "val_metric_name": metric_name,
                     "val_metric": m.get(metric_name) if metric_name else None, "epochs": a.get("epochs", 0),
                     "seconds": a.get("seconds"), "params": a.get("params") or dict(t.params),
                     "metrics": m, "history": hist, "error": a.get("error"), "output_dir": a.get("output_dir"),
                     "run_id": a.get("run_id"), "worker": a.get("worker", 0)})
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}

    def key(r):
        v = r["value"]
        return (order[r["state"]], v if v is not None and math.isfinite(v) else math.inf, r["trial"])

    rows.sort(key=key)
    rank = 0
    for r in rows:
        if r["state"] == "COMPLETE":
            rank += 1
            r["rank"] = rank
        else:
            r["rank"] = None
    return rows


def _write_leaderboard_csv(path, rows):
    keys = sorted({k for r in rows for k in r["params"]})
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["rank", "trial", "state", "family", "val_loss", "val_metric_name", "val_metric", "epochs",
                    "seconds", "error"] + keys)
        for r in rows:
            w.writerow([r["rank"] or "", r["trial"], r["state"], r["family"], _csv(r["value"]),
                        r["val_metric_name"] or "", _csv(r["val_metric"]), r["epochs"], _csv(r["seconds"]),
                        r["error"] or ""] + [_csv(r["params"].get(k)) for k in keys])


def _csv(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)
