"""The pipeline tasks as plain Python functions: profile, convert, train, tune,
evaluate, export, register, deploy, watch.

Each takes and returns JSON-able values (paths, run ids, metrics, versions),
never tensors or models, so that any engine (the local one, Prefect, Airflow)
can run them and pass the results along (Airflow's XCom carries paths). No
workflow engine is imported here.

A MODEL argument is a `tessel train` output folder, a registry version folder,
or models:/NAME, models:/NAME/VERSION, models:/NAME@ALIAS (with `store`).
"""
import contextlib
import hashlib
import json
import os
import subprocess
import time

from ..utils.jsonable import jsonable as _jsonable

__all__ = ["TASKS", "profile", "convert", "train", "tune", "evaluate", "export", "register", "deploy", "watch",
           "resolve_model", "input_hash"]


@contextlib.contextmanager
def _store(store):
    """A ts.store.Store from a folder/URL (closed afterwards) or the one given."""
    from .. import store as tstore
    if isinstance(store, tstore.Store):
        yield store
        return
    st = tstore.open(store)
    try:
        yield st
    finally:
        st.close()


def resolve_model(model, store=None):
    """The folder of a MODEL argument (see the module's doc)."""
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a folder or models:/NAME[/VERSION|@ALIAS], got {model!r}")
    model = os.fspath(model)
    if model.startswith("models:/"):
        rest = model[len("models:/"):]
        sep = "@" if "@" in rest else "/"
        name, _, version = rest.partition(sep)
        if not name:
            raise ValueError(f"model {model!r}: expected models:/NAME, models:/NAME/VERSION or models:/NAME@ALIAS")
        with _store(store) as st:
            return st.get_model_version(name, version or None)["folder"]
    if not os.path.isdir(model):
        raise FileNotFoundError(f"model {model!r}: no such folder (a `tessel train` output folder, a registry "
                                "version folder or models:/NAME[/VERSION|@ALIAS])")
    return os.path.abspath(model)


