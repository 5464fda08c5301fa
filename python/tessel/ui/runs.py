"""Runs: the table (filter, sort, paginate, CSV), one run, and a comparison."""
import csv
import io
import math

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from ..store import ArtifactPathError, NotFoundError
from . import charts, queries

bp = Blueprint("runs", __name__)
MAX_COMPARE = 20


def store():
    return current_app.extensions["tessel_store"]


def _int_arg(name, default, lo, hi):
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        v = int(raw)
    except ValueError:
        abort(400, f"{name} must be an integer, got {raw!r}")
    if not lo <= v <= hi:
        abort(400, f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def chart_options():
    """smoothing, log axis and bucket count from the query string."""
    raw = request.args.get("smooth", "0") or "0"
    try:
        sm = float(raw)
    except ValueError:
        abort(400, f"smooth must be a number in [0, 0.99], got {raw!r}")
    if not (0 <= sm <= 0.99):
        abort(400, f"smooth must be in [0, 0.99], got {raw!r}")
    return {"smoothing": sm, "log_y": request.args.get("log") in ("1", "on", "true"),
            "buckets": _int_arg("points", 500, 10, 5000)}


def _filters():
    args = request.args
    try:
        return {"experiment": args.get("experiment") or None, "status": args.get("status") or None,
                "params": queries.parse_filters(args.get("param", ""), "param"),
                "metrics": queries.parse_filters(args.get("metric", ""), "metric"),
                "sort": args.get("sort") or "start_time", "descending": args.get("dir", "desc") != "asc"}
    except queries.QueryError as e:
        abort(400, str(e))


def _columns(runs, params, summary, limit_params=12, limit_metrics=12):
    """Parameter columns (those that differ between the rows first) and metric columns (system/ last)."""
    keys = sorted({k for r in runs for k in params.get(r.id, {})})
    differing = [k for k in keys if len({params[r.id].get(k) for r in runs}) > 1]
    pcols = (differing + [k for k in keys if k not in differing])[:limit_params]
    mkeys = sorted({k for r in runs for k in summary.get(r.id, {})},
                   key=lambda k: (k.startswith("system/"), k.startswith("step/"), k))
    return pcols, mkeys[:limit_metrics]


@bp.route("/runs")
def table():
    f = _filters()
    per_page = _int_arg("per_page", 50, 1, 500)
    page = _int_arg("page", 1, 1, 10 ** 9)
    try:
        runs, total = queries.search(store(), page=page, per_page=per_page, **f)
    except queries.QueryError as e:
        abort(400, str(e))
    ids = [r.id for r in runs]
    params = queries.params_of(store(), ids)
    per_step = request.args.get("step_metrics") == "1"
    summary = queries.summaries(store(), ids, per_step=per_step)
    pcols, mcols = _columns(runs, params, summary)
    pages = max(1, math.ceil(total / per_page))
    experiments = store().list_experiments()

    def link(**over):
        args = request.args.to_dict()
        args.update({k: v for k, v in over.items()})
        return url_for("runs.table", **{k: v for k, v in args.items() if v not in (None, "")})

    def sort_link(key):
        desc = not (f["sort"] == key and f["descending"])
        return link(sort=key, dir="desc" if desc else "asc", page=1)

    return render_template("runs.html", runs=runs, total=total, page=page, pages=pages, per_page=per_page,
                           params=params, summary=summary, pcols=pcols, mcols=mcols, f=f, args=request.args,
                           experiments=experiments, statuses=queries.RUN_STATUSES, link=link, sort_link=sort_link,
                           per_step=per_step, csv_url=url_for("runs.export_csv", **request.args.to_dict()))


@bp.route("/runs.csv")
def export_csv():
    """Every run that matches the filters (no pagination): params and min/max/last of each metric."""
    f = _filters()
    try:
        runs = queries.search_all(store(), **f)
    except queries.QueryError as e:
        abort(400, str(e))
    ids = [r.id for r in runs]
    params = queries.params_of(store(), ids)
    summary = queries.summaries(store(), ids, per_step=request.args.get("step_metrics") == "1")
    pkeys = sorted({k for p in params.values() for k in p})
    mkeys = sorted({k for s in summary.values() for k in s})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run_id", "name", "experiment", "status", "start_time", "end_time", "duration"]
               + [f"param.{k}" for k in pkeys]
               + [f"metric.{k}.{a}" for k in mkeys for a in ("min", "max", "last")])
    for r in runs:
        s = summary.get(r.id, {})
        w.writerow([r.id, r.name or "", r.experiment, r.status, r.start_time, r.end_time or "", r.duration or ""]
                   + [params[r.id].get(k, "") for k in pkeys]
                   + [_csv_num(s[k][a]) if k in s else "" for k in mkeys for a in ("min", "max", "last")])
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="runs.csv"'})


