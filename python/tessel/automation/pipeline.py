"""A declared pipeline (`pipeline.yaml`) and the local engine that runs it.

    name: iris
    params: {data: iris.csv, target: target}
    steps:
      profile: {task: profile, args: {data: "${params.data}", target: "${params.target}"}}
      tune:
        task: tune
        needs: [profile]
        retries: 1
        args: {data: "${params.data}", target: "${params.target}", n_trials: 2}
      evaluate:
        task: evaluate
        needs: [tune]
        args: {model: "${steps.tune.output_dir}"}

Validated up front with the training config's rules (tessel.config.schema):
every problem at once, each naming its key, with a did-you-mean. `${params.K}`
and `${steps.NAME.KEY[.KEY...]}` in arguments are filled in when the step
runs (a whole-string reference keeps the value's type); a step may only read
the steps it needs (directly or through others).
"""
import copy
import difflib
import inspect
import io
import json
import os
import re
import time
import traceback

from ..config import ConfigError, load_file
from ..config.schema import F, _validate_section, apply_overrides
from .tasks import TASKS

__all__ = ["Pipeline", "load", "run_local", "run_step", "PipelineResult", "PIPELINE_SCHEMA", "STEP_SCHEMA"]

PIPELINE_SCHEMA = {
    "name": F("str", doc="pipeline name (the runs go to experiment pipeline:NAME)"),
    "description": F("str", None, nullable=True),
    "params": F("dict", {}, doc="values the steps read as ${params.KEY}; --set params.KEY=V overrides"),
    "store": F("str", None, nullable=True, doc="tracking store folder or URL (default $TESSEL_STORE)"),
    "schedule": F("str", None, nullable=True, doc="cron line of the scheduled (Prefect) deployment"),
    "steps": F("dict", doc="step name -> step"),
}
STEP_SCHEMA = {
    "task": F("str", choices=tuple(TASKS), doc="the task function"),
    "args": F("dict", {}, doc="the task's keyword arguments"),
    "needs": F("list", [], items="str", doc="steps that must finish first"),
    "retries": F("int", 0, min=0, doc="retries after a failure"),
    "retry_delay": F("float", 0.0, min=0, doc="seconds between tries"),
    "cache": F("bool", None, nullable=True, doc="Prefect: reuse the result for the same inputs "
                                                "(default: true for convert, hashed by its source's files)"),
}
_REF = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _refs(value):
    """Every ${...} inside a (nested) argument value."""
    if isinstance(value, str):
        return [m.group(1).strip() for m in _REF.finditer(value)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    return []


class Pipeline:
    """A validated pipeline: name, params, store, schedule, steps (name -> dict), order (topological)."""

    def __init__(self, raw, overrides=(), base_dir=None, source=None):
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"pipeline: expected a mapping of keys, got {type(raw).__name__}")
        raw = apply_overrides(raw, overrides)
        self.source, self.base_dir = source, base_dir or os.getcwd()
        errors = []
        spec = _validate_section(PIPELINE_SCHEMA, raw, "", errors)
        errors[:] = [e[1:] if e.startswith(".") else e for e in errors]  # top-level keys have no prefix
        steps = {}
        if isinstance(spec.get("steps"), dict):
            if not spec["steps"]:
                errors.append("steps: the pipeline has no step")
            for name, step in spec["steps"].items():
                if not isinstance(name, str) or not _NAME.match(name):
                    errors.append(f"steps.{name}: a step name is letters, digits, '_' and '-'")
                    continue
                steps[name] = _validate_section(STEP_SCHEMA, step, f"steps.{name}", errors)
        for name, step in steps.items():
            self._check_step(name, step, steps, spec.get("params") or {}, errors)
        order = self._order(steps, errors)
        if errors:
            raise ConfigError("invalid pipeline" + (f" {source}" if source else "") + ":\n  " + "\n  ".join(errors),
                              errors)
        self.name, self.description = spec["name"], spec["description"]
        self.params, self.store, self.schedule = spec["params"], spec["store"], spec["schedule"]
        self.steps, self.order = steps, order
        self.raw = raw

    @classmethod
    def from_file(cls, path, overrides=()):
        path = os.fspath(path)
        return cls(load_file(path), overrides, base_dir=os.path.dirname(os.path.abspath(path)), source=path)

    # ----- checks ------------------------------------------------------------------------------------

    @staticmethod
    def _check_step(name, step, steps, params, errors):
        key = f"steps.{name}"
        for n in step.get("needs") or []:
            if n not in steps:
                close = difflib.get_close_matches(str(n), list(steps), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (steps: {', '.join(steps)})"
                errors.append(f"{key}.needs: unknown step {n!r}{hint}")
            elif n == name:
                errors.append(f"{key}.needs: a step cannot need itself")
        fn = TASKS.get(step.get("task"))
        if fn is None or not isinstance(step.get("args"), dict):
            return
        sig = inspect.signature(fn)
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        names = [p for p, v in sig.parameters.items() if v.kind != v.VAR_KEYWORD]
        if takes_kwargs and callable(getattr(fn, "options", None)):
            names, takes_kwargs = names + fn.options(), False  # e.g. tune: AutoML's keyword arguments
        for a in step["args"]:
            if a not in names and not takes_kwargs:
                close = difflib.get_close_matches(str(a), names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (it takes: {', '.join(names)})"
                errors.append(f"{key}.args.{a}: {step['task']} has no argument {a!r}{hint}")
        for p, v in sig.parameters.items():
            if v.default is v.empty and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL) and p not in step["args"]:
                if not (p == "store"):
                    errors.append(f"{key}.args.{p}: required argument of {step['task']} is missing")
        if step.get("task") == "train" and "config" in step["args"] and not _refs(step["args"]):
            Pipeline._check_train_config(key, step["args"], errors)
        upstream = Pipeline._upstream(name, steps)
        for a, v in step["args"].items():
            for ref in _refs(v):
                parts = ref.split(".")
                where = f"{key}.args.{a}"
                if parts[0] == "params" and len(parts) == 2:
                    if parts[1] not in params:
                        close = difflib.get_close_matches(parts[1], list(params), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        errors.append(f"{where}: ${{{ref}}}: no params.{parts[1]}{hint}")
                elif parts[0] == "steps" and len(parts) >= 3:
                    if parts[1] not in steps:
                        close = difflib.get_close_matches(parts[1], list(steps), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        errors.append(f"{where}: ${{{ref}}}: no step {parts[1]!r}{hint}")
                    elif parts[1] not in upstream:
                        errors.append(f"{where}: ${{{ref}}}: step {parts[1]!r} is not in this step's needs")
                else:
                    errors.append(f"{where}: ${{{ref}}}: expected ${{params.KEY}} or ${{steps.NAME.KEY}}")

    @staticmethod
    def _check_train_config(key, args, errors):
        """A train step's config (with no ${...} in it) is checked as `tessel train` would, now."""
        from ..config.schema import TrainConfig
        config, overrides = args["config"], args.get("overrides") or []
        if isinstance(overrides, str):
            overrides = [overrides]
        try:
            if isinstance(config, dict):
                TrainConfig(config, overrides).resolve()
            elif isinstance(config, str):
                TrainConfig.from_file(config, overrides).resolve()
            else:
                errors.append(f"{key}.args.config: expected a config file path or a mapping, got {config!r}")
        except ConfigError as e:
            where = f"{key}.args.config" + (f" ({config})" if isinstance(config, str) else "")
            errors.extend(f"{where}: {line}" if isinstance(config, str) else f"{where}.{line}" for line in e.errors)

    @staticmethod
    def _upstream(name, steps):
        seen, todo = set(), list(steps.get(name, {}).get("needs") or [])
        while todo:
            n = todo.pop()
            if n in seen or n not in steps:
                continue
            seen.add(n)
            todo.extend(steps[n].get("needs") or [])
        return seen

    @staticmethod
    def _order(steps, errors):
        """Kahn's order, ties broken by declaration order (so runs are repeatable)."""
        needs = {n: [d for d in (s.get("needs") or []) if d in steps and d != n] for n, s in steps.items()}
        done, order = set(), []
        while len(order) < len(steps):
            ready = [n for n in steps if n not in done and all(d in done for d in needs[n])]
            if not ready:
                cycle = [n for n in steps if n not in done]
                errors.append(f"steps: the needs form a cycle through {', '.join(cycle)}")
                return order
            order.append(ready[0])
            done.add(ready[0])
        return order

    # ----- running -------------------------------------------------------------------------------------

    def resolve_args(self, name, outputs, params=None):
        """The step's arguments with ${...} filled in from params and the outputs of earlier steps."""
        params = self.params if params is None else params

        def lookup(ref):
            parts = ref.split(".")
            if parts[0] == "params":
                return params[parts[1]]
            if parts[1] not in outputs:
                raise KeyError(f"steps.{name}: ${{{ref}}}: no output of step {parts[1]!r} (it has not run)")
            v = outputs[parts[1]]
            for i, p in enumerate(parts[2:]):
                if isinstance(v, dict) and p in v:
                    v = v[p]
                elif isinstance(v, list) and p.isdigit() and int(p) < len(v):
                    v = v[int(p)]
                else:
                    raise KeyError(f"steps.{name}: ${{{ref}}}: the output of step {parts[1]!r} has no "
                                   f"{'.'.join(parts[2:i + 3])!r}"
                                   + (f" (it has: {', '.join(v)})" if isinstance(v, dict) else ""))
            return v

        def fill(value):
            if isinstance(value, str):
                m = _REF.fullmatch(value.strip())
                if m:
                    return lookup(m.group(1).strip())
                return _REF.sub(lambda m: str(lookup(m.group(1).strip())), value)
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        args = fill(copy.deepcopy(self.steps[name]["args"]))
        fn = TASKS[self.steps[name]["task"]]
        if "store" in inspect.signature(fn).parameters and args.get("store") is None and self.store:
            args["store"] = self.store
        return args

    def to_dict(self):
        return {"name": self.name, "description": self.description, "params": self.params, "store": self.store,
                "schedule": self.schedule, "steps": self.steps}


def load(path_or_dict, overrides=()):
    """A Pipeline from a YAML/JSON/TOML file or a dict; ConfigError lists every problem."""
    if isinstance(path_or_dict, Pipeline):
        return Pipeline(path_or_dict.raw, overrides, path_or_dict.base_dir, path_or_dict.source) if overrides \
            else path_or_dict
    if isinstance(path_or_dict, dict):
        return Pipeline(path_or_dict, overrides)
    return Pipeline.from_file(path_or_dict, overrides)


def check_step(p, name):
    """ConfigError naming the pipeline (and the closest step name) unless `name` is one of its steps."""
    if name not in p.steps:
        close = difflib.get_close_matches(str(name), list(p.steps), n=1)
        raise ConfigError(f"pipeline {p.name}: no step {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))


def run_step(pipeline, name, upstream=None, overrides=()):
    """Runs one step with the outputs of the steps it reads (`upstream`: step
    name -> output); what engines that run each step in its own process call
    (`tessel pipeline step`, the Airflow DAG). Returns the step's output."""
    p = load(pipeline, overrides)
    check_step(p, name)
    args = p.resolve_args(name, dict(upstream or {}))
    return TASKS[p.steps[name]["task"]](**args)


class PipelineResult:
    """What run_local returns: state (FINISHED/FAILED), run_id, steps (name ->
    {state, attempts, duration_s, output, error, run_id}), outputs (name -> output)."""

    def __init__(self, name, run_id, state, steps):
        self.name, self.run_id, self.state, self.steps = name, run_id, state, steps

    @property
    def outputs(self):
        return {n: s.get("output") for n, s in self.steps.items()}

    def to_dict(self):
        return {"name": self.name, "run_id": self.run_id, "state": self.state, "steps": self.steps}


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, s):
        for st in self.streams:
            st.write(s)
        return len(s)

    def flush(self):
        for st in self.streams:
            st.flush()


def _attempt(p, name, outputs, info, log, attempt, echo=None):
    """One try of a step in this process (the local engine, and Airflow's
    recorded steps): its stdout/stderr and traceback into `log`, the result
    or error into `info`. True when it finished."""
    import contextlib
    s = p.steps[name]
    log.write(f"--- {name} ({s['task']}) attempt {attempt} of {s['retries'] + 1}\n")
    out_stream = _Tee(log, echo) if echo else log
    try:
        with contextlib.redirect_stdout(out_stream), contextlib.redirect_stderr(out_stream):
            result = TASKS[s["task"]](**p.resolve_args(name, outputs))
        json.dumps(result)  # the hand-over must be JSON-able
        info.update(state="FINISHED", output=result, error=None)
        return True
    except Exception as e:  # noqa: BLE001  (a step's failure is recorded, then retried or reported)
        log.write(traceback.format_exc())
        info.update(state="FAILED", error=f"{type(e).__name__}: {e}")
        return False


def run_local(pipeline, overrides=(), store=None, echo=None, sleep=time.sleep):
    """Runs the steps in topological order in this process, retrying a failed
    step `retries` times. Each step is a run of experiment `pipeline:NAME` in
    the tracking store (tags: pipeline_run, step, task, needs, state,
    attempts; metric duration_s; artifacts log.txt and output.json), under one
    run for the whole pipeline (tags kind=pipeline, state; artifact
    state.json: the DAG with each step's state). A failed step skips the
    steps that need it; the others still run. echo: a stream that also gets
    the steps' output (e.g. sys.stderr)."""
    from .record import RunRecorder
    p = load(pipeline, overrides)
    rec = RunRecorder(p, store, engine="local")
    steps, run_id = rec.steps, rec.run_id
    try:
        outputs = {}
        for name in p.order:
            s, info = p.steps[name], steps[name]
            if rec.must_skip(name):
                rec.skip(name)
                continue
            rec.start_step(name)
            log = io.StringIO()
            t0 = time.perf_counter()
            for attempt in range(1, s["retries"] + 2):
                info["attempts"] = attempt
                if attempt > 1:
                    rec.transition(name, "RETRYING")
                if _attempt(p, name, outputs, info, log, attempt, echo):
                    break
                rec.transition(name, "FAILED")
                if attempt <= s["retries"] and s["retry_delay"]:
                    sleep(s["retry_delay"])
            info["duration_s"] = time.perf_counter() - t0
            if info["state"] == "FINISHED":
                outputs[name] = info["output"]
            rec.finish_step(name, log.getvalue())
        return PipelineResult(p.name, run_id, rec.finish(), steps)
    except BaseException as e:
        rec.abort(e)
        raise
    finally:
        rec.close()
