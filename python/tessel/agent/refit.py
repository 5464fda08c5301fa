"""The refit: the final model's members trained again with the held-out rows.

On a small table the agent's held-out split is a large share of what there is
to learn from: iris in the benchmark has 120 rows, 24 held out, and each of a
trial's five split models learned from 77. Once the final model (a bag of a
trial's split models, or an ensemble of such bags) has been evaluated on the
held-out rows, each of its split models is trained again with the same
parameters on the same kind of split of the training AND held-out rows
(all.csv / all.npz), with the trial's epochs, or its trees scaled by the rows
added, and no early stopping; the ensemble weights stay. An ensemble member
judged on one split (larger tables, text) is one model: it is trained again
on every row, its validation part included (trees scaled likewise). The refit model is
what gets exported, registered and served; its test metrics are the
evaluated model's (AutoGluon's refit_full reports its scores the same way),
since the refit model has seen the held-out rows.
"""
import copy
import os
import time

__all__ = ["refit_cost", "refit_members"]

REFIT_MEMBERS = 3  # members the search keeps time for (the greedy selection's usual count)


def refit_cost(ens, members, data_factor, val_split):
    """Seconds the refit of the members with a weight will take: each one's
    trial time over all its splits, scaled by the rows added (a member of
    one split also gains its validation part)."""
    return sum(float(r.get("seconds") or 0.0) * data_factor / (1.0 if r.get("split_dirs") else 1.0 - val_split)
               for m, (r, _) in zip(ens["members"], members) if m["weight"] > 0)


def refit_members(store, run_id, ens, members, prep, work, data_factor, log, deadline=None):
    """(ens, members) for finish_ensemble with every weighted member's split
    models trained again on prep.all_path, or None when a refit run fails or
    the deadline (time.monotonic) passes: the evaluated model is then kept."""
    import tessel as ts

    from ..train.predictor import load_module, read_signature
    from . import ensemble as E
    from . import trial as trial_mod
    new_ens, new_members = dict(ens, members=[]), []
    out_root = os.path.join(work, "refit")
    for m, (r, mp) in zip(ens["members"], members):
        if m["weight"] <= 0:
            continue
        dirs = []
        for k, d in enumerate([r["output_dir"], *(r.get("split_dirs") or ())]):
            if deadline is not None and time.monotonic() > deadline:
                log("refit: out of time; keeping the evaluated model")
                return None
            module, _, cfg = load_module(d)
            cfg = copy.deepcopy(cfg)
            cfg["data"]["path"] = prep.all_path
            cfg["data"]["val_path"] = None
            factor = data_factor
            if not r.get("split_dirs"):
                # a member judged on one split (larger data, text) is no bag: it learns from every row, its
                # validation part included (nothing chooses the model here)
                factor = data_factor / (1.0 - float(cfg["data"].get("val_split") or 0.0))
                cfg["data"]["val_split"] = 0.0
            if cfg["model"].get("name") == "boosted_trees":
                # the trees this split model kept (early stopping on its validation part), for the rows added
                cfg["model"]["trees"] = max(1, round(module.num_trees * factor))
                cfg["model"]["early_stopping"] = 0
            cfg["experiment"] = dict(cfg.get("experiment") or {}, run_name=f"refit trial {r['trial']} split {k + 1}",
                                     tags={"agent.run": run_id, "agent.role": "refit",
                                           "agent.trial": str(r["trial"])})
            folder = os.path.join(out_root, f"{r['trial']:04d}" + (f"-split{k + 1}" if k else ""))
            cfg["output"] = {"dir": folder, "export_onnx": False}
            try:
                trial_mod.run_train(cfg, store)
            except Exception as e:  # noqa: BLE001  (the evaluated model stays the final one)
                log(f"warning: refit of trial {r['trial']} split {k + 1} failed ({type(e).__name__}: {e}); "
                    f"keeping the evaluated model")
                return None
            dirs.append(folder)
        module, _, _ = load_module(dirs[0])
        sig = read_signature(dirs[0])
        # The export traces one input row of the refit recipe's width (a category seen only in the held-out
        # rows adds a one-hot column).
        example = ts.zeros([1, *sig["inputs"][0]["shape"][1:]], dtype=mp.example.dtype)
        first = E.MemberPredictions(dirs[0], None, None, sig["preprocess"], sig["task"], module, example)
        new_members.append((dict(r, output_dir=dirs[0], split_dirs=dirs[1:]), first))
        new_ens["members"].append(dict(m, output_dir=dirs[0]))
    if any(p.preprocess != new_members[0][1].preprocess for _, p in new_members[1:]):
        log("warning: the refit members' inputs are prepared differently; keeping the evaluated model")
        return None
    return new_ens, new_members
