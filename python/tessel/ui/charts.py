"""Line charts as inline SVG, drawn on the server (no JavaScript, no CDN).

A chart takes Series (queries.Series: x, y and the min/max band of each
bucket), optional EMA smoothing and a log y axis, and returns SVG markup.
"""
import math

from markupsafe import Markup, escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
W, H = 560, 250
ML, MR, MT, MB = 64, 16, 24, 36  # margins: room for tick labels


def smooth(s, weight):
    """TensorBoard's debiased exponential moving average over the series. A
    bucket of n points counts as n points at its mean (weight ** n), so
    smoothing looks the same whether or not the series was downsampled."""
    if not weight:
        return list(s.y)
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {weight}")
    out, last, total = [], 0.0, 0.0
    for y, n in zip(s.y, s.n):
        if math.isnan(y):
            out.append(math.nan)
            continue
        w = weight ** n
        last = last * w + (1 - w) * y
        total = total * w + (1 - w)
        out.append(last / total)
    return out


def nice_ticks(lo, hi, count=5):
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi == lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    t = math.ceil(lo / step) * step
    out = []
    while t <= hi + step * 1e-9:
        out.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return out


def log_ticks(lo, hi):
    """Ticks (as log10 values) for a log axis spanning [lo, hi] in log10: 1-2-5
    per decade, or decades only when that is too many; linear ticks inside
    less than one decade."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    for mults in ((1, 2, 5), (1,)):
        ticks = [math.log10(m) + k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in mults]
        ticks = [t for t in ticks if lo <= t <= hi]
        if 2 <= len(ticks) <= 8:
            return ticks
        if len(ticks) > 8:
            continue
        break
    if len(ticks) > 8:  # many decades: every few
        step = math.ceil(len(ticks) / 6)
        return ticks[::step]
    return [math.log10(t) for t in nice_ticks(10 ** lo, 10 ** hi) if t > 0]


def _label(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


def svg_open(width, height, title, title_x=ML, svg_id=None):
    """The opening markup every chart shares: the svg element, its accessible title and the visible title."""
    ident = f' id="{svg_id}"' if svg_id else ""
    return [f'<svg class="chart"{ident} xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
            f'<title>{escape(title)}</title>',
            f'<text x="{title_x}" y="15" class="chart-title">{escape(title)}</text>']


def svg_empty(out, width, height, text):
    """Closes a chart that has nothing to draw, with `text` in its middle."""
    out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty">{text}</text></svg>')
    return Markup("".join(out))


class Plot:
    """The plot area of a chart: maps data ranges [x0, x1] x [y0, y1] onto the pixels of the frame at
    (left, top), size pw x ph, and draws the frame, the y grid with its labels and the x labels."""

    def __init__(self, x0, x1, y0, y1, left, top, pw, ph):
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1
        self.left, self.top, self.pw, self.ph = left, top, pw, ph

    def px(self, x):
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.pw

    def py(self, y):
        return self.top + (1 - (y - self.y0) / (self.y1 - self.y0)) * self.ph

    def axes(self, y_ticks, x_ticks, x_label, height):
        """Markup of the frame and axes; y_ticks and x_ticks are (value, label text) pairs."""
        left, top, pw, ph = self.left, self.top, self.pw, self.ph
        out = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="chart-frame"/>']
        for t, text in y_ticks:
            yy = self.py(t)
            out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" class="chart-grid"/>'
                       f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" class="chart-tick">{text}</text>')
        for t, text in x_ticks:
            out.append(f'<text x="{self.px(t):.1f}" y="{top + ph + 16}" text-anchor="middle" class="chart-tick">'
                       f'{text}</text>')
        out.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle" class="chart-axis">'
                   f'{x_label}</text>')
        return "".join(out)


def chart(series, title="", smoothing=0.0, log_y=False, labels=None, width=W, height=H):
    """SVG markup of one chart. series: list of queries.Series (one color
    each); labels: legend text per series (default: their keys)."""
    labels = labels or [s.key for s in series]
    legend_rows = math.ceil(len(series) / 3) if len(series) > 1 else 0
    mt = MT + 13 * legend_rows  # the legend sits between the title and the plot
    pw, ph = width - ML - MR, height - mt - MB
    lines, dropped = [], 0
    xs, ys = [], []
    for i, s in enumerate(series):
        y_s = smooth(s, smoothing)
        pts = []
        for x, y, lo, hi, ys_ in zip(s.x, s.y, s.lo, s.hi, y_s):
            vals = (y, lo, hi, ys_)
            if log_y:
                if not y > 0:  # NaN stays a gap below
                    dropped += not math.isnan(y)
                    continue
                # a band or smoothed value <= 0 has no place on a log axis: left out, the line stays
                vals = tuple(math.log10(v) if v > 0 else math.nan for v in vals)
            if math.isnan(vals[0]) or math.isinf(vals[0]):
                continue
            pts.append((x, *vals))
        lines.append(pts)
        for p in pts:
            xs.append(p[0])
            ys.extend(v for v in p[1:] if math.isfinite(v))
    out = svg_open(width, height, title)
    if not xs:
        return svg_empty(out, width, height, f'no points{" above 0 for the log axis" if log_y and dropped else ""}')
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    pad = (y1 - y0) * 0.04
    y0, y1 = y0 - pad, y1 + pad

    plot = Plot(x0, x1, y0, y1, ML, mt, pw, ph)
    px, py = plot.px, plot.py
    y_ticks = [(t, _label(10 ** t)) for t in log_ticks(y0, y1)] if log_y else [(t, _label(t)) for t in nice_ticks(y0, y1)]
    out.append(plot.axes(y_ticks, [(t, _label(t)) for t in nice_ticks(x0, x1)], f'step{" (log y)" if log_y else ""}',
                         height))
    for i, pts in enumerate(lines):
        color = PALETTE[i % len(PALETTE)]
        if not pts:
            continue
        if series[i].bucketed:  # the min-max band of each bucket keeps spikes visible after downsampling
            band = [p for p in pts if math.isfinite(p[2]) and math.isfinite(p[3])]
            if band:
                up = " ".join(f"{px(p[0]):.1f},{py(p[3]):.1f}" for p in band)
                down = " ".join(f"{px(p[0]):.1f},{py(p[2]):.1f}" for p in reversed(band))
                out.append(f'<polygon points="{up} {down}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
        raw = " ".join(f"{px(p[0]):.1f},{py(p[1]):.1f}" for p in pts)
        if smoothing:
            out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-opacity="0.3" '
                       f'stroke-width="1"/>')
            sm = " ".join(f"{px(p[0]):.1f},{py(p[4]):.1f}" for p in pts if math.isfinite(p[4]))
            out.append(f'<polyline points="{sm}" fill="none" stroke="{color}" stroke-width="1.8" '
                       f'class="series" data-series="{escape(labels[i])}"/>')
        else:
            out.append(f'<polyline points="{raw}" fill="none" stroke="{color}" stroke-width="1.5" '
                       f'class="series" data-series="{escape(labels[i])}"/>')
    if len(series) > 1:
        for i, lab in enumerate(labels):
            lx = ML + (i % 3) * (pw // 3)
            ly = MT + 8 + (i // 3) * 13
            out.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="3" fill="{PALETTE[i % len(PALETTE)]}"/>'
                       f'<text x="{lx + 14}" y="{ly - 3}" class="chart-legend">{escape(lab)}</text>')
    if dropped:
        out.append(f'<text x="{ML + pw}" y="15" text-anchor="end" class="chart-note">{dropped} points &lt;= 0 '
                   f'not shown (log axis)</text>')
    out.append("</svg>")
    return Markup("".join(out))