def input_hash(path, extra=None):
    """sha256 over the names, sizes and modification times of the files under
    `path` (or of the file), plus `extra` (e.g. the options): a cache key that
    changes when the input changes, without reading every byte."""
    h = hashlib.sha256()
    path = os.fspath(path)
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path, followlinks=True):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                st = os.stat(p)
                h.update(f"{os.path.relpath(p, path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    elif os.path.isfile(path):
        st = os.stat(path)
        h.update(f"{os.path.basename(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        h.update(path.encode())  # sklearn:NAME and the like
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


# ----- the tasks -----------------------------------------------------------------------------------------

def profile(data, target=None, task="auto", out=None):
    """ts.agent.profile(data, target, task) as a dict; `out`: also write it there as JSON."""
    from ..agent import profile as _profile
    p = _profile(data, target, task)
    d = p.to_dict()
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(p.to_json())
        d["path"] = os.path.abspath(out)
    return _jsonable(d)


def convert(src, out, kind=None, shard_size=1024, overwrite=True, options=None):
    """`tessel convert SRC OUT` (ts.data.ShardWriter): image or audio class
    folders, or a text CSV/JSONL, into tensor shards. options: the command's
    other options by name ({"size": "32", "features": "log-mel", ...}).
    Returns {"out", "count", "shards", "kind", "classes", "input_hash"}."""
    import click

    from ..cli.convert import convert as command
    if not os.path.exists(os.fspath(src)):
        raise FileNotFoundError(f"convert: {src} does not exist")
    args = [os.fspath(src), os.fspath(out), "--shard-size", str(int(shard_size))]
    if kind:
        args += ["--kind", kind]
    if overwrite:
        args.append("--overwrite")
    known = {p.name: p for p in command.params}
    for k, v in (options or {}).items():
        name = k.replace("-", "_")
        if name not in known or name in ("src", "out", "as_json"):
            import difflib
            close = difflib.get_close_matches(name, [n for n in known if n not in ("src", "out", "as_json")], n=1)
            raise ValueError(f"convert: unknown option {k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        p = known[name]
        flag = "--" + name.replace("_", "-")
        if p.is_flag:
            on, off = (p.opts[0], p.secondary_opts[0]) if p.secondary_opts else (p.opts[0], None)
            if v:
                args.append(on)
            elif off:
                args.append(off)
        else:
            args += [flag, str(v)]
    try:
        command.main(args=args, prog_name="tessel convert", standalone_mode=False)
    except click.ClickException as e:
        raise ValueError(f"convert: {e.format_message()}") from None
    with open(os.path.join(out, "index.json")) as f:
        index = json.load(f)
    return {"out": os.path.abspath(out), "count": index.get("count"), "shards": len(index.get("shards", [])),
            "kind": index.get("kind"), "classes": index.get("classes"),
            "input_hash": input_hash(src, {"kind": kind, "options": options})}


def train(config, overrides=(), store=None):
    """tessel.train.run(config, overrides): a config file path or a dict in the
    shared schema (docs/config.md). Returns {"run_id", "output_dir", "metrics", "model_version"}."""
    from ..train import run
    if isinstance(overrides, str):
        overrides = [overrides]
    result = run(config, list(overrides), store=store)
    return _jsonable(result.to_dict())


def tune(data, target=None, budget=None, n_trials=None, seed=0, task="auto", store=None, **options):
    """ts.agent.AutoML(budget, n_trials, seed, **options).fit(data, target, task).
    Returns the agent's result as a dict (leaderboard, best, test_metrics,
    output_dir, report_path, run_id, model_version, ...)."""
    from ..agent import AutoML
    options.setdefault("verbose", False)
    result = AutoML(budget=budget, n_trials=n_trials, seed=seed, store=store, **options).fit(data, target, task)
    d = result.to_dict()
    d.pop("profile", None)  # the profile is its own task; keep the hand-over small
    return _jsonable(d)


def _automl_options():
    import inspect

    from ..agent.automl import AutoML
    return [p for p in inspect.signature(AutoML.__init__).parameters if p not in ("self", "budget", "n_trials", "seed",
                                                                                   "store")]


tune.options = _automl_options  # the names **options may take (the pipeline validator checks them)


def evaluate(model, data=None, store=None, on_error="raise", batch_size=256):
    """Metrics of MODEL (through its model.onnx) on labeled `data` (default:
    its config's val_path, else its data.path): accuracy, macro P/R/F1
    (classification) or MAE, RMSE, R^2 (regression)."""
    from ..train import evaluate as evaluate_folder
    return _jsonable(evaluate_folder(resolve_model(model, store), data, on_error=on_error, batch_size=batch_size))


def export(model, out, opset=None, store=None):
    """MODEL (its weights and config) to the ONNX file `out`. Returns {"model", "onnx", "opset"}."""
    from ..train import export as export_folder
    r = export_folder(resolve_model(model, store), out, opset=opset, check=False)
    return {k: r[k] for k in ("model", "onnx", "opset")}


def register(model, name, alias=None, store=None, description=None):
    """Adds MODEL's output folder (model.onnx, weights, config, signature,
    metrics, the run that trained it) as a new version of `name` in the
    registry; `alias` (e.g. champion) points at it. Returns {"name",
    "version", "folder", "aliases"}."""
    from ..train import register as register_folder
    folder = resolve_model(model, store)
    with _store(store) as st:
        mv = register_folder(folder, name, store=st, alias=alias, description=description)
        mv = st.get_model_version(name, mv["version"])
    return {k: mv[k] for k in ("name", "version", "folder", "aliases")}



# ----- deploy -------------------------------------------------------------------------------------------

def _alive(pid):
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def _ready(url, timeout):
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def deploy(registry=None, state_dir=None, port=0, poll_secs=2, store=None, timeout=60, model=None, version=None):
    """Serves the registry folder with tessel-serve on 127.0.0.1 (loopback
    only), polling it for new versions; a server this task started before
    (its pid in `state_dir/serve.json`) is kept and reloads by itself at the
    next poll. registry: the folder (default: the store's registry). model /
    version: recorded as deployed in the store's lineage. Returns {"url",
    "pid", "port", "registry", "started"}."""
    from ..cli.serve import find_server
    with _store(store) as st:
        registry = os.path.abspath(registry or st.registry_root)
        if not os.path.isdir(registry):
            raise FileNotFoundError(f"deploy: registry folder {registry} does not exist")
        state_dir = os.path.abspath(state_dir or os.path.join(os.path.dirname(registry), "serve"))
        os.makedirs(state_dir, exist_ok=True)
        state_file = os.path.join(state_dir, "serve.json")
        info = None
        if os.path.isfile(state_file):
            with open(state_file) as f:
                info = json.load(f)
            if info.get("registry") != registry or not _alive(info.get("pid", -1)):
                info = None
        started = info is None
        if started:
            port_file = os.path.join(state_dir, "port")
            if os.path.exists(port_file):
                os.remove(port_file)
            log = open(os.path.join(state_dir, "serve.log"), "ab")
            proc = subprocess.Popen([find_server(), "--model-repository", registry, "--host", "127.0.0.1",
                                     "--http-port", str(int(port)), "--port-file", port_file,
                                     "--model-control", "poll", "--repository-poll-secs", str(poll_secs)],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            log.close()
            deadline = time.monotonic() + timeout
            while not (os.path.isfile(port_file) and open(port_file).read().strip()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"deploy: tessel-serve did not start (see {state_dir}/serve.log)")
                time.sleep(0.1)
            bound = int(open(port_file).read().strip())
            info = {"pid": proc.pid, "port": bound, "url": f"http://127.0.0.1:{bound}", "registry": registry}
            with open(state_file, "w") as f:
                json.dump(info, f)
        if not _ready(info["url"], timeout):
            raise RuntimeError(f"deploy: tessel-serve at {info['url']} is not ready after {timeout}s "
                               f"(see {state_dir}/serve.log)")
        if model is not None:
            st.record_deployment(model, version, info["url"])
    return {**info, "started": started}


def stop(state_dir):
    """Stops a server deploy() started (its pid in state_dir/serve.json); True if one was running."""
    import signal
    state_file = os.path.join(state_dir, "serve.json")
    if not os.path.isfile(state_file):
        return False
    with open(state_file) as f:
        pid = json.load(f)["pid"]
    os.remove(state_file)
    if not _alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not _alive(pid):
            break
        time.sleep(0.05)
    return True


# ----- watch --------------------------------------------------------------------------------------------

def watch(model, data, threshold=0.2, store=None, alias="champion", retrain=True, holdout=0.2, seed=0,
          work_dir=None):
    """ts.agent.watch: drift of the new `data` (a table, or a folder of image,
    audio or text files) against MODEL's training data (a registry model:
    models:/NAME@ALIAS, models:/NAME/N or NAME); above `threshold` (PSI)
    retrains on old + new labelled data and moves `alias` to the new version
    only when it scores better on held-out data. Returns the decision as a
    dict (drifted, retrained, promoted, new_version, metric, old_metric,
    new_metric, reason, run_id, output_dir, drift)."""
    from ..agent.watcher import watch as _watch
    return _jsonable(_watch(model, data, threshold, store, alias, retrain, holdout, seed, work_dir).to_dict())


TASKS = {"profile": profile, "convert": convert, "train": train, "tune": tune, "evaluate": evaluate,
         "export": export, "register": register, "deploy": deploy, "watch": watch}
