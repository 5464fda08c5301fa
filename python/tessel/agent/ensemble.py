"""Ensemble selection (Caruana et al. 2004, as AutoGluon's weighted ensemble):
greedy forward selection with replacement over the validation predictions of
the best trials, on the one validation split every trial shares (train.csv's
`val_split` part, seeded by the agent's seed), and the export of the chosen
weighted ensemble as ONE ONNX graph (each member's graph inlined with a
prefix, then the weighted sum), so that serving stays one model.

    preds = [member_predictions(folder) for folder in trial_folders]
    weights, loss = select(np.stack([p.pred for p in preds]), preds[0].y, "classification")
    export_onnx([f + "/model.onnx" for f in folders], weights, "classification", "ensemble.onnx")

Classification averages probabilities; the graph outputs log(probabilities)
so that the usual softmax decoding (Predictor) gives them back unchanged.
Regression averages the members' (scaled) outputs.
"""
import dataclasses
import math
import os

import numpy as np

__all__ = ["MemberPredictions", "member_predictions", "loss_of", "select", "export_onnx", "ensemble_onnx_outputs"]

_CLIP = 1e-12


@dataclasses.dataclass
class MemberPredictions:
    folder: str
    pred: np.ndarray       # (n_val, n_classes) probabilities, or (n_val,) scaled values
    y: np.ndarray          # (n_val,) class ids, or scaled targets
    preprocess: dict       # signature.json's preprocess: members of one ensemble must share it
    task: str
    module: object = None  # the trained ts.nn.Module (to export its ONNX graph)
    example: object = None  # one input row (a tensor) for that export


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def member_predictions(folder, cache=None):
    """A trial's predictions on its validation split: its saved config rebuilds
    the same (seeded) split, its weights give the outputs. cache: a dict
    shared between calls, so that trials with the same data section decode
    the data once."""
    import json

    from ..train.predictor import load_module, read_signature
    from ..train.sources import load_data
    module, sig, cfg = load_module(folder)
    key = json.dumps(cfg["data"], sort_keys=True, default=str)
    data = cache.get(key) if cache is not None else None
    if data is None:
        data = load_data(cfg)
        if cache is not None:
            cache[key] = data
    if data.x_val is None:
        raise ValueError(f"{folder}: the trial has no validation split to ensemble on")
    out = module(data.x_val).detach().numpy().astype(np.float64)
    y = data.y_val.numpy()
    if sig["task"] == "classification":
        pred = _softmax(out.reshape(out.shape[0], -1))
        y = y.astype(np.int64).reshape(-1)
    else:
        pred = out.reshape(out.shape[0], -1)[:, 0]
        y = y.astype(np.float64).reshape(-1)
    return MemberPredictions(os.fspath(folder), pred, y, read_signature(folder)["preprocess"], sig["task"], module,
                             data.x_val[:1])


def loss_of(pred, y, task):
    """Log loss (classification, probabilities) or mean squared error (regression)."""
    if task == "classification":
        p = np.clip(pred[np.arange(len(y)), y], _CLIP, 1.0)
        return float(-np.mean(np.log(p)))
    return float(np.mean((pred - y) ** 2))


def select(preds, y, task, n_iter=25):
    """Greedy ensemble selection with replacement: `n_iter` times, add the
    member whose addition gives the lowest loss of the running average (ties:
    the lower index, so the result is deterministic). Returns (weights, loss)
    with weights = how often each member was picked / n_iter."""
    preds = np.asarray(preds, dtype=np.float64)
    if preds.ndim < 2 or preds.shape[0] == 0:
        raise ValueError("select: preds must be (members, samples[, classes]) with at least one member")
    if not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"select: n_iter must be a positive integer, got {n_iter!r}")
    counts = np.zeros(preds.shape[0], dtype=np.int64)
    total = np.zeros(preds.shape[1:], dtype=np.float64)
    best_loss, best_counts = math.inf, counts.copy()
    for k in range(1, n_iter + 1):
        losses = [loss_of((total + preds[m]) / k, y, task) for m in range(preds.shape[0])]
        m = int(np.argmin(losses))
        counts[m] += 1
        total += preds[m]
        # Keep the best prefix of the selection: later picks may only add noise.
        if losses[m] < best_loss - 1e-12:
            best_loss, best_counts = losses[m], counts.copy()
    return best_counts / best_counts.sum(), best_loss


