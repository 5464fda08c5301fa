"""Boosted trees: tessel's booster (tessel::trees, oblivious trees) against scikit-learn's
HistGradientBoosting (leaf-wise trees), side by side on the same data, the same threads.

Each case grows a fixed number of trees (no early stopping) with 255 bins and
learning rate 0.1: tessel depth 6 (64 leaves), scikit-learn max_leaf_nodes 64
(its trees are not oblivious: the same leaf count, more freedom per tree).
Printed: seconds to fit (median of --repeat), tessel/scikit-learn time ratio,
and the test metric of each (RMSE or log loss), so that speed is not bought
with quality.

    python bench/bench_trees.py [--trees 200] [--repeat 3] [--threads 2]
"""
import argparse
import os
import platform
import statistics
import time

import numpy as np


def cases():
    from sklearn.datasets import load_digits
    rng = np.random.default_rng(0)
    n = 54000
    x = rng.normal(size=(n, 26)).astype(np.float32)
    y = (2 * x[:, 0] + np.sin(3 * x[:, 1]) + x[:, 2] * x[:, 3] + 0.3 * rng.normal(size=n)).astype(np.float32)
    yield "regression 43k x 26", "regression", x[:43000], y[:43000], x[43000:], y[43000:]
    d = load_digits()
    xd, yd = d.data.astype(np.float32), d.target.astype(np.int64)
    idx = rng.permutation(len(yd))
    tr, te = idx[:1400], idx[1400:]
    yield "digits 1.4k x 64, 10 classes", "classification", xd[tr], yd[tr], xd[te], yd[te]
    xb = rng.normal(size=(20000, 40)).astype(np.float32)
    yb = ((xb[:, :5].sum(1) + np.sin(xb[:, 5] * 2) + 0.5 * rng.normal(size=20000)) > 0).astype(np.int64)
    yield "binary 16k x 40", "classification", xb[:16000], yb[:16000], xb[16000:], yb[16000:]


def metric(task, y, out):
    if task == "regression":
        return "rmse", float(np.sqrt(np.mean((out - y) ** 2)))
    p = np.clip(out[np.arange(len(y)), y], 1e-15, 1)
    return "log loss", float(-np.mean(np.log(p)))


def fit_tessel(task, x, y, xt, trees):
    import tessel as ts
    from tessel.models import BoostedTrees
    k = int(y.max()) + 1 if task == "classification" else 0
    t0 = time.perf_counter()
    b = ts._C._trees.Booster(ts.from_numpy(x), ts.from_numpy(y), loss="log_loss" if k else "squared_error",
                             num_classes=k, depth=6, learning_rate=0.1, l2=1.0)
    b.grow(trees)
    seconds = time.perf_counter() - t0
    m = BoostedTrees(x.shape[1], k or 1, depth=6)
    m.set_trees(*b.ensemble())
    out = m(ts.from_numpy(xt)).numpy()
    if k:
        out = np.exp(out - out.max(1, keepdims=True))
        out /= out.sum(1, keepdims=True)
    else:
        out = out[:, 0]
    return seconds, out


def fit_sklearn(task, x, y, xt, trees):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    cls = HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor
    m = cls(max_iter=trees, learning_rate=0.1, max_leaf_nodes=64, max_depth=None, min_samples_leaf=20,
            l2_regularization=1.0, max_bins=255, early_stopping=False, random_state=0)
    t0 = time.perf_counter()
    m.fit(x, y)
    seconds = time.perf_counter() - t0
    return seconds, (m.predict_proba(xt) if task == "classification" else m.predict(xt))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trees", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import sklearn
    import tessel as ts
    ts.set_num_threads(a.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; threads {a.threads}; "
          f"tessel {ts.__version__}, scikit-learn {sklearn.__version__}; {a.trees} trees, median of {a.repeat}")
    print(f"| case | tessel s | scikit-learn s | ratio | tessel metric | scikit-learn metric |")
    print("|---|---|---|---|---|---|")
    for name, task, x, y, xt, yt in cases():
        ts_s, sk_s = [], []
        for _ in range(a.repeat):  # alternated, so that both see the same moments of a noisy machine
            s, out_t = fit_tessel(task, x, y, xt, a.trees)
            ts_s.append(s)
            s, out_s = fit_sklearn(task, x, y, xt, a.trees)
            sk_s.append(s)
        mt, st = statistics.median(ts_s), statistics.median(sk_s)
        kind, vt = metric(task, yt, out_t)
        _, vs = metric(task, yt, out_s)
        print(f"| {name} | {mt:.2f} | {st:.2f} | {mt / st:.2f}x | {kind} {vt:.4g} | {kind} {vs:.4g} |", flush=True)


if __name__ == "__main__":
    main()
