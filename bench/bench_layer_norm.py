"""layer_norm (weight and bias, float32) forward and forward+backward against PyTorch, side by side.

Rows of 64, 768 and 4096 elements, 2^18 elements in all, one thread by default.
Three columns: tessel's fused kernels (F.layer_norm), the same formula as ops
(mean, var, rsqrt, mul, add: what F.layer_norm ran before the fused kernels) and
PyTorch. Medians of the repeats; ratios are tessel / PyTorch.

    PYTHONPATH=<overlay> /opt/torchref/bin/python bench/bench_layer_norm.py --threads 1
"""
from __future__ import annotations

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def main() -> None:
    p = common.base_parser(__doc__.splitlines()[0], default_threads="1")
    args = p.parse_args()
    import numpy as np
    ts, torch = common.import_tessel(), common.import_torch()
    if torch is None:
        raise SystemExit("needs PyTorch")
    common.start("bench_layer_norm.py", "layer_norm float32 vs PyTorch", args, np, ts, torch)
    import tessel.nn.functional as F
    repeat = 3 if args.quick else 9

    def ops_ln(x, w, b):  # the op-by-op form
        mu = x.mean((x.dim() - 1,), True)
        var = ts.var(x, x.dim() - 1, correction=0, keepdim=True)
        return (x - mu) * ts.rsqrt(var + 1e-5) * w + b

    rows = []
    for threads in common.parse_threads(args.threads):
        ts.set_num_threads(threads)
        torch.set_num_threads(threads)
        for d in (64, 768, 4096):
            r = (1 << 18) // d
            xn = np.random.default_rng(d).standard_normal((r, d)).astype(np.float32)
            wn, bn = np.ones(d, np.float32) * 1.5, np.full(d, 0.25, np.float32)
            gn = np.random.default_rng(d + 1).standard_normal((r, d)).astype(np.float32)
            X, W, B, G = (ts.tensor(a) for a in (xn, wn, bn, gn))
            XT, WT, BT, GT = (torch.from_numpy(a.copy()) for a in (xn, wn, bn, gn))
            ok = common.check_close(f"layer_norm d={d}", F.layer_norm(X, (d,), W, B).numpy(),
                                    torch.nn.functional.layer_norm(XT, (d,), WT, BT).numpy())
            ok &= common.check_close(f"ops form d={d}", ops_ln(X, W, B).numpy(),
                                     torch.nn.functional.layer_norm(XT, (d,), WT, BT).numpy())
            if not ok:
                continue

            def fb(fn, lib, x, w, b, g):
                def run():
                    xs, ws, bs = (t.detach().requires_grad_() for t in (x, w, b))
                    fn(xs, ws, bs).backward(g)
                return run

            fused = lambda x, w, b: F.layer_norm(x, (d,), w, b)  # noqa: E731
            th = lambda x, w, b: torch.nn.functional.layer_norm(x, (d,), w, b)  # noqa: E731
            for kind in ("forward", "forward+backward"):
                if kind == "forward":
                    fns = [lambda: fused(X, W, B), lambda: ops_ln(X, W, B), lambda: th(XT, WT, BT)]
                else:
                    fns = [fb(fused, ts, X, W, B, G), fb(ops_ln, ts, X, W, B, G), fb(th, torch, XT, WT, BT, GT)]
                med = [statistics.median(common.measure(f, repeat=repeat).samples_ns) / 1e3 for f in fns]
                rows.append([threads, f"{r}x{d}", kind, f"{med[0]:.0f}", f"{med[1]:.0f}", f"{med[2]:.0f}",
                             common.fmt_ratio(med[0] / med[2]), common.fmt_ratio(med[1] / med[2])])
    common.print_table(["threads", "shape", "pass", "fused us", "ops us", "torch us", "fused/torch", "ops/torch"],
                       rows, title="layer_norm float32 (medians)")


if __name__ == "__main__":
    main()
