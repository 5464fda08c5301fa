"""The ensemble stage: greedy selection over the best trials' validation
predictions (tessel.agent.ensemble), then, when the ensemble wins, one ONNX
graph of the weighted members, checked, evaluated on the held-out split and
registered."""
import json
import os
import time

from .errors import AgentError
from .final import held_out_metrics
from .leaderboard import fmt
from ..utils.jsonable import jsonable as _jsonable

__all__ = ["select_ensemble", "finish_ensemble", "register_final", "bag_of", "measure_ensemble_cost"]


def select_ensemble(done, size, iterations, log):
    """Greedy ensemble selection over the best `size` complete trials' (and
    each other family's best trial's) predictions on their shared validation
    splits: with val_repeats, the split models' predictions on their own
    splits, joined (every row of the training part predicted by models that
    did not fit it, as AutoGluon selects on out-of-fold predictions), over the
    splits every member has. Members must share the preprocessing (one input
    for the one ONNX graph). Returns (the ensemble dict, [(row, member
    predictions)]), or (None, None) with fewer than 2 members."""
    import numpy as np

    from . import ensemble as E
    members, cache = [], {}
    # The best `size` trials, and the best of each family not among them: models of different kinds err
    # differently (on attrition the top 5 were all boosted trees, the best MLP 12% behind on validation).
    pool = list(done[:size])
    for r in done[size:]:
        if all(p["family"] != r["family"] for p in pool):
            pool.append(r)
    pool = [r for r in pool if r.get("output_dir")]
    splits = min((1 + len(r.get("split_dirs") or ()) for r in pool), default=1)
    for r in pool:
        try:
            mp = _split_predictions(E, r, splits, cache)
        except Exception as e:  # noqa: BLE001  (a member that cannot be reloaded is left out)
            log(f"warning: trial {r['trial']} left out of the ensemble: {e}")
            continue
        if members:
            m0 = members[0][1]
            if mp.preprocess != m0.preprocess or mp.pred.shape != m0.pred.shape or not np.array_equal(mp.y, m0.y):
                log(f"trial {r['trial']} left out of the ensemble: its inputs differ from trial "
                    f"{members[0][0]['trial']}'s")
                continue
        members.append((r, mp))
    if len(members) < 2:
        return None, None
    task = members[0][1].task
    preds = np.stack([m.pred for _, m in members])
    y = members[0][1].y
    singles = [E.loss_of(p, y, task) for p in preds]
    weights, loss = E.select(preds, y, task, iterations)
    best_single = min(singles)
    # Strictly better on validation, and a real mix: one member at weight 1 is the single model.
    used = bool(loss < best_single - 1e-9 * max(1.0, abs(best_single)) and int((weights > 0).sum()) >= 2)
    avg = np.tensordot(weights, preds, axes=1)
    ens = {"members": [{"trial": r["trial"], "family": r["family"], "weight": float(w), "val_loss": float(sl),
                        "output_dir": m.folder} for (r, m), w, sl in zip(members, weights, singles)],
           "val_loss": float(loss), "best_single_loss": float(best_single), "used": used, "splits": splits,
           "val_rows": int(len(y)),
           "loss": "log_loss" if task == "classification" else "mse (scaled target)",
           "iterations": iterations, "task": task}
    if task == "classification":
        ens["val_accuracy"] = float(np.mean(avg.argmax(axis=1) == y))
    log(f"ensemble of {int((weights > 0).sum())} trials: val_loss {loss:.4g} vs best single "
        f"{best_single:.4g} on {len(y)} rows" + (f" of {splits} splits" if splits > 1 else "")
        + f" ({'used' if used else 'not used'})")
    return ens, members


def _split_predictions(E, row, splits, cache):
    """A trial's validation predictions on its first `splits` splits, joined
    (the first split's module and example kept for the export)."""
    import dataclasses

    import numpy as np
    dirs = [row["output_dir"], *(row.get("split_dirs") or ())][:splits]
    parts = [E.member_predictions(d, cache) for d in dirs]
    first = parts[0]
    for d, p in zip(dirs[1:], parts[1:]):
        if p.preprocess != first.preprocess:
            raise ValueError(f"{d}: its inputs are prepared differently from {first.folder}")
    if len(parts) == 1:
        return first
    return dataclasses.replace(first, pred=np.concatenate([p.pred for p in parts]),
                               y=np.concatenate([p.y for p in parts]))


