"""Try a model: a form generated from a registry version's inputs; the upload
(an image, an audio clip, a text or numbers) becomes the input tensor with
tessel's own converters; the page shows the prediction, the latency and the
exact request (Open Inference Protocol JSON).

Preprocessing: a version whose folder tessel.train.Predictor can load (its
signature.json records how inputs are made) goes through Predictor.predict.
Otherwise the ONNX input metadata decides: a [N, C, H, W] input (C 1 or 3)
takes an image (decoded, resized to H x W, scaled to [0, 1]); a [N, F] or
other fixed-shape numeric input takes numbers; text or audio for such a model
gets a message saying that no preprocessing was recorded for it.

The request goes to the tessel-serve of --serve-url when it holds the
version, else the model runs in this process (ts.onnx).
"""
import collections
import json
import math
import os
import secrets
import threading
import time

import numpy as np
from flask import Blueprint, Response, abort, current_app, render_template, request

from ..store import NotFoundError
from . import serving

bp = Blueprint("try_model", __name__)

OIP_NUMPY = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
             "INT16": np.int16, "INT8": np.int8, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
             "UINT64": np.uint64, "BOOL": np.bool_}
_DTYPE_OIP = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int64": "INT64", "int32": "INT32",
              "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32",
              "uint64": "UINT64", "bool": "BOOL"}
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
TEXT_EXT = (".txt", ".csv", ".json", ".jsonl", ".md")
SHOWN_VALUES = 48  # output values shown inline before "... N more"
SHOWN_REQUEST_VALUES = 4096  # input values shown in the request JSON (all of a small model's input)
_models_lock = threading.Lock()
_MODEL_CACHE = collections.OrderedDict()  # (path, mtime) -> ts.onnx.Model, ("predictor", folder, mtime) -> Predictor


class InputError(ValueError):
    """The upload cannot become this model's input; the message says why."""


def store():
    return current_app.extensions["tessel_store"]


def _version(name, version):
    try:
        return store().get_model_version(name, version)
    except NotFoundError as e:
        abort(404, str(e))
    except (TypeError, ValueError) as e:
        abort(400, str(e))


def input_specs(v):
    """[{name, datatype, shape, kind, ...}] of a version's inputs: kind is
    'image' (with channels, height, width), 'numbers' (with count) or
    'unsupported' (with why)."""
    sig = v.get("signature") or {}
    inputs = sig.get("inputs")
    if inputs is None and "model.onnx" in v["files"]:
        from .. import store as tstore
        inputs = tstore.onnx_signature(os.path.join(v["folder"], "model.onnx"))["inputs"]
    specs = []
    for t in inputs or []:
        dt = t.get("datatype") or _DTYPE_OIP.get(str(t.get("dtype")), str(t.get("dtype")).upper())
        t = dict(t, datatype=dt)
        spec = {"name": t["name"], "datatype": dt, "shape": t.get("shape")}
        shape = spec["shape"]
        if t["datatype"] == "BYTES":
            spec.update(kind="unsupported", why="a string input: this model has no text preprocessing recorded")
        elif t["datatype"] not in OIP_NUMPY:
            spec.update(kind="unsupported", why=f"datatype {t['datatype']} is not handled by this form")
        elif shape is not None and len(shape) == 4 and shape[1] in (1, 3):
            spec.update(kind="image", channels=shape[1], height=shape[2] if shape[2] > 0 else None,
                        width=shape[3] if shape[3] > 0 else None)
        elif shape is not None and all(d > 0 for d in shape[1:]):
            spec.update(kind="numbers", count=int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1)
        else:
            spec.update(kind="unsupported", why=f"shape {shape}: only the batch dimension may be dynamic")
        specs.append(spec)
    return specs


def _predictor(v):
    """tessel.train.Predictor for the version folder, or None when that module or
    the version's recorded preprocessing is missing."""
    try:
        from ..train import Predictor
    except (ImportError, AttributeError):
        return None
    sig = os.path.join(v["folder"], "signature.json")
    try:
        key = ("predictor", v["folder"], os.path.getmtime(sig))
    except OSError:
        return None
    with _models_lock:
        if key in _MODEL_CACHE:
            return _MODEL_CACHE[key]
    try:
        p = Predictor.load(v["folder"])
    except Exception:  # noqa: BLE001  (no recorded preprocessing: the ONNX metadata path takes over)
        p = None
    with _models_lock:
        _MODEL_CACHE[key] = p
        while len(_MODEL_CACHE) > 8:
            _MODEL_CACHE.popitem(last=False)
    return p


