#!/usr/bin/env python3
"""dtype conversion: float32 <-> float16 / bfloat16 casts and int8 quantization, 4M elements.

tessel: x.to(ts.float16), x.to(ts.bfloat16), h.to(ts.float32),
        ts.quantize_per_tensor(x, scale, zero_point, ts.int8) / ts.dequantize
PyTorch: x.half(), x.bfloat16(), h.float(), torch.quantize_per_tensor(x, scale, zp, torch.qint8)
         and .dequantize() (only if torch imports)
NumPy:  x.astype(np.float16), h.astype(np.float32) (NumPy has no bfloat16), and
        np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8)

Every result is checked against NumPy's (bit-exact for the float16 casts).
"speed" = time(reference) / time(tessel): above 1.00x tessel is faster.

    .venv/bin/python bench/bench_convert.py [--quick] [--json PATH] [--threads 1,2]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

N = 4_000_000


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    repeat = 3 if args.quick else 9
    target_s = 0.03 if args.quick else 0.1
    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_convert", f"casts and int8 quantization of {N:,} float32 values", args, np, ts, torch)
    th = common.Threads(np, ts, torch)

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(N) * 3).astype(np.float32)
    xh = x.astype(np.float16)
    scale, zp = 0.05, 3
    X, XH = ts.tensor(x), ts.tensor(xh)
    XB = X.to(ts.bfloat16)
    ok = np.array_equal(X.to(ts.float16).numpy().view(np.uint16), xh.view(np.uint16))
    ok &= np.array_equal(XH.to(ts.float32).numpy(), xh.astype(np.float32))
    q_ref = np.clip(np.rint(x.astype(np.float64) / scale) + zp, -128, 127).astype(np.int8)
    ok &= np.array_equal(ts.quantize_per_tensor(X, scale, zp, ts.int8).numpy(), q_ref)
    print(f"check   : casts bit-exact and int8 codes equal to NumPy's: {'ok' if ok else 'MISMATCH'}")

    cases = [
        ("float32 -> float16", lambda: X.to(ts.float16), lambda: x.astype(np.float16), "half"),
        ("float16 -> float32", lambda: XH.to(ts.float32), lambda: xh.astype(np.float32), "float_from_half"),
        ("float32 -> bfloat16", lambda: X.to(ts.bfloat16), None, "bfloat16"),
        ("bfloat16 -> float32", lambda: XB.to(ts.float32), None, "float_from_bf16"),
        ("quantize int8", lambda: ts.quantize_per_tensor(X, scale, zp, ts.int8),
         lambda: np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8), "quantize"),
    ]
    if torch is not None:
        T = torch.from_numpy(x)
        TH, TB = T.half(), T.bfloat16()
        torch_fns = {"half": lambda: T.half(), "float_from_half": lambda: TH.float(),
                     "bfloat16": lambda: T.bfloat16(), "float_from_bf16": lambda: TB.float(),
                     "quantize": lambda: torch.quantize_per_tensor(T, scale, zp, torch.qint8)}
    for n in threads:
        th.set(n)
        print(th.describe(n))
        rows = []
        for name, f_ts, f_np, key in cases:
            t = common.measure(f_ts, repeat=repeat, target_s=target_s)
            t_np = common.measure(f_np, repeat=repeat, target_s=target_s) if f_np else None
            t_torch = common.measure(torch_fns[key], repeat=repeat, target_s=target_s) if torch is not None else None
            rows.append([name, common.fmt(t.median_ns / 1e6, ".2f"),
                         common.fmt(t_np.median_ns / 1e6 if t_np else None, ".2f"),
                         common.fmt(t_torch.median_ns / 1e6 if t_torch else None, ".2f"),
                         common.fmt_ratio(t_np.median_ns / t.median_ns if t_np else None),
                         common.fmt_ratio(t_torch.median_ns / t.median_ns if t_torch else None)])
            rep.results.append({"case": name, "threads": n, "tessel": t.to_dict(),
                                "numpy": t_np.to_dict() if t_np else None,
                                "torch": t_torch.to_dict() if t_torch else None})
        common.print_table(["conversion", "tessel ms", "NumPy ms", "PyTorch ms", "speed vs NumPy",
                            "speed vs PyTorch"], rows, title=f"{n} thread(s)")
    rep.write(args.json)


if __name__ == "__main__":
    main()
