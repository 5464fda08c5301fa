"""Pipelines: the runs of `tessel pipeline run` (every engine: local, Prefect,
Airflow), each as a DAG with every step's state, attempts, duration and error,
and links to the step runs (their log.txt and output.json). The data is what
the engines record through tessel.automation.record: a run per pipeline (tag
kind=pipeline, artifact state.json) and a run per step (tag kind=pipeline_step)."""
import json
from html import escape

from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup

from ..store import NotFoundError

bp = Blueprint("pipelines", __name__)
PREFIX = "pipeline:"
COLORS = {"FINISHED": ("#e6f4ea", "#1e7b34"), "FAILED": ("#fde8e7", "#b3261e"), "SKIPPED": ("#f1f1f1", "#777"),
          "RUNNING": ("#e7eefc", "#1a56db"), "PENDING": ("#fff", "#999")}


def store():
    return current_app.extensions["tessel_store"]


@bp.route("/pipelines")
def index():
    st = store()
    rows = []
    for e in st.list_experiments():
        if not e["name"].startswith(PREFIX):
            continue
        for r in st.search_runs(e["name"], limit=200):
            tags = st.get_tags(r.id)
            if tags.get("kind") == "pipeline":
                rows.append({"run": r, "pipeline": e["name"][len(PREFIX):], "state": tags.get("state", r.status),
                             "engine": tags.get("engine", "local")})
    rows.sort(key=lambda x: -x["run"].start_time)
    return render_template("pipelines.html", rows=rows)


@bp.route("/pipelines/<run_id>")
def pipeline(run_id):
    st = store()
    try:
        run = st.get_run(st.resolve_run(run_id))
        with open(st.artifact_file(run.id, "state.json")) as f:
            state = json.load(f)
    except NotFoundError as e:
        abort(404, f"no pipeline run {run_id}: {e}")
    except (OSError, ValueError) as e:
        abort(500, f"the state of pipeline run {run_id} cannot be read: {e}")
    steps = state.get("steps", {})
    order = [n for n in state.get("order", steps) if n in steps]
    tags = st.get_tags(run.id)
    engine_ids = {k: v for k, v in sorted(tags.items()) if k.startswith(("prefect_", "airflow_"))}
    return render_template("pipeline.html", run=run, name=state.get("name", run.name), order=order, steps=steps,
                           dag=dag_svg(order, steps), engine=tags.get("engine", "local"), engine_ids=engine_ids)


def _layers(order, steps):
    """Each step's column: one more than the deepest step it needs."""
    depth = {}
    for n in order:  # topological already
        depth[n] = 1 + max((depth[d] for d in steps[n].get("needs", []) if d in depth), default=-1)
    return depth


def dag_svg(order, steps, box_w=150, box_h=46, gap_x=60, gap_y=18):
    """The DAG as inline SVG: columns by depth, boxes colored by state, edges from needs."""
    if not order:
        return Markup("")
    depth = _layers(order, steps)
    cols = {}
    for n in order:
        cols.setdefault(depth[n], []).append(n)
    pos = {}
    for c, names in cols.items():
        for r, n in enumerate(names):
            pos[n] = (10 + c * (box_w + gap_x), 10 + r * (box_h + gap_y))
    width = 20 + (max(cols) + 1) * (box_w + gap_x) - gap_x
    height = 20 + max(len(v) for v in cols.values()) * (box_h + gap_y) - gap_y
    parts = [f'<svg class="dag" id="dag" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="pipeline graph">']
    for n in order:
        x1, y1 = pos[n]
        for d in steps[n].get("needs", []):
            if d in pos:
                x0, y0 = pos[d]
                parts.append(f'<path d="M{x0 + box_w},{y0 + box_h / 2} C{x0 + box_w + gap_x / 2},{y0 + box_h / 2} '
                             f'{x1 - gap_x / 2},{y1 + box_h / 2} {x1},{y1 + box_h / 2}" fill="none" '
                             f'stroke="#9aa3ad" stroke-width="1.5"/>')
    for n in order:
        s = steps[n]
        x, y = pos[n]
        fill, ink = COLORS.get(s.get("state"), COLORS["PENDING"])
        dur = s.get("duration_s")
        sub = s.get("state", "?") + (f" · {dur:.1f}s" if isinstance(dur, (int, float)) else "")
        if (s.get("attempts") or 0) > 1:
            sub += f" · {s['attempts']} tries"
        parts.append(f'<g class="dag-node" data-step="{escape(n)}" data-state="{escape(str(s.get("state")))}">'
                     f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="{fill}" stroke="{ink}"/>'
                     f'<text x="{x + 8}" y="{y + 18}" font-size="13" font-weight="600" fill="#222">'
                     f'{escape(n)} <tspan fill="#777" font-weight="400">({escape(str(s.get("task", "")))})</tspan>'
                     f'</text><text x="{x + 8}" y="{y + 36}" font-size="12" fill="{ink}">{escape(sub)}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
