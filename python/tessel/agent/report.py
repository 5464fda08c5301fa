"""The agent's HTML report: one self-contained file (inline CSS and SVG, no
JavaScript) with the profile, the leaderboard, learning curves, the confusion
matrix (classification) or residuals (regression), parameter importance and
the time spent per stage."""
import html
import json
import math

from .profile import _g as _f  # numbers as the profile prints them

__all__ = ["write_report", "svg_lines", "svg_bars", "svg_scatter", "confusion_table"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}pre{background:#f7f7f7;padding:1em;overflow:auto}
h2{margin-top:1.6em;border-bottom:1px solid #ddd}.warn{color:#a50}svg{background:#fff;border:1px solid #eee}"""


def _e(s):
    return html.escape(str(s))


def _finite(vs):
    return [v for v in vs if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]


def svg_lines(series, width=640, height=300, xlabel="epoch", ylabel="value", title=""):
    """Line chart: series = {label: [y0, y1, ...]} (x = 1, 2, ...)."""
    ys = _finite([v for s in series.values() for v in s])
    pad_l, pad_r, pad_t, pad_b = 60, 140, 24, 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    if title:
        out.append(f'<text x="{pad_l}" y="16" font-size="13">{_e(title)}</text>')
    if not ys:
        out.append(f'<text x="{pad_l}" y="{height // 2}">no data</text></svg>')
        return "".join(out)
    n = max(len(s) for s in series.values())
    lo, hi = min(ys), max(ys)
    if hi == lo:
        hi, lo = hi + 0.5, lo - 0.5
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def px(i):
        return pad_l + (pw * (i / (n - 1)) if n > 1 else pw / 2)

    def py(v):
        return pad_t + ph * (1 - (v - lo) / (hi - lo))

    out.append(f'<line x1="{pad_l}" y1="{pad_t + ph}" x2="{pad_l + pw}" y2="{pad_t + ph}" stroke="#888"/>')
    out.append(f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + ph}" stroke="#888"/>')
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        out.append(f'<text x="{pad_l - 6}" y="{py(v) + 4:.1f}" font-size="11" text-anchor="end">{_f(v)}</text>')
    for i in range(n):
        if n <= 12 or i in (0, n - 1) or i % max(1, n // 8) == 0:
            out.append(f'<text x="{px(i):.1f}" y="{pad_t + ph + 15}" font-size="11" text-anchor="middle">{i + 1}</text>')
    out.append(f'<text x="{pad_l + pw / 2:.0f}" y="{height - 6}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>')
    out.append(f'<text x="14" y="{pad_t + ph / 2:.0f}" font-size="11" transform="rotate(-90 14 {pad_t + ph / 2:.0f})" '
               f'text-anchor="middle">{_e(ylabel)}</text>')
    for k, (label, s) in enumerate(series.items()):
        color = _COLORS[k % len(_COLORS)]
        pts = [(px(i), py(v)) for i, v in enumerate(s) if v is not None and math.isfinite(v)]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) + '"/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        ly = pad_t + 14 * k + 8
        out.append(f'<rect x="{pad_l + pw + 10}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{pad_l + pw + 24}" y="{ly + 1}" font-size="11">{_e(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_bars(values, width=640, bar_h=18, title=""):
    """Horizontal bars: values = {label: number}."""
    items = [(k, float(v)) for k, v in values.items() if v is not None and math.isfinite(float(v))]
    height = 30 + bar_h * max(1, len(items)) * 1.4
    hi = max([v for _, v in items] + [1e-12])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" role="img">']
    if title:
        out.append(f'<text x="4" y="14" font-size="13">{_e(title)}</text>')
    for i, (k, v) in enumerate(items):
        y = 24 + i * bar_h * 1.4
        w = (width - 260) * max(v, 0.0) / hi
        out.append(f'<text x="150" y="{y + bar_h * 0.75:.1f}" font-size="11" text-anchor="end">{_e(k)}</text>'
                   f'<rect x="156" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" fill="{_COLORS[0]}"/>'
                   f'<text x="{160 + w:.1f}" y="{y + bar_h * 0.75:.1f}" font-size="11">{_f(v)}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_scatter(xs, ys, width=420, height=360, xlabel="true", ylabel="predicted", diagonal=True, title=""):
    pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    if title:
        out.append(f'<text x="50" y="16" font-size="13">{_e(title)}</text>')
    if not pts:
        return "".join(out) + '<text x="50" y="50">no data</text></svg>'
    def span(vs):
        lo_, hi_ = min(vs), max(vs)
        return (lo_ - 0.5, hi_ + 0.5) if hi_ == lo_ else (lo_, hi_)

    # One range for both axes when the diagonal (y = x) is drawn; else each its own.
    xlo, xhi = span([p[0] for p in pts] + ([p[1] for p in pts] if diagonal else []))
    ylo, yhi = (xlo, xhi) if diagonal else span([p[1] for p in pts])
    lo, hi = xlo, xhi
    pad, pw, ph = 50, width - 70, height - 80

    def sx(v):
        return pad + pw * (v - xlo) / (xhi - xlo)

    def sy(v):
        return 24 + ph * (1 - (v - ylo) / (yhi - ylo))

    out.append(f'<rect x="{pad}" y="24" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    if diagonal:
        out.append(f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#aaa" '
                   f'stroke-dasharray="4"/>')
    for x, y in pts:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{_COLORS[0]}" fill-opacity="0.6"/>')
    out.append(f'<text x="{pad - 4}" y="{24 + ph:.0f}" font-size="11" text-anchor="end">{_f(ylo)}</text>'
               f'<text x="{pad - 4}" y="34" font-size="11" text-anchor="end">{_f(yhi)}</text>')
    out.append(f'<text x="{pad}" y="{height - 30}" font-size="11">{_f(lo)}</text>'
               f'<text x="{pad + pw}" y="{height - 30}" font-size="11" text-anchor="end">{_f(hi)}</text>'
               f'<text x="{pad + pw / 2:.0f}" y="{height - 12}" font-size="11" text-anchor="middle">{_e(xlabel)}</text>'
               f'<text x="12" y="{24 + ph / 2:.0f}" font-size="11" transform="rotate(-90 12 {24 + ph / 2:.0f})" '
               f'text-anchor="middle">{_e(ylabel)}</text></svg>')
    return "".join(out)


def confusion_table(classes, matrix):
    """An HTML table, rows = true class, columns = predicted; cells shaded by share of the row."""
    out = ['<table><tr><th class="l">true \\ predicted</th>' + "".join(f"<th>{_e(c)}</th>" for c in classes) + "</tr>"]
    for c, row in zip(classes, matrix):
        total = sum(row) or 1
        cells = []
        for j, v in enumerate(row):
            alpha = v / total
            color = "44,160,44" if classes[j] == c else "214,39,40"
            cells.append(f'<td style="background:rgba({color},{alpha * 0.8:.2f})">{v}</td>')
        out.append(f'<tr><th class="l">{_e(c)}</th>' + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _confusion(labels, predictions):
    classes = sorted(set(labels) | set(predictions), key=lambda s: (not _isnum(s), _num(s), s))
    idx = {c: i for i, c in enumerate(classes)}
    m = [[0] * len(classes) for _ in classes]
    for t, p in zip(labels, predictions):
        m[idx[t]][idx[p]] += 1
    return classes, m


def _isnum(s):
    try:
        float(s)
        return True
    except (TypeError, ValueError):
        return False


def _num(s):
    return float(s) if _isnum(s) else 0.0


def _importance(rows):
    """Parameter importance from the complete trials (Optuna's fANOVA when it
    can run, else None)."""
    try:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        from optuna.trial import create_trial
        done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
        if len(done) < 3:
            return None
        # Families have their own parameters: with several, those of the best trial's family over its trials
        # (when it has 3), else what every complete trial has, the family among them.
        if len({r["params"].get("family") for r in done}) > 1:
            best = min(done, key=lambda r: r["value"])
            own = [r for r in done if r["params"].get("family") == best["params"].get("family")]
            if len(own) >= 3:
                done = own
        keys = set.intersection(*[set(r["params"]) for r in done])
        trials = []
        for r in done:
            params, dists = {}, {}
            for k in sorted(keys):
                v = r["params"][k]
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    lo = min(float(x["params"][k]) for x in done)
                    hi = max(float(x["params"][k]) for x in done)
                    if hi == lo:
                        continue
                    params[k], dists[k] = float(v), FloatDistribution(lo, hi)
                else:
                    choices = sorted({str(x["params"][k]) for x in done})
                    if len(choices) < 2:
                        continue
                    params[k], dists[k] = str(v), CategoricalDistribution(choices)
            trials.append(create_trial(params=params, distributions=dists, value=float(r["value"])))
        study = optuna.create_study(direction="minimize")
        study.add_trials(trials)
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        return dict(imp) or None
    except Exception:  # noqa: BLE001  (importance is a nicety; too few or too alike trials)
        return None


def write_report(result, path, histories=None):
    """Writes the report of an AgentResult to `path` and returns it."""
    p = result.profile
    rows = result.leaderboard
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>tessel agent: {_e(p.source)}</title><style>{_CSS}</style></head><body>",
             f"<h1>tessel agent report</h1><p>Data <code>{_e(p.source)}</code>: {_e(p.kind)}, {_e(p.task)}, "
             f"{p.n_samples} samples. Study <code>{_e(result.study_name)}</code> in <code>{_e(result.storage)}</code>; "
             f"agent run <code>{_e(result.run_id)}</code>.</p>"]

    # Result
    parts.append("<h2>Result</h2><table>")
    for k, v in result.test_metrics.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f'<tr><th class="l">{_e(k)}</th><td>{_f(v)}</td></tr>')
    mv = result.model_version
    if mv:
        parts.append(f'<tr><th class="l">registered</th><td class="l">{_e(mv["name"])} version {mv["version"]} '
                     f'({", ".join(map(_e, mv.get("aliases") or []))})</td></tr>')
    rf = getattr(result, "refit", None)
    if rf:
        what = (f"trained again with the held-out rows ({rf['rows']} rows); the test metrics above are the model's "
                f"before the refit") if rf["used"] else \
            f"not done (about {_f(rf['estimated_s'])} s needed); the registered model is the evaluated one"
        parts.append(f'<tr><th class="l">refit</th><td class="l" id="refit">{_e(what)}</td></tr>')
    parts.append(f'<tr><th class="l">model folder</th><td class="l">{_e(result.output_dir)}</td></tr></table>')
    b = result.best
    parts.append(f"<p>Best trial {b['trial']} ({_e(b['family'])}): " +
                 ", ".join(f"{_e(k)}={_e(_f(v))}" for k, v in b["params"].items()) + "</p>")

    # Ensemble: the selected weights and validation losses against the best single model.
    e = getattr(result, "ensemble", None)
    if e:
        parts.append(f"<h2>Ensemble</h2><p>Greedy ensemble selection ({e['iterations']} picks with replacement) "
                     f"over the best trials on the shared validation split: {e['loss']} {_f(e['val_loss'])} "
                     f"against {_f(e['best_single_loss'])} for the best single model; "
                     f"{'the ensemble is the final model' if e['used'] else 'not used (no better)'}.</p>"
                     "<table><tr><th>trial</th><th class='l'>family</th><th>weight</th><th>val_loss</th></tr>")
        for m in e["members"]:
            parts.append(f"<tr><td>{m['trial']}</td><td class='l'>{_e(m['family'])}</td><td>{_f(m['weight'])}</td>"
                         f"<td>{_f(m['val_loss'])}</td></tr>")
        parts.append(f"<tr><td>ensemble</td><td class='l'>weighted</td><td>1</td><td>{_f(e['val_loss'])}</td></tr>"
                     "</table>")
    adv = getattr(result, "advice", None)
    if adv:
        parts.append("<h2>Advisor</h2>")
        if adv.get("explanation"):
            parts.append(f"<p>{_e(adv['explanation'])}</p>")
        if adv.get("changes"):
            parts.append(f"<pre>{_e(json.dumps(adv['changes'], indent=1, sort_keys=True))}</pre>")
        for w in adv.get("warnings") or []:
            parts.append(f"<p class='warn'>{_e(w)}</p>")

    # Profile
    parts.append(f"<h2>Profile</h2><pre>{_e(str(p))}</pre>")

    # Leaderboard
    parts.append("<h2>Leaderboard</h2><table><tr><th>rank</th><th>trial</th><th class='l'>family</th>"
                 "<th class='l'>state</th><th>val_loss</th><th>metric</th><th>epochs</th><th>seconds</th>"
                 "<th class='l'>parameters / error</th></tr>")
    for r in rows:
        metric = "-" if r.get("val_metric") is None else f"{r['val_metric_name']}={_f(r['val_metric'])}"
        detail = r["error"] if r.get("error") and r["state"] == "FAIL" else \
            ", ".join(f"{k}={_f(v)}" for k, v in r["params"].items() if k != "family")
        parts.append(f"<tr><td>{r['rank'] or '-'}</td><td>{r['trial']}</td><td class='l'>{_e(r['family'])}</td>"
                     f"<td class='l'>{_e(r['state'])}</td><td>{_f(r['value'])}</td><td>{_e(metric)}</td>"
                     f"<td>{r['epochs']}</td><td>{_f(r['seconds'])}</td><td class='l'>{_e(detail)}</td></tr>")
    parts.append("</table>")

    # Optimization history: each trial's validation loss in trial order and the best so far.
    order = sorted((r for r in rows if r["value"] is not None), key=lambda r: r["trial"])
    if order:
        best, running = [], None
        for r in order:
            if r["state"] == "COMPLETE" and (running is None or r["value"] < running):
                running = r["value"]
            best.append(running)
        parts.append("<h2>Optimization history</h2>" + svg_lines(
            {"trial value": [r["value"] for r in order], "best so far": best}, xlabel="trial (in order)",
            ylabel="validation loss"))

    # Learning curves: the best few trials plus the pruned ones (where pruning cut them).
    histories = histories or {}
    shown = [r for r in rows if r["state"] == "COMPLETE"][:5] + [r for r in rows if r["state"] == "PRUNED"][:3]
    series = {f"trial {r['trial']} ({r['state'].lower()})": histories.get(r["trial"]) or [] for r in shown}
    parts.append("<h2>Learning curves</h2>" + svg_lines(series, ylabel="validation loss"))

    # Confusion matrix or residuals on the held-out split
    preds, labels = result.predictions, result.test_labels
    parts.append("<h2>Held-out split</h2>")
    if preds and labels and p.task == "classification":
        classes, m = _confusion([str(x) for x in labels], [str(x.get("label")) for x in preds])
        parts.append("<p>Confusion matrix (rows: true class).</p>" + confusion_table(classes, m))
    elif preds and labels:
        ys = [float(x) for x in labels]
        ps = [float(x.get("value")) for x in preds]
        res = [a - b for a, b in zip(ps, ys)]
        parts.append(svg_scatter(ys, ps, title="predicted vs true"))
        parts.append(svg_scatter(ps, res, xlabel="predicted", ylabel="residual", diagonal=False, title="residuals"))
    else:
        parts.append("<p>No predictions on the held-out split (model not exported).</p>")

    imp = _importance(rows)
    parts.append("<h2>Parameter importance</h2>")
    parts.append(svg_bars(imp) if imp else "<p>Needs at least 3 complete trials with differing parameters.</p>")

    parts.append("<h2>Time per stage</h2>" + svg_bars({k: v for k, v in result.stages.items()}, title="seconds"))
    if p.warnings:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li class='warn'>{_e(w)}</li>" for w in p.warnings) + "</ul>")
    parts.append("</body></html>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    return path