def export_onnx(member_paths, weights, task, path):
    """Writes one ONNX model: every member's graph (prefixed m0_, m1_, ...)
    fed by the shared input, then sum_i w_i * member_i (probabilities through
    Softmax for classification, then Log). Members with weight 0 are left out.
    Returns the path."""
    import onnx
    from onnx import TensorProto, compose, helper, numpy_helper

    pairs = [(p, float(w)) for p, w in zip(member_paths, weights) if w > 0]
    if not pairs:
        raise ValueError("export_onnx: no member has a positive weight")
    if task not in ("classification", "regression"):
        raise ValueError(f"export_onnx: task must be 'classification' or 'regression', got {task!r}")
    models = [onnx.load(os.fspath(p)) for p, _ in pairs]
    in_name = models[0].graph.input[0].name
    out_name = models[0].graph.output[0].name
    opset = max(o.version for m in models for o in m.opset_import if o.domain in ("", "ai.onnx"))
    nodes, inits, vinfo, funcs = [], [], [], []
    seen_funcs = set()
    terms = []
    for i, (m, (_, w)) in enumerate(zip(models, pairs)):
        if m.graph.input[0].name != in_name:
            raise ValueError(f"export_onnx: member {i} takes input {m.graph.input[0].name!r}, member 0 {in_name!r}")
        pm = compose.add_prefix(m, f"m{i}_", rename_inputs=False)
        nodes += list(pm.graph.node)
        inits += list(pm.graph.initializer)
        vinfo += list(pm.graph.value_info)
        for f in pm.functions:
            if (f.domain, f.name) not in seen_funcs:
                seen_funcs.add((f.domain, f.name))
                funcs.append(f)
        y = pm.graph.output[0].name
        if task == "classification":
            nodes.append(helper.make_node("Softmax", [y], [f"ens_p{i}"], axis=-1, name=f"ens_softmax{i}"))
            y = f"ens_p{i}"
        inits.append(numpy_helper.from_array(np.asarray(w, dtype=np.float32), f"ens_w{i}"))
        nodes.append(helper.make_node("Mul", [y, f"ens_w{i}"], [f"ens_t{i}"], name=f"ens_mul{i}"))
        terms.append(f"ens_t{i}")
    acc = terms[0]
    for i, t in enumerate(terms[1:], 1):  # a chain of Adds: every runtime has Add
        nodes.append(helper.make_node("Add", [acc, t], [f"ens_s{i}"], name=f"ens_add{i}"))
        acc = f"ens_s{i}"
    if task == "classification":
        # log(probabilities): softmax of the output gives the probabilities back (Predictor decodes so).
        inits.append(numpy_helper.from_array(np.asarray(1e-12, dtype=np.float32), "ens_floor"))
        nodes.append(helper.make_node("Max", [acc, "ens_floor"], ["ens_clipped"], name="ens_max"))
        nodes.append(helper.make_node("Log", ["ens_clipped"], [out_name], name="ens_log"))
    else:
        nodes.append(helper.make_node("Identity", [acc], [out_name], name="ens_out"))
    out_vi = models[0].graph.output[0]
    graph = helper.make_graph(nodes, "tessel_ensemble", [models[0].graph.input[0]],
                              [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)
                               if not out_vi.type.tensor_type.HasField("shape") else out_vi],
                              initializer=inits, value_info=vinfo)
    opsets = [helper.make_opsetid("", opset)] + [o for o in models[0].opset_import if o.domain not in ("", "ai.onnx")]
    model = helper.make_model(graph, opset_imports=opsets, functions=funcs, producer_name="tessel.agent.ensemble")
    model.ir_version = models[0].ir_version
    onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))
    return os.fspath(path)


def ensemble_onnx_outputs(member_outputs, weights, task):
    """What the exported graph computes from the members' raw outputs (NumPy;
    the reference the tests and the agent check the graph against)."""
    acc = 0.0
    for o, w in zip(member_outputs, weights):
        o = np.asarray(o, dtype=np.float64)
        acc = acc + w * (_softmax(o.reshape(o.shape[0], -1)) if task == "classification" else o)
    return np.log(np.maximum(acc, 1e-12)) if task == "classification" else acc
