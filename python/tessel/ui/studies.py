"""Studies: the Optuna studies of `tessel agent run` / ts.agent.AutoML. The
list shows every agent run (a run with the parameter agent.study); a study
page reads the study from the storage the agent recorded (agent.storage: a
SQLite or database URL, or a journal file) and draws, on the server, the
optimization history (objective per trial, best so far, pruned and failed
trials marked), parallel coordinates of the parameters, the parameter
importance (Optuna's fANOVA over the complete trials, as in the agent's
report) and the trials table. A study kept in memory (storage='memory') has
no storage to read: the page falls back to the run's leaderboard.json."""
import json
import math
import os
from html import escape

from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup
from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from ..store import NotFoundError
from .charts import Plot, _label as _tick, nice_ticks, svg_empty, svg_open
from ..store import schema as S

bp = Blueprint("studies", __name__)
STATE_CLASS = {"COMPLETE": "finished", "PRUNED": "skipped", "FAIL": "failed", "STOPPED": "skipped",
               "RUNNING": "running", "WAITING": "pending"}
COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "STOPPED": "#7f7f7f", "best": "#2ca02c"}


def store():
    return current_app.extensions["tessel_store"]


def agent_runs(st, limit=500):
    """[{run, study, storage}] of every run with an agent.study parameter, newest first
    (one query: the trial runs of a study have no such parameter)."""
    p_study, p_storage = aliased(S.Param), aliased(S.Param)
    q = (select(S.Run.id, S.Run.name, S.Run.status, S.Run.start_time, S.Run.end_time,
                S.Experiment.name.label("experiment"), p_study.value.label("study"), p_storage.value.label("storage"))
         .join(S.Experiment, S.Experiment.id == S.Run.experiment_id)
         .join(p_study, and_(p_study.run_id == S.Run.id, p_study.key == "agent.study"))
         .outerjoin(p_storage, and_(p_storage.run_id == S.Run.id, p_storage.key == "agent.storage"))
         .order_by(S.Run.start_time.desc()).limit(limit))
    with st._db.tx() as c:
        return [dict(r) for r in c.execute(q).mappings()]


# ----- reading a study -----------------------------------------------------------------------------------

class StudyUnavailable(Exception):
    """The study's storage is gone or cannot be read; the message says which and why."""