def _image_tensor(data, spec):
    from .. import image as timage
    try:
        img = timage.decode(data, "gray" if spec["channels"] == 1 else "rgb")
    except ValueError as e:
        raise InputError(f"input {spec['name']!r}: the upload is not an image tessel can decode ({e})") from None
    h, w = spec["height"], spec["width"]
    if h and w:
        img = timage.resize(img, (h, w))
    if spec["datatype"] == "UINT8":
        arr = np.asarray(img.numpy()).transpose(2, 0, 1)
    else:
        arr = np.asarray(timage.to_tensor(img).numpy())  # CHW float in [0, 1]
    return arr[None].astype(OIP_NUMPY[spec["datatype"]])


def _numbers_tensor(text, spec):
    parts = [p for p in text.replace(",", " ").replace(";", " ").split() if p]
    if not parts:
        raise InputError(f"input {spec['name']!r}: enter {spec['count']} numbers")
    try:
        vals = [float(p) for p in parts]
    except ValueError as e:
        raise InputError(f"input {spec['name']!r}: {e}") from None
    if len(vals) != spec["count"]:
        raise InputError(f"input {spec['name']!r} takes {spec['count']} numbers (shape {spec['shape']}), "
                         f"got {len(vals)}")
    shape = [1] + [int(d) for d in spec["shape"][1:]] if spec["shape"] else [1]
    return np.asarray(vals, dtype=np.float64).reshape(shape).astype(OIP_NUMPY[spec["datatype"]])


def build_inputs(specs, files, form):
    """{name: ndarray} from the form, with a message naming the input when it cannot be made."""
    out = {}
    for spec in specs:
        f = files.get(f"file:{spec['name']}")
        text = form.get(f"text:{spec['name']}", "").strip()
        fname = (f.filename or "").lower() if f else ""
        if f and fname.endswith(AUDIO_EXT):
            raise InputError(f"input {spec['name']!r}: this model has no audio preprocessing recorded (its version "
                             f"has no signature.json saying how a clip becomes {spec['shape']}); register it from "
                             f"`tessel train` to record it")
        if (f and fname.endswith(TEXT_EXT) and spec["kind"] != "numbers") or (text and spec["kind"] == "image"):
            raise InputError(f"input {spec['name']!r}: this model has no text preprocessing recorded (its version has "
                             f"no signature.json saying how text becomes {spec['shape']}); register it from "
                             f"`tessel train` to record it")
        if spec["kind"] == "unsupported":
            raise InputError(f"input {spec['name']!r}: {spec['why']}")
        if spec["kind"] == "image":
            if not f or not fname:
                raise InputError(f"input {spec['name']!r}: choose an image file")
            out[spec["name"]] = _image_tensor(f.read(), spec)
        else:
            if f and fname:
                text = f.read().decode("utf-8", errors="replace")
            out[spec["name"]] = _numbers_tensor(text, spec)
    return out


def oip_request(arrays, specs):
    by_name = {s["name"]: s for s in specs}
    return {"inputs": [{"name": n, "shape": list(a.shape), "datatype": by_name[n]["datatype"],
                        "data": a.reshape(-1).tolist()} for n, a in arrays.items()]}


def _local_model(path):
    from .. import onnx as tonnx
    key = (path, os.path.getmtime(path))
    with _models_lock:
        m = _MODEL_CACHE.get(key)
        if m is None:
            m = tonnx.load(path)
            _MODEL_CACHE[key] = m
            while len(_MODEL_CACHE) > 8:
                _MODEL_CACHE.popitem(last=False)
        return m


def run_local(v, arrays):
    """(OIP-style response, seconds) running model.onnx in this process."""
    import tessel as ts
    path = os.path.join(v["folder"], "model.onnx")
    if not os.path.isfile(path):
        raise InputError(f"version {v['name']} v{v['version']} has no model.onnx to run")
    m = _local_model(path)
    feed = {n: ts.from_numpy(np.ascontiguousarray(a)) for n, a in arrays.items()}
    t0 = time.perf_counter()
    out = m.run(feed)
    dt = time.perf_counter() - t0
    outputs = []
    for o in m.outputs:
        a = np.asarray(out[o.name].numpy())
        outputs.append({"name": o.name, "shape": list(a.shape), "datatype": _oip_type(a.dtype),
                        "data": a.reshape(-1).tolist()})
    return {"model_name": v["name"], "model_version": str(v["version"]), "outputs": outputs}, dt


