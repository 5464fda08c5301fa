"""What every engine writes to the tracking store for a pipeline run (the
one code path: the local engine, Prefect flows and Airflow DAGs all record
through `RunRecorder`), so the web UI's pipelines page shows their runs
alike. A run of experiment `pipeline:NAME` per pipeline run (tags
kind=pipeline, engine, state and the engine's own ids; artifacts
pipeline.yaml and state.json, the DAG with each step's state) and a run per
step (tags kind=pipeline_step, pipeline_run, step, task, needs, state,
attempts, error; metrics duration_s, attempts; artifacts log.txt and
output.json). No new table: the store's schema is unchanged."""
import contextlib
import json
import os
import time

__all__ = ["RunRecorder", "new_steps", "start", "record_step", "finish"]


def new_steps(p):
    """The per-step bookkeeping every engine keeps (and state.json holds)."""
    return {n: {"task": s["task"], "needs": list(s["needs"]), "state": "PENDING", "attempts": 0,
                "duration_s": None, "output": None, "error": None, "run_id": None, "transitions": []}
            for n, s in p.steps.items()}


class RunRecorder:
    """Records one pipeline run. `store`: a Store, a folder or URL (default
    the pipeline's `store:`, then $TESSEL_STORE); `engine`: local, prefect,
    airflow; `tags`: more tags of the pipeline's run (e.g. the engine's run
    id). `run_id` reopens a run another process started (Airflow's tasks)."""

    def __init__(self, p, store=None, engine="local", tags=None, run_id=None):
        from .. import store as tstore
        self.p = p
        self.own = not isinstance(store, tstore.Store)
        self.st = tstore.open(store or p.store) if self.own else store
        self.experiment = f"pipeline:{p.name}"
        self.steps = new_steps(p)
        if run_id is not None:
            self.run_id = self.st.resolve_run(run_id)
            self.work = os.path.join(self.st.artifact_root, ".pipeline", self.run_id)
            self._load_state()
            return
        params = {f"params.{k}": json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in p.params.items()}
        self.run_id = self.st.start_run(self.experiment, name=p.name, params=params, tags={
            "kind": "pipeline", "pipeline": p.name, "engine": engine, "state": "RUNNING",
            "source": os.path.abspath(p.source) if p.source else "", **(tags or {})})
        self.work = os.path.join(self.st.artifact_root, ".pipeline", self.run_id)
        os.makedirs(self.work, exist_ok=True)
        import yaml
        spec_path = os.path.join(self.work, "pipeline.yaml")
        with open(spec_path, "w") as f:
            yaml.safe_dump(self.p.to_dict(), f, sort_keys=False)
        self.st.log_artifact(self.run_id, spec_path, "pipeline.yaml")
        self.save_state()

    def _load_state(self, keep=None):
        try:
            with open(os.path.join(self.work, "state.json")) as f:
                saved = json.load(f).get("steps", {})
        except (OSError, ValueError):
            saved = {}
        for n, info in saved.items():
            if n in self.steps and n != keep:
                self.steps[n].update(info)

    @contextlib.contextmanager
    def synced(self, keep=None):
        """For engines whose steps are separate processes (Airflow): state.json
        is re-read (but for step `keep`, this process's) and written under a
        file lock, so steps running side by side do not lose each other's state."""
        import fcntl
        with open(os.path.join(self.work, "state.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._load_state(keep)
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def save_state(self):
        path = os.path.join(self.work, "state.json")
        tmp = path + f".{os.getpid()}.tmp"  # atomic: Airflow's tasks may write it side by side
        with open(tmp, "w") as f:
            json.dump({"name": self.p.name, "order": self.p.order, "steps": self.steps}, f, indent=1, default=str)
        os.replace(tmp, path)
        self.st.log_artifact(self.run_id, path, "state.json")

    def transition(self, name, state):
        """A step's state changes (engines that keep their own history replace `transitions`)."""
        self.steps[name]["transitions"].append([state, time.time()])

    def skip(self, name):
        """The step is not run: a step it needs did not finish."""
        info, s = self.steps[name], self.p.steps[name]
        bad = [d for d in s["needs"] if self.steps[d]["state"] != "FINISHED"]
        info.update(state="SKIPPED", error="upstream failed: " + ", ".join(bad))
        self.transition(name, "SKIPPED")
        info["run_id"] = self.st.start_run(self.experiment, name=name, tags={
            "kind": "pipeline_step", "pipeline_run": self.run_id, "step": name, "task": s["task"],
            "needs": ",".join(s["needs"]), "state": "SKIPPED", "attempts": "0", "error": info["error"][:500]})
        self.st.end_run(info["run_id"], "KILLED")
        self.save_state()

    def must_skip(self, name):
        return any(self.steps[d]["state"] != "FINISHED" for d in self.p.steps[name]["needs"])

    def start_step(self, name, tags=None):
        s, info = self.p.steps[name], self.steps[name]
        info["run_id"] = self.st.start_run(self.experiment, name=name, tags={
            "kind": "pipeline_step", "pipeline_run": self.run_id, "step": name, "task": s["task"],
            "needs": ",".join(s["needs"]), "state": "RUNNING", **(tags or {})})
        info["state"] = "RUNNING"
        self.transition(name, "RUNNING")
        self.save_state()
        return info["run_id"]

    def finish_step(self, name, log_text, tags=None):
        """After the engine set the step's state, attempts, duration_s, output and error."""
        info = self.steps[name]
        sid = info["run_id"]
        if not info["transitions"] or info["transitions"][-1][0] != info["state"]:
            self.transition(name, info["state"])
        folder = os.path.join(self.work, name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "log.txt"), "w") as f:
            f.write(log_text)
        self.st.log_artifact(sid, os.path.join(folder, "log.txt"), "log.txt")
        if info["output"] is not None:
            with open(os.path.join(folder, "output.json"), "w") as f:
                json.dump(info["output"], f, indent=1)
            self.st.log_artifact(sid, os.path.join(folder, "output.json"), "output.json")
        if info["duration_s"] is not None:
            self.st.log_metrics(sid, {"duration_s": info["duration_s"], "attempts": float(info["attempts"])})
        t = {"state": info["state"], "attempts": str(info["attempts"]), **(tags or {})}
        if info["error"]:
            t["error"] = info["error"][:500]
        self.st.set_tags(sid, t)
        self.st.end_run(sid, "FINISHED" if info["state"] == "FINISHED" else "FAILED")
        self.save_state()

    def finish(self, state=None):
        """Ends the pipeline's run: FINISHED when every step finished, else FAILED."""
        state = state or ("FINISHED" if all(i["state"] == "FINISHED" for i in self.steps.values()) else "FAILED")
        self.st.set_tags(self.run_id, {"state": state})
        self.save_state()
        self.st.end_run(self.run_id, state)
        return state

    def abort(self, exc):
        """The engine itself failed (or was interrupted) mid-run."""
        self.st.set_tags(self.run_id, {"state": "FAILED"})
        self.st.end_run(self.run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")

    def close(self):
        if self.own:
            self.st.close()


# ----- engines whose steps run as separate processes (Airflow): one call per process, through
# `tessel pipeline start|step --run|finish` (cli/pipeline.py) --------------------------------------

def start(pipeline, store=None, engine="airflow", tags=None, overrides=()):
    """Opens the pipeline's run; returns {run_id, store} for the step processes."""
    from ..store._location import DEFAULT_LOCATION
    from .pipeline import load
    p = load(pipeline, overrides)
    location = os.fspath(store or p.store or os.environ.get("TESSEL_STORE") or DEFAULT_LOCATION)
    if "://" not in location:
        location = os.path.abspath(location)  # the step processes may start elsewhere
    rec = RunRecorder(p, location, engine=engine, tags=tags)
    rec.close()
    return {"run_id": rec.run_id, "store": location}


def record_step(pipeline, name, run, upstream=None, attempt=1, tags=None, overrides=(), echo=None):
    """Runs one try of step `name` in this process, recorded in the pipeline
    run `run` ({run_id, store}, from `start`): the first try opens the step's
    run, a failed try that will be retried leaves it RUNNING, the last one
    ends it. Returns the step's output; raises RuntimeError when the try failed."""
    import io

    from .pipeline import _attempt, load
    p = load(pipeline, overrides)
    s = p.steps[name]
    rec = RunRecorder(p, run["store"], run_id=run["run_id"])
    try:
        info = rec.steps[name]
        with rec.synced(keep=None):
            if info["run_id"] is None or attempt == 1:
                info.update(attempts=0, duration_s=0.0, error=None, transitions=[])
                rec.start_step(name, tags)
            else:
                rec.transition(name, "RETRYING")
                rec.save_state()
        folder = os.path.join(rec.work, name)
        try:
            with open(os.path.join(folder, "log.txt")) as f:
                earlier = f.read() if attempt > 1 else ""
        except OSError:
            earlier = ""
        log = io.StringIO(earlier)
        log.seek(0, io.SEEK_END)
        t0 = time.perf_counter()
        ok = _attempt(p, name, dict(upstream or {}), info, log, attempt, echo)
        info["attempts"] = attempt
        info["duration_s"] = (info["duration_s"] or 0.0) + time.perf_counter() - t0  # the tries' own time
        with rec.synced(keep=name):
            if ok or attempt > s["retries"]:
                rec.finish_step(name, log.getvalue(), tags)
            else:
                rec.transition(name, "FAILED")
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, "log.txt"), "w") as f:
                    f.write(log.getvalue())
                rec.st.log_artifact(info["run_id"], os.path.join(folder, "log.txt"), "log.txt")
                rec.st.set_tags(info["run_id"], {"attempts": str(attempt), "error": info["error"][:500]})
                rec.save_state()
        if not ok:
            raise RuntimeError(f"step {name} failed (try {attempt} of {s['retries'] + 1}): {info['error']}\n"
                               + "\n".join(log.getvalue().strip().splitlines()[-20:]))
        return info["output"]
    finally:
        rec.close()


def finish(pipeline, run, overrides=()):
    """Ends the pipeline's run once every step is done: a step that never ran
    (its upstream failed) is recorded SKIPPED, one left RUNNING (its process
    died) FAILED. Returns FINISHED or FAILED."""
    from .pipeline import load
    p = load(pipeline, overrides)
    rec = RunRecorder(p, run["store"], run_id=run["run_id"])
    try:
        with rec.synced():
            for name in p.order:
                info = rec.steps[name]
                if info["state"] == "PENDING":
                    rec.skip(name)
                elif info["state"] == "RUNNING" and info["run_id"]:
                    info.update(state="FAILED", error=info["error"] or "the step's process ended without a result")
                    rec.finish_step(name, "")
            return rec.finish()
    finally:
        rec.close()
