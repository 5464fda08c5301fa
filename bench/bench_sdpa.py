#!/usr/bin/env python3
"""scaled_dot_product_attention: tessel's fused kernel vs its composite vs PyTorch.

q, k, v in MultiheadAttention's layout ([N, L, H, hd] viewed as [N, H, L, hd]),
float32, forward (no_grad) and forward+backward (a fixed random output gradient).
Three variants in one process: tessel's fused flash-style kernel
(kernels/cpu/attention.cpp), tessel's composite (TESSEL_SDPA_FUSED=0, read per
call; `all` for the fused one, which by default runs for causal attention only)
and PyTorch. The variants alternate round by round; each sample is the
CPU time of the calling thread (time.thread_time_ns) over a few calls, so that
time spent descheduled on a loaded machine is not counted (1 thread only; with
more threads the figures are wall time). Medians of --rounds rounds. Outputs and
input gradients are checked against PyTorch first.

    PYTHONPATH=<overlay> /opt/torchref/bin/python bench/bench_sdpa.py [--threads 1] [--rounds 15]
        [--shapes 32x4x64x32,4x8x256x64] [--no-causal]
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import common  # noqa: E402


def parse_shapes(text):
    out = []
    for part in text.split(","):
        dims = [int(x) for x in part.strip().split("x")]
        if len(dims) != 4 or min(dims) < 1:
            raise SystemExit(f"--shapes: expected NxHxLxHD, got {part!r}")
        out.append(tuple(dims))
    return out


def bench_shape(ts, torch, shape, causal, n_threads, rounds, rep):
    F = ts.nn.functional
    N, H, L, hd = shape
    rng = np.random.default_rng(0)
    base = [rng.standard_normal((N, L, H, hd)).astype(np.float32) for _ in range(3)]
    g_np = rng.standard_normal((N, H, L, hd)).astype(np.float32)
    leaves = [ts.tensor(b).requires_grad_() for b in base]
    g = ts.tensor(g_np)

    def ts_fwd():
        with ts.no_grad():
            return F.scaled_dot_product_attention(*[t.transpose(1, 2) for t in leaves], is_causal=causal)

    def ts_fwdbwd():
        for t in leaves:
            t.grad = None
        F.scaled_dot_product_attention(*[t.transpose(1, 2) for t in leaves], is_causal=causal).backward(g)

    fns = {"fused": (ts_fwd, ts_fwdbwd), "composite": (ts_fwd, ts_fwdbwd)}
    if torch is not None:
        tF = torch.nn.functional
        hleaves = [torch.from_numpy(b.copy()).requires_grad_(True) for b in base]
        hg = torch.from_numpy(g_np.copy())

        def th_fwd():
            with torch.no_grad():
                return tF.scaled_dot_product_attention(*[t.transpose(1, 2) for t in hleaves], is_causal=causal)

        def th_fwdbwd():
            for t in hleaves:
                t.grad = None
            tF.scaled_dot_product_attention(*[t.transpose(1, 2) for t in hleaves], is_causal=causal).backward(hg)

        fns["torch"] = (th_fwd, th_fwdbwd)
    # "all": the fused kernel also where it is not the default (no causal mask)
    modes = {"fused": "all", "composite": "0", "torch": ""}
    label = f"[{N},{H},{L},{hd}]{' causal' if causal else ''}"
    if torch is not None:  # correctness of both tessel paths against PyTorch
        th_fwdbwd()
        ref = [th_fwd().numpy()] + [t.grad.numpy() for t in hleaves]
        for mode in ("fused", "composite"):
            os.environ["TESSEL_SDPA_FUSED"] = modes[mode]
            ts_fwdbwd()
            got = [np.asarray(ts_fwd())] + [t.grad.numpy() for t in leaves]
            for name, a, b in zip(("out", "dq", "dk", "dv"), got, ref):
                common.check_close(f"sdpa {label} {mode} {name} vs torch", a, b, rtol=1e-4, atol=1e-5,
                                   notes=rep.notes)
    clock = time.thread_time_ns if n_threads == 1 else time.perf_counter_ns
    per = {}
    for phase in (0, 1):
        # calls per sample: about 20 ms of the slowest variant
        t0 = time.perf_counter_ns()
        fns["fused"][phase]()
        number = max(1, int(0.02e9 / max(time.perf_counter_ns() - t0, 1)))
        samples = {m: [] for m in fns}
        for _ in range(rounds + 1):  # the first round is a warm-up
            for mode, pair in fns.items():
                os.environ["TESSEL_SDPA_FUSED"] = modes[mode]
                t0 = clock()
                for _ in range(number):
                    pair[phase]()
                samples[mode].append((clock() - t0) / number / 1e3)
        per[phase] = {m: statistics.median(v[1:]) for m, v in samples.items()}
        per[phase]["spread"] = {m: (max(v[1:]) - min(v[1:])) / statistics.median(v[1:]) for m, v in samples.items()}
    os.environ.pop("TESSEL_SDPA_FUSED", None)
    rows = []
    for phase, name in ((0, "fwd"), (1, "fwd+bwd")):
        us = per[phase]
        r_c = us["fused"] / us["composite"]
        r_t = us["fused"] / us["torch"] if "torch" in us else None
        rows.append([label, name, n_threads, f"{us['fused']:,.0f}", f"{us['composite']:,.0f}",
                     common.fmt(us.get("torch"), ",.0f"), f"{r_c:.2f}x", common.fmt_ratio(r_t),
                     common.fmt_ratio(us["composite"] / us["torch"]) if "torch" in us else "n/a"])
        rep.results.append({"shape": shape, "causal": causal, "phase": name, "threads": n_threads,
                            "us": {m: us[m] for m in fns}, "spread": us["spread"],
                            "fused_vs_composite": r_c, "fused_vs_torch": r_t})
    return rows


def main():
    p = common.base_parser(__doc__.splitlines()[0], default_threads="1")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15, --quick 3)")
    p.add_argument("--shapes", default="32x4x64x32,4x8x256x64", help="NxHxLxHD list (default: the GPT "
                   "row of bench_train.py and a longer sequence)")
    p.add_argument("--no-causal", action="store_true", help="no causal mask (default: causal)")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    shapes = parse_shapes(args.shapes)
    rounds = args.rounds or (3 if args.quick else 15)
    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_sdpa", "scaled_dot_product_attention: fused vs composite vs PyTorch", args, np, ts,
                       torch)
    th = common.Threads(np, ts, torch)
    print(f"timing  : medians of {rounds} alternated rounds after 1 warm-up round, ~20 ms per sample; "
          "1 thread: CPU time of the thread (time.thread_time_ns), else wall time")
    print("ratios  : time ratios (below 1.00x the first named is faster)")
    rep.settings = {"threads": threads, "rounds": rounds, "shapes": shapes, "causal": not args.no_causal}
    rows = []
    for t in threads:
        th.set(t)
        print(th.describe(t))
        for shape in shapes:
            rows += bench_shape(ts, torch, shape, not args.no_causal, t, rounds, rep)
    common.print_table(["q/k/v [N,H,L,hd]", "phase", "thr", "fused us", "composite us", "torch us",
                        "fused/composite", "fused/torch", "composite/torch"], rows,
                       title="scaled_dot_product_attention, float32, MultiheadAttention layout")
    rep.finish(args.json)


if __name__ == "__main__":
    main()