def _oip_type(dt):
    for k, t in OIP_NUMPY.items():
        if np.dtype(t) == dt:
            return k
    return str(dt).upper()


def server_holds(name, version):
    """Whether the configured tessel-serve has this version READY."""
    if not current_app.config["TESSEL_SERVE_URL"]:
        return False
    try:
        idx = serving.repository_index()
    except serving.ServeError:
        return False
    return any(m.get("name") == name and str(m.get("version")) == str(version) and m.get("state") == "READY"
               for m in idx)


def run_server(v, req):
    body = json.dumps(req).encode()
    t0 = time.perf_counter()
    _, data = serving.call(f"/v2/models/{v['name']}/versions/{v['version']}/infer", body,
                           timeout=max(10.0, current_app.config["TESSEL_SERVE_TIMEOUT"]))
    dt = time.perf_counter() - t0
    return json.loads(data), dt


def _labels(v):
    """Class names from the version's config ("classes", "labels" or "class_names", top level or under "data")."""
    cfg = v.get("config") or {}
    for src in (cfg, cfg.get("data") if isinstance(cfg.get("data"), dict) else {}):
        for key in ("classes", "labels", "class_names"):
            labels = src.get(key)
            if isinstance(labels, list) and labels:
                return [str(x) for x in labels]
    return None


def summarize(resp, labels):
    """Per output: top classes of a [1, K] score vector (softmax when the scores
    are not already probabilities), else the values."""
    out = []
    for o in resp.get("outputs", []):
        data = o.get("data", [])
        shape = o.get("shape", [])
        item = {"name": o["name"], "shape": shape, "datatype": o.get("datatype"), "top": None,
                "values": _short(data)}
        if o.get("datatype", "").startswith("FP") and len(shape) == 2 and shape[0] == 1 and 1 < shape[1] <= 100000:
            x = np.asarray(data, dtype=np.float64)
            if np.all(x >= 0) and abs(x.sum() - 1) < 1e-3:
                probs = x  # already probabilities
            else:
                e = np.exp(x - x.max())
                probs = e / e.sum()
            order = np.argsort(-probs)[:5]
            item["top"] = [{"index": int(i), "label": labels[i] if labels and i < len(labels) else str(int(i)),
                            "score": float(x[i]), "probability": float(probs[i])} for i in order]
        out.append(item)
    return out


def _short(data):
    if len(data) <= SHOWN_VALUES:
        return data
    return data[:SHOWN_VALUES] + [f"... {len(data) - SHOWN_VALUES} more"]


def shown_json(req):
    """The request as JSON, one line per tensor's data. Inputs of more than
    SHOWN_REQUEST_VALUES values are cut (said outside the JSON); the full
    request is a download."""
    parts = []
    for i in req["inputs"]:
        data = i["data"]
        cut = len(data) > SHOWN_REQUEST_VALUES
        head = json.dumps({k: v for k, v in i.items() if k != "data"})[:-1]
        body = json.dumps(data[:SHOWN_REQUEST_VALUES] if cut else data, default=_json_default)
        parts.append(f"    {head},\n     \"data\": {body[:-1] + ', ...]' if cut else body}}}")
    text = "{\n  \"inputs\": [\n" + ",\n".join(parts) + "\n  ]\n}"
    cut = [f"{i['name']}: {SHOWN_REQUEST_VALUES} of {len(i['data'])} values shown"
           for i in req["inputs"] if len(i["data"]) > SHOWN_REQUEST_VALUES]
    return text + (f"\n\n({'; '.join(cut)}: the full request is the 'full JSON' link)" if cut else "")


def _json_default(o):
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    return str(o)


def _remember(req):
    kept = current_app.extensions["tessel_requests"]
    rid = secrets.token_urlsafe(12)
    text = json.dumps(req)
    with _models_lock:  # the server is threaded
        kept[rid] = text
        while len(kept) > 8:
            kept.pop(next(iter(kept)))
    return rid


@bp.route("/try")
def index():
    models = store().list_models()
    return render_template("try_index.html", models=models)


