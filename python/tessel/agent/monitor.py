"""Drift between the data a model was trained on and new data, per feature:
the population stability index (PSI, numeric and categorical columns) and
the two-sample Kolmogorov-Smirnov statistic with its asymptotic p-value
(numeric columns). NumPy only.

    report = ts.agent.drift("train.csv", "this_week.csv", target="price")
    print(report)            # one row per feature, drifted ones marked
    report.drifted           # True when any feature's PSI is over the threshold

PSI reading: under 0.1 no shift, 0.1-0.25 a moderate one, over 0.25 a large one.
"""
import dataclasses
import io
import json
import math
import os

import numpy as np

from .errors import DataError
from .profile import _as_float, _check_target, _missing, _read_table, profile

__all__ = ["drift", "DriftReport", "psi", "psi_categorical", "ks_2samp"]

_EPS = 1e-4  # floor of a bin's share, so that an empty bin gives a finite PSI


def psi(reference, current, bins=10):
    """PSI of a numeric feature: bins at the reference's quantiles (ties
    merged) and open bins beyond its range, both samples' shares per bin,
    sum((c - r) * ln(c / r))."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        raise ValueError("psi: both samples need at least one finite value")
    # Interior quantiles, plus open bins below the reference's minimum and above its maximum: values
    # outside the reference's range get bins of their own (a constant reference still shows a shift).
    edges = np.unique(np.concatenate([np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]),
                                      [ref.min(), np.nextafter(ref.max(), np.inf)]]))
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1) / ref.size
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1) / cur.size
    return _psi(r, c)


def psi_categorical(reference, current):
    """PSI over the categories of either sample."""
    ref, cur = [str(v) for v in reference], [str(v) for v in current]
    if not ref or not cur:
        raise ValueError("psi_categorical: both samples need at least one value")
    cats = sorted(set(ref) | set(cur))
    idx = {c: i for i, c in enumerate(cats)}
    r = np.bincount([idx[v] for v in ref], minlength=len(cats)) / len(ref)
    c = np.bincount([idx[v] for v in cur], minlength=len(cats)) / len(cur)
    return _psi(r, c)


def _psi(r, c):
    r, c = np.maximum(r, _EPS), np.maximum(c, _EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_2samp(reference, current):
    """(statistic, p-value) of the two-sample Kolmogorov-Smirnov test: the
    largest gap between the empirical CDFs, and the asymptotic p-value of
    the Kolmogorov distribution (with Stephens' small-sample correction)."""
    a = np.sort(np.asarray(reference, dtype=np.float64))
    b = np.sort(np.asarray(current, dtype=np.float64))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_2samp: both samples need at least one finite value")
    grid = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size
                            - np.searchsorted(b, grid, side="right") / b.size)))
    n = a.size * b.size / (a.size + b.size)
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 1e-3:
        return d, 1.0
    p = 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 101))
    return d, float(min(1.0, max(0.0, p)))


@dataclasses.dataclass
class DriftReport:
    reference: str
    current: str
    threshold: float
    features: list          # [{name, kind, psi, ks, p_value, drifted, missing_ref, missing_cur}]
    n_reference: int
    n_current: int

    @property
    def drifted(self):
        return any(f["drifted"] for f in self.features)

    @property
    def drifted_features(self):
        return [f["name"] for f in self.features if f["drifted"]]

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["drifted"] = self.drifted
        return d

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self):
        out = io.StringIO()
        out.write(f"Drift of {self.current} ({self.n_current} rows) against {self.reference} "
                  f"({self.n_reference} rows), PSI threshold {self.threshold:g}\n")
        rows = [("feature", "kind", "psi", "ks", "p", "")]
        for f in self.features:
            rows.append((f["name"], f["kind"], f"{f['psi']:.4f}",
                         "-" if f["ks"] is None else f"{f['ks']:.4f}",
                         "-" if f["p_value"] is None else f"{f['p_value']:.3g}", "DRIFT" if f["drifted"] else ""))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for i, r in enumerate(rows):
            out.write("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
            if i == 0:
                out.write("  " + "  ".join("-" * w for w in widths) + "\n")
        drifted = self.drifted_features
        out.write(f"  {len(drifted)} of {len(self.features)} features drifted"
                  + (f": {', '.join(drifted)}" if drifted else ""))
        return out.getvalue()


def drift(reference, current, target=None, threshold=0.2, bins=10):
    """Per-feature drift of table `current` against table `reference` (CSV,
    TSV or JSONL files with the same columns). The reference's profile says
    which columns are numeric; `target` is left out. A feature drifts when
    its PSI is over `threshold`."""
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or threshold <= 0:
        raise ValueError(f"drift: threshold must be a positive number, got {threshold!r}")
    for p in (reference, current):
        if not isinstance(p, (str, os.PathLike)) or not os.path.isfile(p):
            raise FileNotFoundError(f"drift: {p} is not a table file (CSV, TSV or JSONL)")
    prof = profile(reference, target)
    rh, rrows = _read_table(os.fspath(reference), None)
    ch, crows = _read_table(os.fspath(current), None)
    if not crows:
        raise DataError(f"drift: {current} has no rows")
    features = []
    for col in prof.columns:
        if col.modality not in ("numeric", "categorical"):
            continue
        if col.name not in ch:
            _check_target(col.name, ch, os.fspath(current))  # names the missing column, with did-you-mean
        ri, ci = rh.index(col.name), ch.index(col.name)
        rv = [r[ri] for r in rrows if not _missing(r[ri])]
        cv = [r[ci] for r in crows if not _missing(r[ci])]
        entry = {"name": col.name, "kind": col.modality, "ks": None, "p_value": None,
                 "missing_ref": len(rrows) - len(rv), "missing_cur": len(crows) - len(cv)}
        if not rv or not cv:
            entry.update(psi=0.0 if not rv and not cv else math.inf, drifted=bool(rv) != bool(cv))
            features.append(entry)
            continue
        if col.modality == "numeric":
            cf = [_as_float(v) for v in cv]
            bad = next((v for v, x in zip(cv, cf) if x is None), None)
            if bad is not None:
                entry["kind"] = "categorical"  # new data broke the type: compare as categories
                entry["psi"] = psi_categorical(rv, cv)
            else:
                rf = [_as_float(v) for v in rv]
                entry["psi"] = psi(rf, cf, bins)
                entry["ks"], entry["p_value"] = ks_2samp(rf, cf)
        else:
            entry["psi"] = psi_categorical(rv, cv)
        entry["drifted"] = entry["psi"] > threshold
        features.append(entry)
    return DriftReport(os.fspath(reference), os.fspath(current), float(threshold), features, len(rrows), len(crows))
