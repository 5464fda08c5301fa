"""tessel's CUDA backend side by side with PyTorch on the same GPU, in one process.

Rows: matmul 4096 and 8192 (float32, bfloat16) in TFLOP/s; ResNet-50's convolutions
(batch 32, forward, float32 without TF32 on both sides: tessel's cuDNN calls use FMA math, so
PyTorch's cudnn.allow_tf32 is turned off for them); an elementwise add and a full sum at 256 MB
per operand in GB/s, next to the device-to-device copy bandwidth measured here; a ResNet-50
training step (batch 32, 224x224, SGD) in images/s; a GPT-2 small training step (8 x 1024
tokens, AdamW, float32) in tokens/s. Each figure is the median of --repeats
timed runs of a few calls each, between device synchronizations; the ratio column is
tessel / PyTorch (higher is better for tessel). A row whose tessel side fails prints why.

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


def _resnet50_steps(ts, torch):
    """One SGD step of torchvision's ResNet-50 and of the same network in tessel.nn (batch 32)."""
    import torchvision

    def bottleneck(nn, cin, width, stride):
        cout = width * 4
        body = nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                             nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False),
                             nn.BatchNorm2d(width), nn.ReLU(),
                             nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        short = None
        if stride != 1 or cin != cout:
            short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        return body, short

    class Block(ts.nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.body, self.short = bottleneck(ts.nn, cin, width, stride)

        def forward(self, x):
            return (self.body(x) + (x if self.short is None else self.short(x))).relu()

    class ResNet50(ts.nn.Module):
        def __init__(self):
            super().__init__()
            nn = ts.nn
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                      nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
            blocks, cin = [], 64
            for width, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
                for i in range(n):
                    blocks.append(Block(cin, width, stride if i == 0 else 1))
                    cin = width * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            return self.fc(self.blocks(self.stem(x)).mean((2, 3)))

    x = torch.randn(32, 3, 224, 224, device="cuda")
    y = torch.randint(0, 1000, (32,), device="cuda")
    pm = torchvision.models.resnet50().cuda()
    popt = torch.optim.SGD(pm.parameters(), lr=0.01, momentum=0.9)

    def p_step():
        popt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(pm(x), y).backward()
        popt.step()

    tm = ResNet50().to("cuda")
    topt = ts.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
    tx, ty = ts.tensor(x.cpu().numpy()).cuda(), ts.tensor(y.cpu().numpy()).cuda()

    def t_step():
        topt.zero_grad()
        ts.nn.functional.cross_entropy(tm(tx), ty).backward()
        topt.step()

    return t_step, p_step


def _gpt(lib, vocab, ctx, d, heads, layers):
    """GPT-2's architecture written once for either library (tessel and PyTorch share these names)."""
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (z.reshape(b, t, heads, d // heads).transpose(1, 2) for z in self.qkv(self.ln1(x)).chunk(3, -1))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(lib.arange(t, device=idx.device))
            return self.head(self.ln(self.blocks(x)))

    return GPT()


def _gpt2_steps(ts, torch, batch=8, ctx=1024, vocab=50257):
    """One AdamW step of GPT-2 small (12 layers, d 768, 12 heads) in each library, float32."""
    import numpy as np
    idx = np.random.default_rng(0).integers(0, vocab, (batch, ctx + 1))
    steps = []
    for lib in (ts, torch):
        model = _gpt(lib, vocab, ctx, 768, 12, 12).to("cuda")
        opt = lib.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
        x = lib.tensor(idx[:, :-1]).to("cuda")
        y = lib.tensor(idx[:, 1:]).to("cuda")

        def step(model=model, opt=opt, x=x, y=y, lib=lib):
            opt.zero_grad()
            logits = model(x)
            lib.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1)).backward()
            opt.step()
        steps.append(step)
    return steps[0], steps[1]


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

    def row(name, unit, work, t_fn, p_fn, iters=None):
        iters = iters or args.iters
        tp = _median_seconds(p_fn, psync, args.repeats, iters)
        try:
            tt = _median_seconds(t_fn, tsync, args.repeats, iters)
        except Exception as e:  # an op without a CUDA kernel yet: say which, keep the other rows
            print(f"{name}: tessel failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            tt = float("inf")
        rows.append((name, unit, work / tt, work / tp))

    for n, tdt, pdt, label in [(4096, ts.float32, torch.float32, "float32"),
                               (4096, ts.bfloat16, torch.bfloat16, "bfloat16"),
                               (8192, ts.float32, torch.float32, "float32"),
                               (8192, ts.bfloat16, torch.bfloat16, "bfloat16")]:
        pa, pb = torch.randn(n, n, device="cuda", dtype=pdt), torch.randn(n, n, device="cuda", dtype=pdt)
        ta = ts.tensor(pa.float().cpu().numpy()).to(tdt).cuda()
        tb = ts.tensor(pb.float().cpu().numpy()).to(tdt).cuda()
        row(f"matmul {n} {label}", "TFLOP/s", 2 * n ** 3 / 1e12, lambda: ta @ tb, lambda: pa @ pb,
            iters=max(2, args.iters * 4096 ** 3 // n ** 3))
        del pa, pb, ta, tb

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False  # tessel takes cuDNN's heuristic choice; so does PyTorch here
    # ResNet-50's distinct 3x3 and 1x1 convolutions (cin, cout, size, kernel, stride) at batch 32.
    for cin, cout, hw, k, st in [(64, 64, 56, 3, 1), (128, 128, 28, 3, 1), (256, 256, 14, 3, 1),
                                 (512, 512, 7, 3, 1), (256, 64, 56, 1, 1), (64, 256, 56, 1, 1),
                                 (1024, 256, 14, 1, 1), (128, 128, 56, 3, 2)]:
        px = torch.randn(32, cin, hw, hw, device="cuda")
        pw = torch.randn(cout, cin, k, k, device="cuda") * (2.0 / (cin * k * k)) ** 0.5
        tx, tw = ts.tensor(px.cpu().numpy()).cuda(), ts.tensor(pw.cpu().numpy()).cuda()
        pad = k // 2
        ho = (hw + 2 * pad - k) // st + 1
        flops = 2 * 32 * cout * ho * ho * cin * k * k / 1e12
        row(f"conv2d {cin}->{cout} {hw}x{hw} k{k} s{st} float32", "TFLOP/s", flops,
            lambda: ts.nn.functional.conv2d(tx, tw, stride=st, padding=pad),
            lambda: torch.nn.functional.conv2d(px, pw, stride=st, padding=pad), iters=10)
        del px, pw, tx, tw

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
    del px, py, tx, ty, pc, tc

    try:
        t_step, p_step = _resnet50_steps(ts, torch)
        row("ResNet-50 training step, batch 32, float32", "images/s", 32, t_step, p_step, iters=3)
    except Exception as e:
        print(f"ResNet-50 training step: tessel failed to build: {type(e).__name__}: {e}")
    try:
        t_step, p_step = _gpt2_steps(ts, torch)
        row("GPT-2 small training step, 8 x 1024 tokens, float32", "tokens/s", 8 * 1024, t_step, p_step, iters=2)
    except Exception as e:
        print(f"GPT-2 small training step: tessel failed to build: {type(e).__name__}: {e}")

    print(f"\n| row | unit | tessel | PyTorch | tessel / PyTorch | tessel / PyTorch copy bandwidth |")
    print("|---|---|---|---|---|---|")
    for name, unit, t, p in rows:
        frac = f"{t / copy_bw:.2f}" if unit == "GB/s" and name.split()[0] != "copy" else ""
        print(f"| {name} | {unit} | {t:.1f} | {p:.1f} | {t / p:.2f}x | {frac} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
