#!/usr/bin/env python3
"""Mixed precision: float32 vs bfloat16 conv2d and linear, forward and forward+backward.

Cases: conv2d [8,64,56,56] * [64,64,3,3] (padding 1) and linear [1024,1024] x [1024,1024]^T,
each in float32, in bfloat16 (inputs and weights already bfloat16: the kernels alone) and
under ts.autocast("cpu") with float32 inputs and weights (casts included).
"speed" = time(float32) / time(case): above 1.00x the case is faster than float32.

The oneDNN ISA and the implementations it picks are read from ONEDNN_VERBOSE=1 in a
small probe subprocess. --isa runs the whole table again in subprocesses with
ONEDNN_MAX_CPU_ISA set (e.g. AVX512_CORE: no bf16 instructions;
AVX2: no bf16 convolution in oneDNN). Without bf16 instructions tessel's conv and matmul
kernels compute bfloat16 through float32 (the probe then shows f32 primitives).

    .venv/bin/python bench/bench_amp.py [--quick] [--threads 1,2] [--isa AVX512_CORE,AVX2]
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

PROBE = r"""
import tessel as ts, tessel.nn.functional as F
x = ts.randn(2, 16, 14, 14).to(ts.bfloat16).requires_grad_()
w = ts.randn(16, 16, 3, 3).to(ts.bfloat16).requires_grad_()
F.conv2d(x, w, padding=1).sum().backward()
a = ts.randn(64, 64).to(ts.bfloat16)
a @ a
"""


def probe_isa(env_extra):
    """oneDNN's ISA line and the implementation of each primitive kind it ran (bf16 probe)."""
    env = dict(os.environ, ONEDNN_VERBOSE="1", **env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env).stdout
    isa, impls = "unknown", {}
    for line in out.splitlines():
        f = line.split(",")
        if line.startswith("onednn_verbose,info,cpu,isa:") or line.startswith("dnnl_verbose,info,cpu,isa:"):
            isa = line.split("isa:", 1)[1]
        elif len(f) > 6 and f[1] == "exec" and f[3] in ("convolution", "matmul"):
            src = f[6].split(" ")[0].split("::")[0]  # e.g. src_bf16: the type the primitive computed in
            impls.setdefault(f"{f[3]} {f[5]}", f"{f[4]} ({src.replace('src_', '')})")
    return isa, impls


def cases(ts, F, quick):
    rng = np.random.default_rng(0)
    n = 4 if quick else 8
    x = ts.tensor(rng.standard_normal((n, 64, 56, 56)).astype(np.float32))
    w = ts.tensor((rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32))
    a = ts.tensor(rng.standard_normal((1024, 1024)).astype(np.float32))
    b = ts.tensor((rng.standard_normal((1024, 1024)) * 0.03).astype(np.float32))

    def make(op, inputs, dtype, autocast, backward):
        ins = [t.to(dtype) if dtype is not None else t for t in inputs]
        if backward:
            ins = [t.detach().requires_grad_() for t in ins]

        def run():
            if autocast:
                with ts.autocast("cpu"):
                    y = op(*ins)
            else:
                y = op(*ins)
            if backward:
                y.sum().backward()
                for t in ins:
                    t.grad = None
        return run

    conv = (lambda x, w: F.conv2d(x, w, padding=1))
    flops_conv = 2 * n * 64 * 64 * 9 * 56 * 56
    flops_lin = 2 * 1024 ** 3
    out = []
    for name, op, ins, flops in (("conv2d", conv, (x, w), flops_conv), ("linear", F.linear, (a, b), flops_lin)):
        for backward in (False, True):
            mode = "fwd+bwd" if backward else "fwd"
            fl = flops * (3 if backward else 1)
            out.append((name, mode, "float32", make(op, ins, None, False, backward), fl))
            out.append((name, mode, "bfloat16", make(op, ins, ts.bfloat16, False, backward), fl))
            out.append((name, mode, "autocast", make(op, ins, None, True, backward), fl))
    return out


def run_table(args, threads, label):
    ts = common.import_tessel()
    import tessel.nn.functional as F
    repeat = 3 if args.quick else 7
    rows, results = [], []
    for n in threads:
        ts.set_num_threads(n)
        base = {}
        for name, mode, kind, fn, flops in cases(ts, F, args.quick):
            t = common.measure(fn, repeat=repeat, target_s=0.05 if args.quick else 0.2)
            ms = t.median_ns / 1e6
            if kind == "float32":
                base[(name, mode)] = ms
            speed = base[(name, mode)] / ms
            rows.append([n, name, mode, kind, f"{ms:.2f}", f"{t.min_ns / 1e6:.2f}", f"{flops / ms / 1e6:.0f}",
                         f"{speed:.2f}x", f"{t.spread:.0%}"])
            results.append({"threads": n, "op": name, "mode": mode, "kind": kind, "ms": ms,
                            "gflops": flops / ms / 1e6, "speed_vs_f32": speed, "timing": t.to_dict()})
    common.print_table(["thr", "op", "pass", "dtype", "ms", "min ms", "GFLOP/s", "speed", "spread"], rows, title=label)
    return results


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--isa", default="", help="comma-separated ONEDNN_MAX_CPU_ISA values to rerun the table with")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    max_isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    isa, impls = probe_isa({})
    label = f"ONEDNN_MAX_CPU_ISA={max_isa or '(default)'}; oneDNN ISA: {isa}"
    if args.child:
        print(label)
        for k, v in impls.items():
            print(f"  bf16 {k}: {v}")
        run_table(args, threads, label)
        return
    ts = common.import_tessel()
    rep = common.start("bench_amp", "float32 vs bfloat16 conv2d and linear, forward and fwd+bwd", args, np, ts, None)
    print(label)
    for k, v in impls.items():
        print(f"  bf16 {k}: {v}")
    rep.settings["onednn_isa"] = isa
    rep.settings["bf16_implementations"] = impls
    rep.results = run_table(args, threads, label)
    for value in filter(None, (s.strip() for s in args.isa.split(","))):
        print()
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", args.threads]
        if args.quick:
            cmd.append("--quick")
        subprocess.run(cmd, env=dict(os.environ, ONEDNN_MAX_CPU_ISA=value), check=True)
    rep.write(args.json)


if __name__ == "__main__":
    main()