def _csv_num(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(v) if isinstance(v, float) else v


def _run_or_404(run_id):
    try:
        return store().get_run(run_id)
    except NotFoundError as e:
        abort(404, str(e))
    except ValueError as e:
        abort(400, str(e))


@bp.route("/runs/<run_id>")
def run(run_id):
    info = _run_or_404(run_id)
    opts = chart_options()
    st = store()
    keys = st.metric_keys(info.id)
    summary = {}
    plots, system = [], []
    for k, (s, summ) in zip(keys, queries.many_series(st, [(info.id, k) for k in keys], opts["buckets"])):
        summary[k] = summ  # from the series: no second scan
        svg = charts.chart([s], title=k, smoothing=opts["smoothing"], log_y=opts["log_y"])
        (system if k.startswith("system/") else plots).append({"key": k, "svg": svg, "total": s.total,
                                                               "bucketed": s.bucketed})
    models = [v for v in _versions_of_run(info.id)]
    return render_template("run.html", run=info, params=st.get_params(info.id), tags=st.get_tags(info.id),
                           summary=summary, plots=plots, system=system, artifacts=st.list_artifacts(info.id),
                           opts=opts, models=models)


def _versions_of_run(run_id):
    from sqlalchemy import select

    from ..store import schema as S
    with store()._db.tx() as c:
        return [{"name": n, "version": v} for n, v in c.execute(
            select(S.RegisteredModel.name, S.ModelVersion.version).join(
                S.RegisteredModel, S.RegisteredModel.id == S.ModelVersion.model_id)
            .where(S.ModelVersion.run_id == run_id).order_by(S.RegisteredModel.name, S.ModelVersion.version))]


@bp.route("/runs/<run_id>/artifacts/<path:path>")
def artifact(run_id, path):
    info = _run_or_404(run_id)
    try:
        full = store().artifact_file(info.id, path)  # refuses absolute paths, '..' and links leaving the folder
    except ArtifactPathError as e:
        abort(400, str(e))
    except NotFoundError as e:
        abort(404, str(e))
    # Always a download: an HTML or SVG artifact shown inline would run in the UI's origin.
    return send_file(full, as_attachment=True, download_name=path.rsplit("/", 1)[-1])


@bp.route("/compare")
def compare():
    ids = [i for i in request.args.getlist("run") if i]
    if len(ids) < 2:
        abort(400, "compare needs at least two runs: tick them in the runs table (or pass ?run=ID&run=ID)")
    if len(ids) > MAX_COMPARE:
        abort(400, f"compare takes at most {MAX_COMPARE} runs, got {len(ids)}")
    runs = []
    for i in ids:
        r = _run_or_404(i)
        if r.id not in [x.id for x in runs]:
            runs.append(r)
    opts = chart_options()
    st = store()
    rid = [r.id for r in runs]
    params = queries.params_of(st, rid)
    jobs = [(r, k) for r in rid for k in st.metric_keys(r)]
    done = queries.many_series(st, jobs, opts["buckets"])
    series = {r: {} for r in rid}
    summary = {r: {} for r in rid}
    for (r, k), (s, summ) in zip(jobs, done):
        series[r][k], summary[r][k] = s, summ
    keys = sorted({k for p in params.values() for k in p})
    show_all = request.args.get("all_params") == "1"
    differing = [k for k in keys if len({params[r].get(k) for r in rid}) > 1]
    pkeys = keys if show_all else differing
    mkeys = sorted({k for s in summary.values() for k in s},
                   key=lambda k: (k.startswith("system/"), k.startswith("step/"), k))
    labels = [f"{(r.name or r.id[:8])}" for r in runs]
    plots = []
    for k in mkeys:
        drawn = [series[r.id].get(k) or queries.Series(k, 0, False) for r in runs]
        plots.append({"key": k, "svg": charts.chart(drawn, title=k, smoothing=opts["smoothing"],
                                                     log_y=opts["log_y"], labels=labels)})
    return render_template("compare.html", runs=runs, params=params, pkeys=pkeys, differing=differing,
                           n_params=len(keys), show_all=show_all, summary=summary, mkeys=mkeys, plots=plots,
                           opts=opts, labels=labels)