def _dist(d):
    """(kind, low, high, choices) of an Optuna distribution."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if isinstance(d, CategoricalDistribution):
        return {"kind": "cat", "choices": [str(c) for c in d.choices]}
    if isinstance(d, (FloatDistribution, IntDistribution)):
        return {"kind": "log" if d.log else ("int" if isinstance(d, IntDistribution) else "float"),
                "low": float(d.low), "high": float(d.high)}
    return {"kind": "float"}


def read_study(name, storage):
    """The trials of study `name` in `storage` (as the agent recorded it) as
    plain dicts: number, state, value (a pruned trial's last reported value),
    params, dists, history, epochs, seconds, family, run_id, error."""
    if not storage or storage == "memory":
        raise StudyUnavailable("the study was kept in memory (storage='memory'): nothing to read back")
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if "://" in storage:
            if storage.startswith("sqlite:///") and not os.path.exists(storage[len("sqlite:///"):]):
                raise StudyUnavailable(f"the study database {storage[len('sqlite:///'):]} does not exist any more")
            st = optuna.storages.RDBStorage(storage, skip_table_creation=True, skip_compatibility_check=True)
        else:
            if not os.path.exists(storage):
                raise StudyUnavailable(f"the study journal {storage} does not exist any more")
            from optuna.storages.journal import JournalFileBackend, JournalStorage
            st = JournalStorage(JournalFileBackend(storage))
        study = optuna.load_study(study_name=name, storage=st)
        trials = study.get_trials(deepcopy=False)
    except StudyUnavailable:
        raise
    except KeyError:
        raise StudyUnavailable(f"no study {name!r} in {storage}") from None
    except Exception as e:  # noqa: BLE001  (a locked or broken database: the page says so, no 500)
        raise StudyUnavailable(f"the study {name!r} in {storage} cannot be read: {type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''}") from None
    out = []
    for t in trials:
        a = t.user_attrs
        inter = [t.intermediate_values[k] for k in sorted(t.intermediate_values)]
        value = t.value if t.state.name == "COMPLETE" else (inter[-1] if inter else None)
        # As the agent's leaderboard: a trial the time budget ended before its first validation is STOPPED.
        state = "STOPPED" if t.state.name == "FAIL" and a.get("over_budget") else t.state.name
        out.append({"number": t.number, "state": state, "value": value,
                    "params": {k: v for k, v in t.params.items()},
                    "dists": {k: _dist(d) for k, d in t.distributions.items()},
                    "history": a.get("history") or inter, "epochs": a.get("epochs"), "seconds": a.get("seconds"),
                    "family": a.get("family", t.params.get("family")), "run_id": a.get("run_id"),
                    "error": a.get("error"), "worker": a.get("worker")})
    return out


def trials_from_leaderboard(rows):
    """The same dicts from the agent's leaderboard.json (no distributions: the
    axes take the values' range, a log axis when they span two decades)."""
    out = []
    for r in sorted(rows, key=lambda r: r["trial"]):
        params = dict(r.get("params") or {})
        if "family" in params and len({x.get("family") for x in rows}) == 1:
            params.pop("family")
        out.append({"number": r["trial"], "state": r["state"], "value": r.get("value"), "params": params,
                    "dists": {}, "history": r.get("history") or [], "epochs": r.get("epochs"),
                    "seconds": r.get("seconds"), "family": r.get("family"), "run_id": r.get("run_id"),
                    "error": r.get("error"), "worker": r.get("worker")})
    return out


def _finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def importance(trials):
    """{param: importance} by Optuna's fANOVA (seed 0) over the complete
    trials (of the best trial's family, when several families have 3), the
    parameters every one of them has; None below 3 such trials (the agent's
    report computes it the same way)."""
    from ..agent.report import _importance
    rows = [{"state": t["state"], "value": t["value"], "params": t["params"]} for t in trials]
    return _importance(rows)


# ----- charts --------------------------------------------------------------------------------------------

def history_svg(trials, width=640, height=300):
    """Objective per trial (complete: dots; pruned: crosses at their last
    reported value; failed: red marks on the x axis) and the best-so-far line."""
    ml, mr, mt, mb = 64, 16, 34, 38
    pw, ph = width - ml - mr, height - mt - mb
    vals = [t["value"] for t in trials if t["state"] in ("COMPLETE", "PRUNED") and _finite(t["value"])]
    out = svg_open(width, height, "optimization history (objective: validation loss)", ml, "history")
    if not trials:
        return svg_empty(out, width, height, "no trials")
    n0, n1 = min(t["number"] for t in trials), max(t["number"] for t in trials)
    x0, x1 = (n0 - 0.5, n1 + 0.5)
    y0, y1 = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) * 0.05 or 0.5), y1 + (abs(y1) * 0.05 or 0.5)
    pad = (y1 - y0) * 0.06
    y0, y1 = y0 - pad, y1 + pad

    plot = Plot(x0, x1, y0, y1, ml, mt, pw, ph)
    px, py = plot.px, plot.py
    x_ticks = [(t, int(t)) for t in nice_ticks(n0, n1, count=min(8, max(1, n1 - n0))) if float(t).is_integer()]
    out.append(plot.axes([(t, _tick(t)) for t in nice_ticks(y0, y1)], x_ticks, "trial", height))
    # Best so far: a step line through the complete trials in trial order.
    best, pts = None, []
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["state"] == "COMPLETE" and _finite(t["value"]):
            if best is not None:
                pts.append((px(t["number"]), py(best)))
            best = t["value"] if best is None else min(best, t["value"])
            pts.append((px(t["number"]), py(best)))
    if pts:
        pts.append((ml + pw, pts[-1][1]))
        out.append(f'<polyline class="best-so-far" data-best="{best!r}" points="'
                   + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
                   + f'" fill="none" stroke="{COLORS["best"]}" stroke-width="1.8"/>')
    for t in trials:
        x = px(t["number"])
        label = f'trial {t["number"]} ({t["state"].lower()})' + (f': {t["value"]:.4g}' if _finite(t["value"]) else "")
        attrs = f'class="trial-point" data-trial="{t["number"]}" data-state="{t["state"]}"'
        if t["state"] == "COMPLETE" and _finite(t["value"]):
            out.append(f'<circle {attrs} cx="{x:.1f}" cy="{py(t["value"]):.1f}" r="4" fill="{COLORS["COMPLETE"]}">'
                       f'<title>{escape(label)}</title></circle>')
        elif t["state"] == "PRUNED" and _finite(t["value"]):
            y = py(t["value"])
            out.append(f'<path {attrs} d="M{x - 4:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 4:.1f} M{x - 4:.1f},{y + 4:.1f} '
                       f'L{x + 4:.1f},{y - 4:.1f}" stroke="{COLORS["PRUNED"]}" stroke-width="2">'
                       f'<title>{escape(label)}</title></path>')
        elif t["state"] in ("FAIL", "PRUNED", "STOPPED"):
            y = mt + ph
            color = COLORS["STOPPED" if t["state"] == "STOPPED" else "FAIL"]
            out.append(f'<path {attrs} d="M{x - 4:.1f},{y:.1f} L{x:.1f},{y - 8:.1f} L{x + 4:.1f},{y:.1f} Z" '
                       f'fill="{color}"><title>{escape(label)}</title></path>')
    legend = (("complete", COLORS["COMPLETE"]), ("pruned (last value)", COLORS["PRUNED"]),
              ("failed", COLORS["FAIL"]), ("best so far", COLORS["best"]))
    for i, (lab, color) in enumerate(legend):
        lx = ml + i * 140
        out.append(f'<rect x="{lx}" y="21" width="10" height="4" fill="{color}"/>'
                   f'<text x="{lx + 14}" y="27" class="chart-legend">{lab}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _axes(trials):
    """The parallel-coordinates axes: each parameter (family first, then by
    name) with how to place a value on it, and the objective last."""
    names = sorted({k for t in trials for k in t["params"]}, key=lambda k: (k != "family", "." not in k, k))
    axes = []
    for k in names:
        vals = [t["params"][k] for t in trials if k in t["params"]]
        dist = next((t["dists"][k] for t in trials if k in t.get("dists", {})), None)
        numeric = all(_finite(v) for v in vals)
        if dist is None:
            if numeric:
                lo, hi = min(vals), max(vals)
                dist = {"kind": "log" if lo > 0 and hi / lo >= 100 else "float", "low": lo, "high": hi}
            else:
                dist = {"kind": "cat", "choices": sorted({str(v) for v in vals})}
        if dist["kind"] == "cat":
            choices = list(dist["choices"])
            for v in vals:  # a value the distribution does not list (a resumed study's older space)
                if str(v) not in choices:
                    choices.append(str(v))
            axes.append({"name": k, "kind": "cat", "choices": choices})
        else:
            lo = min([dist.get("low", min(vals))] + vals)
            hi = max([dist.get("high", max(vals))] + vals)
            axes.append({"name": k, "kind": "log" if dist["kind"] == "log" and lo > 0 else "num", "low": lo,
                         "high": hi, "int": dist["kind"] == "int"})
    return axes


def _frac(axis, v):
    """0 (bottom) .. 1 (top) of value v on an axis; None when it has no place."""
    if axis["kind"] == "cat":
        c = axis["choices"]
        return 0.5 if len(c) == 1 else c.index(str(v)) / (len(c) - 1)
    if not _finite(v):
        return None
    lo, hi = axis["low"], axis["high"]
    if axis["kind"] == "log":
        if v <= 0:
            return None
        lo, hi, v = math.log10(lo), math.log10(hi), math.log10(v)
    return 0.5 if hi == lo else (v - lo) / (hi - lo)


def _shade(f):
    """Dark blue (best, f=0) to light yellow (worst, f=1)."""
    a, b = (31, 60, 140), (240, 200, 60)
    return "#%02x%02x%02x" % tuple(round(x + (y - x) * f) for x, y in zip(a, b))


def parallel_svg(trials, axis_gap=96, height=320):
    """One polyline per trial across the parameter axes and the objective axis;
    complete trials colored by objective (dark = better), pruned ones grey
    and dashed, failed ones left out. A trial without a parameter (another
    family's) skips that axis."""
    shown = [t for t in trials if t["state"] in ("COMPLETE", "PRUNED") and _finite(t["value"])]
    axes = _axes(shown)
    vals = [t["value"] for t in shown]
    axes.append({"name": "objective", "kind": "num", "low": min(vals, default=0.0), "high": max(vals, default=1.0),
                 "int": False})
    ml, mr, mt, mb = 50, 70, 56, 24
    width = ml + mr + axis_gap * (len(axes) - 1)
    ph = height - mt - mb
    out = svg_open(width, height, "parallel coordinates (dark = lower loss; grey dashed = pruned)", ml, "parallel")
    if not shown:
        return svg_empty(out, width, height, "no trial with a value")
    lo, hi = axes[-1]["low"], axes[-1]["high"]

    def ax_x(i):
        return ml + i * axis_gap

    def ax_y(f):
        return mt + (1 - f) * ph

    # Lines first (worst first, so the best are drawn on top), then the axes over them.
    order = sorted(shown, key=lambda t: (t["state"] == "COMPLETE", -t["value"]))
    for t in order:
        vals_t = [t["params"].get(a["name"], None) if a["name"] != "objective" else t["value"] for a in axes]
        pts = []
        for i, (a, v) in enumerate(zip(axes, vals_t)):
            if a["name"] != "objective" and a["name"] not in t["params"]:
                pts.append(None)
                continue
            f = _frac(a, v)
            pts.append(None if f is None else (ax_x(i), ax_y(f)))
        segs, cur = [], []
        for p in pts + [None]:
            if p is None:
                if len(cur) > 1:
                    segs.append(cur)
                cur = []
            else:
                cur.append(p)
        if t["state"] == "COMPLETE":
            style = f'stroke="{_shade(0.0 if hi == lo else (t["value"] - lo) / (hi - lo))}" stroke-width="1.8"'
        else:
            style = 'stroke="#aaa" stroke-width="1.2" stroke-dasharray="4 3"'
        d = " ".join("M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in s) for s in segs)
        out.append(f'<path class="pc-line" data-trial="{t["number"]}" data-state="{t["state"]}" d="{d}" fill="none" '
                   f'{style}><title>trial {t["number"]}: {t["value"]:.4g}</title></path>')
    for i, a in enumerate(axes):
        x = ax_x(i)
        out.append(f'<g class="pc-axis" data-param="{escape(a["name"])}">'
                   f'<line x1="{x}" x2="{x}" y1="{mt}" y2="{mt + ph}" stroke="#555"/>'
                   f'<text x="{x}" y="{mt - (24 if i % 2 else 12)}" text-anchor="middle" class="chart-tick">{escape(a["name"])}'
                   f'{" (log)" if a["kind"] == "log" else ""}</text>')
        if a["kind"] == "cat":
            for c in a["choices"]:
                y = ax_y(_frac(a, c))
                out.append(f'<text x="{x + 4}" y="{y + 4:.1f}" class="chart-tick">{escape(c)}</text>')
        else:
            for f, v in ((0.0, a["low"]), (1.0, a["high"])):
                text = str(int(v)) if a.get("int") else _tick(v)
                out.append(f'<text x="{x + 4}" y="{ax_y(f) + 4:.1f}" class="chart-tick">{text}</text>')
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def importance_svg(imp, width=560, bar_h=16):
    """Horizontal bars, largest first."""
    items = sorted(imp.items(), key=lambda kv: -kv[1])
    height = int(34 + len(items) * (bar_h + 6))
    top = max([v for _, v in items] + [1e-12])
    out = svg_open(width, height, "parameter importance (fANOVA, complete trials)", 4, "importance")
    for i, (k, v) in enumerate(items):
        y = 26 + i * (bar_h + 6)
        w = (width - 230) * max(v, 0.0) / top
        out.append(f'<g class="importance-bar" data-param="{escape(k)}" data-value="{float(v)!r}">'
                   f'<text x="150" y="{y + bar_h - 4}" text-anchor="end" class="chart-tick">{escape(k)}</text>'
                   f'<rect x="156" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLORS["COMPLETE"]}"/>'
                   f'<text x="{160 + w:.1f}" y="{y + bar_h - 4}" class="chart-tick">{v:.3f}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


# ----- pages ---------------------------------------------------------------------------------------------

@bp.route("/studies")
def index():
    return render_template("studies.html", rows=agent_runs(store()))


@bp.route("/studies/<run_id>")
def study(run_id):
    st = store()
    try:
        run = st.get_run(st.resolve_run(run_id))
    except NotFoundError as e:
        abort(404, f"no agent run {run_id}: {e}")
    params = st.get_params(run.id)
    name = params.get("agent.study")
    if name is None:
        abort(404, f"run {run.id} is not an agent run (it has no agent.study parameter)")
    storage = params.get("agent.storage")
    source, note = "storage", None
    try:
        trials = read_study(name, storage)
    except StudyUnavailable as e:
        note = str(e)
        try:
            with open(st.artifact_file(run.id, "leaderboard.json")) as f:
                trials = trials_from_leaderboard(json.load(f))
            source = "leaderboard.json"
        except (NotFoundError, OSError, ValueError, KeyError):
            trials, source = [], None
    trials.sort(key=lambda t: t["number"])
    imp = importance(trials) if trials else None
    done = [t for t in trials if t["state"] == "COMPLETE" and _finite(t["value"])]
    best = min(done, key=lambda t: t["value"]) if done else None
    counts = {s: sum(t["state"] == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL", "STOPPED", "RUNNING")}
    keys = sorted({k for t in trials for k in t["params"]}, key=lambda k: (k != "family", "." not in k, k))
    return render_template("study.html", run=run, name=name, storage=storage, source=source, note=note,
                           trials=trials, best=best, counts=counts, keys=keys, state_class=STATE_CLASS,
                           history=history_svg(trials), parallel=parallel_svg(trials) if trials else None,
                           importance=importance_svg(imp) if imp else None, importance_values=imp)
