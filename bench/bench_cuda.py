"""tessel's CUDA backend side by side with PyTorch on the same GPU, in one process.

Rows: matmul 4096 (float32, bfloat16) in TFLOP/s; an elementwise add and a full sum at
256 MB per operand in GB/s, next to the device-to-device copy bandwidth measured here. Each
figure is the median of --repeats timed runs of --iters calls each, between device
synchronizations; the ratio column is tessel / PyTorch (higher is better for tessel).

    python bench/bench_cuda.py [--repeats 7] [--iters 20]

Without a CUDA GPU (or without PyTorch built with CUDA) it prints why and exits 0.
"""
import argparse
import statistics
import sys
import time


def _median_seconds(fn, sync, repeats, iters):
    fn()
    sync()  # warm-up: first-call costs (cuBLAS handles, allocator growth) stay out of the figures
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        times.append((time.perf_counter() - t) / iters)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    args = ap.parse_args()

    import tessel as ts
    if not ts.cuda.is_available():
        print(f"bench_cuda: skipped: needs a CUDA GPU ({ts._C._cuda.unavailable_reason()})")
        return 0
    try:
        import torch
    except ImportError:
        print("bench_cuda: skipped: PyTorch (the reference) is not installed")
        return 0
    if not torch.cuda.is_available():
        print("bench_cuda: skipped: PyTorch sees no CUDA GPU")
        return 0

    print(f"device: {ts.cuda.get_device_name()} | tessel {ts.__version__} | torch {torch.__version__} "
          f"(CUDA {torch.version.cuda}) | median of {args.repeats} x {args.iters} calls")
    tsync, psync = ts.cuda.synchronize, torch.cuda.synchronize
    rows = []

    def row(name, unit, work, t_fn, p_fn):
        tt = _median_seconds(t_fn, tsync, args.repeats, args.iters)
        tp = _median_seconds(p_fn, psync, args.repeats, args.iters)
        rows.append((name, unit, work / tt, work / tp))

    for n, tdt, pdt, label in [(4096, ts.float32, torch.float32, "float32"),
                               (4096, ts.bfloat16, torch.bfloat16, "bfloat16")]:
        pa, pb = torch.rand(n, n, device="cuda", dtype=pdt), torch.rand(n, n, device="cuda", dtype=pdt)
        ta = ts.tensor(pa.float().cpu().numpy()).to(tdt).cuda()
        tb = ts.tensor(pb.float().cpu().numpy()).to(tdt).cuda()
        row(f"matmul {n} {label}", "TFLOP/s", 2 * n ** 3 / 1e12, lambda: ta @ tb, lambda: pa @ pb)
        del pa, pb, ta, tb

    n = 64 * 2 ** 20  # 64 Mi float32 = 256 MB per operand
    px, py = torch.rand(n, device="cuda"), torch.rand(n, device="cuda")
    tx = ts.tensor(px.cpu().numpy()).cuda()
    ty = ts.tensor(py.cpu().numpy()).cuda()
    pc, tc = torch.empty_like(px), ts.empty(n, device="cuda")
    gb = n * 4 / 1e9
    row("copy 256 MB (device to device)", "GB/s", 2 * gb, lambda: tc.copy_(tx), lambda: pc.copy_(px))
    row("add 256 MB float32", "GB/s", 3 * gb, lambda: tx + ty, lambda: px + py)
    row("sum 256 MB float32", "GB/s", gb, lambda: tx.sum(), lambda: px.sum())
    copy_bw = rows[-3][3]  # PyTorch's copy: the bandwidth the others are measured against

    print(f"\n| row | unit | tessel | PyTorch | tessel / PyTorch | tessel / PyTorch copy bandwidth |")
    print("|---|---|---|---|---|---|")
    for name, unit, t, p in rows:
        frac = f"{t / copy_bw:.2f}" if unit == "GB/s" else ""
        print(f"| {name} | {unit} | {t:.1f} | {p:.1f} | {t / p:.2f}x | {frac} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