@bp.route("/try/<name>/<version>", methods=["GET", "POST"])
def form(name, version):
    v = _version(name, version)
    predictor = _predictor(v)
    specs = input_specs(v)
    on_server = server_holds(v["name"], v["version"])
    ctx = {"v": v, "specs": specs, "predictor": predictor_form(predictor) if predictor is not None else None,
           "on_server": on_server, "result": None, "error": None}
    if request.method == "GET":
        return render_template("try.html", **ctx)
    where = request.form.get("where", "server" if on_server else "local")
    try:
        if predictor is not None:
            ctx["result"] = _predict_with(predictor, v, where, on_server)
        else:
            arrays = build_inputs(specs, request.files, request.form)
            req = oip_request(arrays, specs)
            if where == "server" and on_server:
                resp, dt = run_server(v, req)
                ran = f"tessel-serve at {current_app.config['TESSEL_SERVE_URL']}"
            else:
                resp, dt = run_local(v, arrays)
                ran = "this process (ts.onnx)"
            ctx["result"] = {"outputs": summarize(resp, _labels(v)), "latency_ms": dt * 1000, "ran": ran,
                             "request": shown_json(req), "request_id": _remember(req),
                             "endpoint": f"POST /v2/models/{v['name']}/versions/{v['version']}/infer",
                             "input_shapes": {n: list(a.shape) for n, a in arrays.items()}}
    except (InputError, serving.ServeError) as e:
        ctx["error"] = str(e)
        return render_template("try.html", **ctx), 400 if isinstance(e, InputError) else 502
    return render_template("try.html", **ctx)


def predictor_form(predictor):
    """What the form asks for, from the recorded preprocessing."""
    kind = predictor.signature["preprocess"]["kind"]
    accept = {"image": "image/*", "audio": "audio/*", "text": ".txt,text/plain", "tabular": ".csv,.jsonl,text/csv",
              "array": ".npy"}.get(kind, "")
    hint = {"image": "an image", "audio": "an audio clip (WAV, FLAC, OGG, MP3)",
            "text": "a text (typed or a .txt file)",
            "tabular": "CSV rows with a header line (typed or a .csv file)", "array": "a .npy array"}.get(kind, kind)
    return {"kind": kind, "accept": accept, "hint": hint, "text": kind in ("text", "tabular"),
            "task": predictor.task, "classes": predictor.classes}


def _predict_with(predictor, v, where, on_server):
    """The upload (or typed text) through the recorded preprocessing
    (Predictor.preprocess), the model run here or on the server, the output
    decoded by Predictor.decode."""
    info = predictor_form(predictor)
    f = request.files.get("file")
    text = request.form.get("text", "")
    if f is not None and f.filename:
        item = f.read()
        if info["kind"] == "text":
            item = item.decode("utf-8", errors="replace")
    elif text.strip() and info["text"]:
        item = text
    else:
        raise InputError(f"give {info['hint']}")
    try:
        x = predictor.preprocess([item])
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        raise InputError(f"the upload cannot be made into this model's input ({info['hint']}): {e}") from None
    arr = np.asarray(x.numpy())
    spec = {"name": predictor.input_name, "datatype": _oip_type(arr.dtype)}
    req = oip_request({predictor.input_name: arr}, [spec])
    if where == "server" and on_server:
        resp, dt = run_server(v, req)
        ran = f"tessel-serve at {current_app.config['TESSEL_SERVE_URL']}"
        out = next((o for o in resp.get("outputs", []) if o["name"] == predictor.output_name), resp["outputs"][0])
        y = np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])
    else:
        t0 = time.perf_counter()
        y = predictor.run(x)
        dt = time.perf_counter() - t0
        ran = "this process (ts.onnx)"
    pred = predictor.decode(y)[0]
    if "probabilities" in pred:
        top = sorted(({"label": k, "probability": float(p), "score": float(p), "index": i}
                      for i, (k, p) in enumerate(pred["probabilities"].items())), key=lambda d: -d["probability"])[:5]
        outputs = [{"name": predictor.output_name, "shape": list(np.shape(y)), "datatype": "FP32", "top": top,
                    "values": None}]
    else:
        outputs = [{"name": predictor.output_name, "shape": list(np.shape(y)), "datatype": "FP32", "top": None,
                    "values": pred}]
    return {"outputs": outputs, "latency_ms": dt * 1000, "ran": ran + ", with the preprocessing recorded at training",
            "request": shown_json(req), "request_id": _remember(req),
            "endpoint": f"POST /v2/models/{v['name']}/versions/{v['version']}/infer",
            "input_shapes": {predictor.input_name: list(arr.shape)}}


@bp.route("/try/request/<rid>.json")
def full_request(rid):
    data = current_app.extensions["tessel_requests"].get(rid)
    if data is None:
        abort(404, "that request is no longer kept (the UI keeps the last 8)")
    return Response(data, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="request-{rid}.json"'})