def bag_of(best, log):
    """The ensemble of one trial judged on several splits: its split models
    averaged (finish_ensemble expands a member into its bag). (ens, members),
    or (None, None) when the trial has one split or cannot be reloaded."""
    from . import ensemble as E
    if not best.get("split_dirs") or not best.get("output_dir"):
        return None, None
    try:
        mp = E.member_predictions(best["output_dir"])
    except Exception as e:  # noqa: BLE001  (the best trial is then retrained as usual)
        log(f"warning: trial {best['trial']}'s split models cannot be reloaded: {e}")
        return None, None
    ens = {"members": [{"trial": best["trial"], "family": best["family"], "weight": 1.0,
                        "val_loss": float(best["value"]), "output_dir": mp.folder}],
           "val_loss": float(best["value"]), "best_single_loss": float(best["value"]), "used": True, "bag": True,
           "loss": "log_loss" if mp.task == "classification" else "mse (scaled target)", "task": mp.task}
    return ens, [(best, mp)]


def finish_ensemble(store, run_id, ens, members, prep, work, name, register, export, alias, log, evaluated=None):
    """Exports every member with a weight to ONNX, combines them into one
    graph (checked against the weighted sum of the members), evaluates it
    on the held-out split and registers it (register: True for `name`, a
    registry name, or False). evaluated: (test metrics, predictions) of the
    model these members were refit from (tessel.agent.refit): the refit
    model has seen the held-out rows, so those are its figures. Returns
    (result namespace, test metrics, predictions)."""
    import shutil
    import types

    import numpy as np
    import yaml

    import tessel as ts

    from ..train import Predictor, runner
    from ..train.predictor import load_module, read_config, read_signature
    from . import ensemble as E
    task = ens["task"]
    out = os.path.join(work, "refit-final" if evaluated else "final" if ens.get("bag") else "ensemble")
    os.makedirs(out, exist_ok=True)
    paths, weights = [], []
    for m, (r, mp) in zip(ens["members"], members):
        if m["weight"] <= 0:
            continue
        # A trial judged on several splits is the average of its split models (a bag), its weight shared;
        # only models that read the same inputs (the same recipe: data.preprocess_from all) join it.
        bag = [mp.module]
        for d in r.get("split_dirs") or ():
            if read_signature(d)["preprocess"] != mp.preprocess:
                log(f"warning: {d} left out of trial {r['trial']}'s bag: its inputs are prepared differently")
                continue
            bag.append(load_module(d)[0])
        for k, module in enumerate(bag):
            p = os.path.join(out, f"member-{r['trial']:04d}" + (f"-split{k + 1}" if k else "") + ".onnx")
            runner.export_onnx(module, mp.example, p)
            paths.append(p)
            weights.append(m["weight"] / len(bag))
    first = members[0][1].folder
    E.export_onnx(paths, weights, task, os.path.join(out, "model.onnx"))
    shutil.copyfile(os.path.join(first, "signature.json"), os.path.join(out, "signature.json"))
    cfg = read_config(first)
    cfg["ensemble"] = {"members": [{"trial": m["trial"], "weight": m["weight"],
                                    "splits": 1 + len(r.get("split_dirs") or ())}
                                   for m, (r, _) in zip(ens["members"], members) if m["weight"] > 0]}
    cfg["data"]["val_path"] = prep.test_path  # what the ensemble was evaluated on (tessel evaluate's default)
    if evaluated:
        cfg["refit"] = {"rows": prep.n_train + prep.n_test, "path": prep.all_path,
                        "note": "members trained again with the held-out rows; test metrics are the model's "
                                "before the refit"}
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
    what = f"trial {ens['members'][0]['trial']}'s {len(paths)} split models averaged" if ens.get("bag") else "ensemble"
    if evaluated:
        test_metrics, predictions = evaluated
        what += f", refit on {prep.n_train + prep.n_test} rows (training and held-out)"
        log(f"final ({what}); its test metrics are the model's before the refit")
    else:
        predictions = pred.decode(got)
        test_metrics = held_out_metrics(predictions, prep.test_labels, task)
        log(f"final ({what}): " + ", ".join(f"{k}={fmt(v)}" for k, v in test_metrics.items()))
    res = types.SimpleNamespace(config=cfg, output_dir=out, model_version=None, metrics=test_metrics,
                                signature=pred.signature, description="tessel agent: " + what)
    if register and export:
        register_final(store, run_id, res, name, register, alias)
    return res, test_metrics, predictions


def register_final(store, run_id, res, name, register, alias):
    """Registers finish_ensemble's model (res) under `name` (register True)
    or the registry name `register`, with its config and ensemble.json."""
    import shutil
    reg = name if register is True else register
    res.model_version = store.register_model(reg, onnx=os.path.join(res.output_dir, "model.onnx"),
                                             config=res.config, signature=res.signature, run_id=run_id,
                                             metrics=res.metrics, alias=alias, description=res.description)
    for fname in ("config.yaml", "ensemble.json"):
        shutil.copyfile(os.path.join(res.output_dir, fname), os.path.join(res.model_version["folder"], fname))
    return res.model_version


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
