#!/usr/bin/env python3
"""Training workloads: tessel vs PyTorch (digits MLPs/CNN, conv2d, Adam step, GPT/LSTM/GRU/ResNet).

Four sections, each run at every thread count of --threads (default 1,2):

1. Training throughput (samples/s) on scikit-learn's digits: all 1,797
   images (/16, float32; flattened to 64 features for the MLPs), batch size 64
   (the last batch holds 5), one fixed permutation shared by both libraries
   and every epoch. Same architecture, same initial weights (PyTorch's
   initialisation copied into tessel through NumPy), same optimizer and
   hyperparameters, the plain loop users write in both libraries
   (zero_grad / forward / loss / backward / step). One warm-up epoch, then
   the timed epochs alternate tessel / PyTorch; samples/s = 1,797 / median
   epoch time. The initial logits are checked to match and the final loss
   (mean over the last epoch, and over the whole set in eval mode after
   training) is printed for both so that the comparison is honest.
     a. MLP 64-128-10, SGD(lr=0.1, momentum=0.9), cross-entropy; goal >= 2x
     b. MLP 64-256-256-10, Adam(lr=1e-3);                          goal >= 2x
     c. CNN of examples/train_digits.py, Adam(lr=2e-3), [N,1,8,8]; goal >= 1.5x
2. conv2d, N=8, C=K=64, H=W=56, 3x3, padding 1, no bias, float32: forward
   (under no_grad) and forward+backward (input and weight require grad,
   backward of a fixed random output gradient); goal >= 1.0x PyTorch speed;
   % of the FMA peak measured in this run by bench/fma_peak.cpp (as
   bench_matmul.py does), 2*N*K*C*H*W*9 flops forward, 3x that fwd+bwd.
3. Adam step over 10 float32 tensors of 1M elements (10M parameters) with
   gradients present: ts.optim.Adam.step() vs torch.optim.Adam(foreach=True)
   .step(); goal >= 1.0x. (torch fused=True is shown for information.)

4. Models of issue 16, each trained by the plain loop over a fixed set of seeded
   batches (one pass = MODEL_BATCHES batches; 1 warm-up pass, then the median
   of --passes timed passes, libraries alternating), PyTorch's initial weights
   copied into tessel; the first batch's logits and loss (eval mode) must match:
     gpt       GPT-style char model: token + position embeddings, 2 pre-norm
               blocks (LayerNorm, causal nn.MultiheadAttention d=128 4 heads,
               GELU MLP 4x, residual dropout 0.1), vocab 65, context 64,
               batch 32, AdamW; data: a seeded Markov-chain character stream;
               goal >= 1.2x
     lstm/gru  LSTM / GRU 32 -> 128 over 50 steps, Linear on the last hidden
               state, 10 classes, batch 64, Adam; random data; goal >= 1.2x
     resnet32  CIFAR-style ResNet-8 (16/32/64 channels) on [64, 3, 32, 32]
               random images, SGD momentum; goal >= 1.0x
   `--models gpt,lstm` runs section 4 alone with those models.

"speed" columns are speed ratios, time(PyTorch) / time(tessel): above 1.00x
tessel is faster (the goals are stated that way); "vs torch" columns are the
usual time ratios, tessel / PyTorch.

    .venv/bin/python bench/bench_train.py [--quick] [--json PATH] [--threads 1,2]
        [--sections train,conv,adam,models] [--models gpt,lstm,gru,resnet32] [--passes N]
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import common  # noqa: E402
from bench_matmul import measure_fma_peak, print_fma_peak  # noqa: E402  (same FMA-peak mechanism)

BATCH = 64
CONV = dict(N=8, C=64, H=56, W=56, K=64, R=3)
ADAM_TENSORS, ADAM_NUMEL = 10, 1_000_000

GOALS = {"mlp_sgd": 2.0, "mlp_adam": 2.0, "cnn_adam": 1.5, "conv2d": 1.0, "adam_step": 1.0,
         "gpt": 1.2, "lstm": 1.2, "gru": 1.2, "resnet32": 1.0}

# section 4 (issue 16): model sizes, batches per timed pass, optimizers
GPT_CFG = dict(vocab=65, ctx=64, d=128, heads=4, layers=2, p=0.1)
GPT_BATCH = 32
RNN_CFG = dict(seq=50, input=32, hidden=128, classes=10, batch=64)
RESNET_CFG = dict(batch=64, classes=10)
MODEL_BATCHES = {"gpt": 4, "lstm": 4, "gru": 4, "resnet32": 4}
MODELS = ("gpt", "lstm", "gru", "resnet32")
MODEL_LABELS = {
    "gpt": "GPT char 2x(d128,4h,ctx64), b32, AdamW",
    "lstm": "LSTM 32->128 seq50 + Linear, b64, Adam",
    "gru": "GRU 32->128 seq50 + Linear, b64, Adam",
    "resnet32": "ResNet-8 on 3x32x32, b64, SGD momentum",
}
MODEL_OPT = {
    "gpt": lambda lib, ps: lib.optim.AdamW(ps, lr=3e-4, weight_decay=0.1),
    "lstm": lambda lib, ps: lib.optim.Adam(ps, lr=1e-3),
    "gru": lambda lib, ps: lib.optim.Adam(ps, lr=1e-3),
    "resnet32": lambda lib, ps: lib.optim.SGD(ps, lr=0.05, momentum=0.9),
}


def goal_text(speed, goal):
    if speed is None:
        return "n/a (PyTorch not installed)"
    return f"{speed:.2f}x vs goal >= {goal:.1f}x -> {'MET' if speed >= goal else 'NOT MET'}"


def busy_cpus(seconds=0.5):
    """CPUs' worth of work other processes do while this one sleeps (from
    /proc/stat over `seconds`), or None where /proc/stat is unreadable. With
    every core given to the benchmark's threads, any of it makes the
    multi-thread figures of both libraries collapse (threads wait at barriers
    for a descheduled peer), far beyond the usual noise."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    total = t1 - t0
    if total <= 0:
        return None
    return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / total)


# --------------------------------------------------------------------------
# 1. training throughput


def load_digits_data():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8]
    y = d.target.astype(np.int64)
    return x, y


def make_cnn_pair(ts, torch):
    """The CNN of examples/train_digits.py (its make_model) and the identical torch model."""
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from train_digits import make_model
    tsm = make_model()
    if torch is None:
        return tsm, None
    tn = torch.nn
    thm = tn.Sequential(
        tn.Conv2d(1, 16, 3, padding=1), tn.BatchNorm2d(16), tn.ReLU(),
        tn.Conv2d(16, 32, 3, padding=1), tn.BatchNorm2d(32), tn.ReLU(),
        tn.MaxPool2d(2),
        tn.Flatten(),
        tn.Linear(32 * 4 * 4, 64), tn.ReLU(), tn.Dropout(0.2),
        tn.Linear(64, 10),
    )
    return tsm, thm


def make_mlp_pair(ts, torch, sizes):
    def layers(nn):
        mods = []
        for i in range(len(sizes) - 1):
            mods.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
    return layers(ts.nn), (layers(torch.nn) if torch is not None else None)


def copy_torch_into_tessel(ts, tsm, thm):
    """Copies every parameter and buffer of the torch model into the tessel model
    (by name; the shapes must match). Returns the number of tensors copied."""
    ts_params = dict(tsm.named_parameters())
    th_params = dict(thm.named_parameters())
    if list(ts_params) != list(th_params):
        raise SystemExit(f"model mismatch: tessel parameters {list(ts_params)} vs torch {list(th_params)}")
    pairs = [(ts_params[k], th_params[k], k) for k in ts_params]
    ts_bufs = dict(tsm.named_buffers())
    for k, b in thm.named_buffers():
        if k in ts_bufs:
            pairs.append((ts_bufs[k], b, k))
    with ts.no_grad():
        for tp, p, k in pairs:
            if tuple(tp.shape) != tuple(p.shape):
                raise SystemExit(f"model mismatch at {k}: tessel {tuple(tp.shape)} vs torch {tuple(p.shape)}")
            tp.copy_(ts.tensor(p.detach().numpy()))
    return len(pairs)


def train_epoch(model, opt, loss_fn, batches):
    """The plain training loop; returns the sample-weighted mean loss of the epoch
    (loss.item() per batch, as a user printing progress would)."""
    total = 0.0
    n = 0
    for xb, yb in batches:
        opt.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        bs = yb.shape[0]
        total += loss.item() * bs
        n += bs
    return total / n


def bench_training(ts, torch, n_threads, x, y, perm, timed_epochs, rep):
    n = len(y)
    specs = [
        ("mlp_sgd", "MLP 64-128-10, SGD(lr=0.1, momentum=0.9)", "mlp", (64, 128, 10),
         lambda lib, params: lib.optim.SGD(params, lr=0.1, momentum=0.9)),
        ("mlp_adam", "MLP 64-256-256-10, Adam(lr=1e-3)", "mlp", (64, 256, 256, 10),
         lambda lib, params: lib.optim.Adam(params, lr=1e-3)),
        ("cnn_adam", "CNN of examples/train_digits.py, Adam(lr=2e-3)", "cnn", None,
         lambda lib, params: lib.optim.Adam(params, lr=2e-3)),
    ]
    rows, goals = [], []
    for key, label, kind, sizes, make_opt in specs:
        xs = x.reshape(n, -1) if kind == "mlp" else x
        # the fixed permutation, cut into batches once, converted once per library
        idx = [perm[i:i + BATCH] for i in range(0, n, BATCH)]
        np_batches = [(np.ascontiguousarray(xs[i]), np.ascontiguousarray(y[i])) for i in idx]
        ts_batches = [(ts.tensor(a), ts.tensor(b)) for a, b in np_batches]
        th_batches = ([(torch.from_numpy(a.copy()), torch.from_numpy(b.copy())) for a, b in np_batches]
                      if torch is not None else None)

        if torch is not None:
            torch.manual_seed(0)
        ts.manual_seed(0)
        if kind == "mlp":
            tsm, thm = make_mlp_pair(ts, torch, sizes)
        else:
            tsm, thm = make_cnn_pair(ts, torch)
        init_note = "tessel's own init (no PyTorch)"
        if thm is not None:
            copied = copy_torch_into_tessel(ts, tsm, thm)
            init_note = f"PyTorch's init copied ({copied} tensors)"
            # same weights -> same logits (eval mode: no dropout, BN on running stats)
            tsm.eval()
            thm.eval()
            with ts.no_grad():
                lt = np.asarray(tsm(ts_batches[0][0]))
            with torch.no_grad():
                lth = thm(th_batches[0][0]).numpy()
            common.check_close(f"{key}: initial logits tessel vs torch", lt, lth,
                               rtol=1e-4, atol=1e-5, notes=rep.notes)
        tsm.train()
        libs = [("tessel", tsm, make_opt(ts, tsm.parameters()), ts.nn.CrossEntropyLoss(), ts_batches)]
        if thm is not None:
            thm.train()
            libs.append(("torch", thm, make_opt(torch, thm.parameters()), torch.nn.CrossEntropyLoss(),
                         th_batches))

        epoch_s = {name: [] for name, *_ in libs}
        last_loss = {}
        for name, model, opt, loss_fn, batches in libs:  # warm-up epoch
            last_loss[name] = train_epoch(model, opt, loss_fn, batches)
        for _ in range(timed_epochs):  # alternate libraries epoch by epoch: drift hits both alike
            for name, model, opt, loss_fn, batches in libs:
                t0 = time.perf_counter_ns()
                last_loss[name] = train_epoch(model, opt, loss_fn, batches)
                epoch_s[name].append((time.perf_counter_ns() - t0) / 1e9)

        # loss over the whole set after training, eval mode
        full_loss = {}
        for name, model, opt, loss_fn, batches in libs:
            model.eval()
            if name == "tessel":
                with ts.no_grad():
                    full_loss[name] = sum(loss_fn(model(a), b).item() * b.shape[0] for a, b in batches) / n
            else:
                with torch.no_grad():
                    full_loss[name] = sum(loss_fn(model(a), b).item() * b.shape[0] for a, b in batches) / n
            model.train()

        sps = {name: n / statistics.median(v) for name, v in epoch_s.items()}
        speed = common.ratio(sps["tessel"], sps.get("torch")) if "torch" in sps else None
        similar = None
        if "torch" in full_loss:
            a, b = full_loss["tessel"], full_loss["torch"]
            # same data, same init; the CNN's dropout masks differ between libraries
            similar = abs(a - b) <= 0.02 + 0.25 * max(a, b)
            if not similar:
                rep.note(f"CHECK FAILED: {key}: final losses differ (tessel {a:.4f} vs torch {b:.4f})")
        for name in ("tessel", "torch"):
            if name not in sps:
                rows.append([label, n_threads, name, "n/a", "", "", "", "", "not installed"])
                continue
            spread = (max(epoch_s[name]) - min(epoch_s[name])) / statistics.median(epoch_s[name])
            rows.append([label, n_threads, name, f"{sps[name]:,.0f}", f"{100 * spread:.0f}%",
                         f"{last_loss[name]:.4f}", f"{full_loss[name]:.4f}",
                         common.fmt_ratio(speed) if name == "tessel" else "",
                         ("similar" if similar else "DIFFERENT") if (name == "tessel" and similar is not None)
                         else ""])
            rep.results.append({"section": "train", "model": key, "threads": n_threads, "library": name,
                                "samples_per_s": sps[name], "epoch_s": epoch_s[name],
                                "last_epoch_loss": last_loss[name], "final_loss": full_loss[name],
                                "speed_vs_torch": speed if name == "tessel" else None,
                                "losses_similar": similar, "init": init_note})
        rows.append(None)
        goals.append(f"  {n_threads} thr  {label:<48} samples/s tessel/torch = "
                     + goal_text(speed, GOALS[key]))
    common.print_table(["model / optimizer", "thr", "library", "samples/s", "spread", "last-epoch loss",
                        "final loss", "speed", "loss check"], rows[:-1],
                       title=f"1. training on digits ({n} samples, batch {BATCH}, "
                             f"median of {timed_epochs} epochs after 1 warm-up; {n_threads} thread(s))")
    return goals


# --------------------------------------------------------------------------
# 2. conv2d


def bench_conv(ts, torch, n_threads, peaks, rep, repeat, target_s):
    import tessel.nn.functional as F
    c = CONV
    rng = np.random.default_rng(1)
    x_np = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]), dtype=np.float32)
    w_np = (rng.standard_normal((c["K"], c["C"], c["R"], c["R"]), dtype=np.float32)
            / np.sqrt(c["C"] * c["R"] * c["R"])).astype(np.float32)
    g_np = rng.standard_normal((c["N"], c["K"], c["H"], c["W"]), dtype=np.float32)
    flop_f = 2.0 * c["N"] * c["K"] * c["C"] * c["H"] * c["W"] * c["R"] * c["R"]

    xt = ts.tensor(x_np, requires_grad=True)
    wt = ts.tensor(w_np, requires_grad=True)
    gt = ts.tensor(g_np)

    def ts_fwd():
        with ts.no_grad():
            return F.conv2d(xt, wt, padding=1)

    def ts_fwdbwd():
        xt.grad = None
        wt.grad = None
        F.conv2d(xt, wt, padding=1).backward(gt)

    fns = {"tessel": (ts_fwd, ts_fwdbwd)}
    if torch is not None:
        tF = torch.nn.functional
        xh = torch.from_numpy(x_np.copy()).requires_grad_(True)
        wh = torch.from_numpy(w_np.copy()).requires_grad_(True)
        gh = torch.from_numpy(g_np.copy())

        def th_fwd():
            with torch.no_grad():
                return tF.conv2d(xh, wh, padding=1)

        def th_fwdbwd():
            xh.grad = None
            wh.grad = None
            tF.conv2d(xh, wh, padding=1).backward(gh)

        fns["torch"] = (th_fwd, th_fwdbwd)
        # correctness: tessel against PyTorch (forward, both gradients)
        out_ref = th_fwd().numpy()
        common.check_close("conv2d forward tessel vs torch", np.asarray(ts_fwd()), out_ref,
                           rtol=1e-3, atol=1e-3, notes=rep.notes)
        ts_fwdbwd()
        th_fwdbwd()
        common.check_close("conv2d grad_input tessel vs torch", np.asarray(xt.grad), xh.grad.numpy(),
                           rtol=1e-3, atol=1e-3, notes=rep.notes)
        common.check_close("conv2d grad_weight tessel vs torch", np.asarray(wt.grad), wh.grad.numpy(),
                           rtol=1e-3, atol=2e-2, notes=rep.notes)

    rows, goals = [], []
    for phase, i, flop in (("forward", 0, flop_f), ("fwd+bwd", 1, 3 * flop_f)):
        ms = {}
        tms = {}
        for name, pair in fns.items():
            tm = common.measure(pair[i], repeat=repeat, target_s=target_s)
            tms[name] = tm
            ms[name] = tm.median_ns / 1e6
        speed = common.ratio(ms.get("torch"), ms["tessel"]) if "torch" in ms else None
        for name in ("tessel", "torch"):
            if name not in ms:
                rows.append([phase, n_threads, name, "n/a", "", "", "", "", "", "not installed"])
                continue
            v = ms[name]
            gf = flop / (v * 1e-3) / 1e9
            pk = 100.0 * gf / peaks[n_threads] if n_threads in peaks else None
            r_t = common.ratio(v, ms.get("torch"))
            rows.append([phase, n_threads, name, f"{v:.2f}", f"{100 * tms[name].spread:.0f}%", f"{gf:.1f}",
                         common.fmt(pk, ".1f"), common.fmt_ratio(r_t),
                         common.fmt_ratio(speed) if name == "tessel" else "", ""])
            rep.results.append({"section": "conv2d", "phase": phase, "threads": n_threads, "library": name,
                                "ms": v, "gflops": gf, "pct_of_fma_peak": pk, "ratio_vs_torch": r_t,
                                "speed_vs_torch": speed if name == "tessel" else None,
                                "timing": tms[name].to_dict()})
        rows.append(None)
        goals.append(f"  {n_threads} thr  conv2d {phase:<41} speed tessel/torch = "
                     + goal_text(speed, GOALS["conv2d"]))
    common.print_table(["phase", "thr", "library", "ms/call", "spread", "GFLOP/s", "%peak", "vs torch",
                        "speed", "note"], rows[:-1],
                       title=f"2. conv2d [{c['N']},{c['C']},{c['H']},{c['W']}] * [{c['K']},{c['C']},3,3], "
                             f"padding 1, float32 ({flop_f / 1e9:.2f} GFLOP fwd, x3 fwd+bwd; "
                             f"{n_threads} thread(s))")
    return goals


# --------------------------------------------------------------------------
# 3. Adam step


def bench_adam(ts, torch, n_threads, rep, repeat, target_s):
    rng = np.random.default_rng(2)
    p_np = [rng.standard_normal(ADAM_NUMEL, dtype=np.float32) for _ in range(ADAM_TENSORS)]
    g_np = [rng.standard_normal(ADAM_NUMEL, dtype=np.float32) for _ in range(ADAM_TENSORS)]
    nparam = ADAM_TENSORS * ADAM_NUMEL

    def ts_setup():
        ps = []
        for p, g in zip(p_np, g_np):
            t = ts.tensor(p, requires_grad=True)
            t.grad = ts.tensor(g)
            ps.append(t)
        return ps, ts.optim.Adam(ps, lr=1e-3)

    def th_setup(**kw):
        ps = []
        for p, g in zip(p_np, g_np):
            t = torch.from_numpy(p.copy()).requires_grad_(True)
            t.grad = torch.from_numpy(g.copy())
            ps.append(t)
        return ps, torch.optim.Adam(ps, lr=1e-3, **kw)

    libs = [("tessel", *ts_setup())]
    if torch is not None:
        libs.append(("torch", *th_setup(foreach=True)))
        try:
            libs.append(("torch fused", *th_setup(fused=True)))
        except Exception as e:  # older torch: no fused CPU Adam
            rep.note(f"torch.optim.Adam(fused=True) unavailable on CPU: {type(e).__name__}: {e}")
    # correctness: one step from identical states must give identical parameters
    for name, ps, opt in libs:
        opt.step()
    ref = [p.detach().numpy() for p in libs[1][1]] if torch is not None else None
    if ref is not None:
        for k in (0, ADAM_TENSORS - 1):
            common.check_close(f"Adam first step, tensor {k}, tessel vs torch",
                               np.asarray(libs[0][1][k].detach()), ref[k], rtol=1e-5, atol=1e-6,
                               notes=rep.notes)

    ms, tms = {}, {}
    for name, ps, opt in libs:
        tm = common.measure(opt.step, repeat=repeat, target_s=target_s)
        tms[name] = tm
        ms[name] = tm.median_ns / 1e6
    speed = common.ratio(ms.get("torch"), ms["tessel"]) if "torch" in ms else None
    rows = []
    for name in ("tessel", "torch", "torch fused"):
        if name not in ms:
            if name == "torch":
                rows.append([name, n_threads, "n/a", "", "", "", "", "not installed"])
            continue
        v = ms[name]
        gbs = 28.0 * nparam / (v * 1e-3) / 1e9  # read p, g, m, v; write p, m, v
        r_t = common.ratio(v, ms.get("torch"))
        note = {"torch": "foreach=True (reference)", "torch fused": "information only"}.get(name, "")
        rows.append([name, n_threads, f"{v:.2f}", f"{100 * tms[name].spread:.0f}%", f"{gbs:.1f}",
                     common.fmt_ratio(r_t), common.fmt_ratio(speed) if name == "tessel" else "", note])
        rep.results.append({"section": "adam_step", "threads": n_threads, "library": name, "ms": v,
                            "gb_per_s": gbs, "ratio_vs_torch": r_t,
                            "speed_vs_torch": speed if name == "tessel" else None,
                            "timing": tms[name].to_dict()})
    common.print_table(["library", "thr", "ms/step", "spread", "GB/s", "vs torch", "speed", "note"], rows,
                       title=f"3. Adam step, {ADAM_TENSORS} x {ADAM_NUMEL:,} float32 parameters with grads "
                             f"(GB/s counts 28 bytes/parameter; {n_threads} thread(s))")
    return [f"  {n_threads} thr  Adam step, 10M params{'':<27} speed tessel/torch(foreach) = "
            + goal_text(speed, GOALS["adam_step"])]


# --------------------------------------------------------------------------
# 4. models of issue 16: GPT-style char model, LSTM / GRU classifiers, ResNet-8 on 32x32


def make_model_classes(lib):
    """The four models of section 4 written once against `lib` (tessel or torch):
    the same module tree, so that named_parameters() match for the weight copy."""
    nn = lib.nn

    class Block(nn.Module):
        """Pre-norm GPT block: causal self-attention (no attention dropout, so
        both libraries may take their fused attention path) and a GELU MLP."""

        def __init__(self, d, heads, p):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
            self.drop1 = nn.Dropout(p)
            self.ln2 = nn.LayerNorm(d)
            self.fc1 = nn.Linear(d, 4 * d)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(4 * d, d)
            self.drop2 = nn.Dropout(p)

        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.drop1(self.attn(h, h, h, attn_mask=mask, need_weights=False, is_causal=True)[0])
            return x + self.drop2(self.fc2(self.act(self.fc1(self.ln2(x)))))

    class GPT(nn.Module):
        def __init__(self, vocab, ctx, d, heads, layers, p):
            super().__init__()
            self.tok = nn.Embedding(vocab, d)
            self.pos = nn.Embedding(ctx, d)
            self.drop = nn.Dropout(p)
            self.blocks = nn.ModuleList([Block(d, heads, p) for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab)
            self.vocab = vocab
            causal = np.triu(np.full((ctx, ctx), -np.inf, dtype=np.float32), 1)
            self._mask = lib.tensor(causal)
            self._positions = lib.tensor(np.arange(ctx, dtype=np.int64))

        def forward(self, idx):
            x = self.drop(self.tok(idx) + self.pos(self._positions))
            for b in self.blocks:
                x = b(x, self._mask)
            return self.head(self.ln_f(x)).reshape(-1, self.vocab)  # [B*T, vocab]

    class RNNClassifier(nn.Module):
        def __init__(self, cell, n_in, hidden, n_cls):
            super().__init__()
            self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(n_in, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, n_cls)
            self.cell = cell

        def forward(self, x):
            _, h = self.rnn(x)
            h_n = h[0] if self.cell == "lstm" else h
            return self.fc(h_n[-1])

    class BasicBlock(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU()
            self.short = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))
                          if stride != 1 or c_in != c_out else nn.Identity())

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(y)) + self.short(x))

    class ResNet8(nn.Module):
        """CIFAR-style ResNet-8: a 3x3 stem, one basic block per stage (16, 32, 64 channels)."""

        def __init__(self, n_cls):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.layers = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2), BasicBlock(32, 64, 2))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(64, n_cls)

        def forward(self, x):
            return self.fc(self.pool(self.layers(self.stem(x))).flatten(1))

    return {"gpt": lambda: GPT(**GPT_CFG),
            "lstm": lambda: RNNClassifier("lstm", RNN_CFG["input"], RNN_CFG["hidden"], RNN_CFG["classes"]),
            "gru": lambda: RNNClassifier("gru", RNN_CFG["input"], RNN_CFG["hidden"], RNN_CFG["classes"]),
            "resnet32": lambda: ResNet8(RESNET_CFG["classes"])}


def model_data(key):
    """Seeded data for one model: a list of (x, y) NumPy batches."""
    rng = np.random.default_rng(16)
    if key == "gpt":
        c = GPT_CFG
        # a fixed character stream from a seeded sparse Markov chain: learnable, not uniform noise
        trans = rng.dirichlet(np.full(c["vocab"], 0.05), size=c["vocab"])
        cum = np.cumsum(trans, axis=1)
        n_chars = MODEL_BATCHES["gpt"] * GPT_BATCH * (c["ctx"] + 1)
        u = rng.random(n_chars)
        stream = np.empty(n_chars, dtype=np.int64)
        s = 0
        for i in range(n_chars):
            s = min(int(np.searchsorted(cum[s], u[i])), c["vocab"] - 1)
            stream[i] = s
        seqs = stream.reshape(-1, c["ctx"] + 1)
        return [(np.ascontiguousarray(seqs[i:i + GPT_BATCH, :-1]),
                 np.ascontiguousarray(seqs[i:i + GPT_BATCH, 1:]).reshape(-1))
                for i in range(0, len(seqs), GPT_BATCH)]
    if key in ("lstm", "gru"):
        c = RNN_CFG
        return [(rng.standard_normal((c["batch"], c["seq"], c["input"]), dtype=np.float32),
                 rng.integers(0, c["classes"], c["batch"]).astype(np.int64))
                for _ in range(MODEL_BATCHES[key])]
    c = RESNET_CFG
    return [(rng.standard_normal((c["batch"], 3, 32, 32), dtype=np.float32),
             rng.integers(0, c["classes"], c["batch"]).astype(np.int64))
            for _ in range(MODEL_BATCHES[key])]


def bench_models(ts, torch, n_threads, models, passes, rep):
    rows, goals = [], []
    ts_cls = make_model_classes(ts)
    th_cls = make_model_classes(torch) if torch is not None else None
    for key in models:
        label = MODEL_LABELS[key]
        np_batches = model_data(key)
        n = sum(len(x) for x, _ in np_batches)  # samples (sequences / images) per pass
        ts_batches = [(ts.tensor(a), ts.tensor(b)) for a, b in np_batches]
        ts.manual_seed(0)
        tsm = ts_cls[key]()
        libs = [("tessel", tsm, ts, ts_batches)]
        init_note = "tessel's own init (no PyTorch)"
        if torch is not None:
            torch.manual_seed(0)
            thm = th_cls[key]()
            th_batches = [(torch.from_numpy(a.copy()), torch.from_numpy(b.copy())) for a, b in np_batches]
            copied = copy_torch_into_tessel(ts, tsm, thm)
            init_note = f"PyTorch's init copied ({copied} tensors)"
            libs.append(("torch", thm, torch, th_batches))
        make_opt = MODEL_OPT[key]
        state = {}
        for name, model, lib, batches in libs:
            state[name] = (model, make_opt(lib, model.parameters()), lib.nn.CrossEntropyLoss(), batches)
        first_loss = {}
        if torch is not None:
            # same weights -> same logits and loss on the first batch (eval mode: no dropout, BN on running stats)
            for name, model, lib, batches in libs:
                model.eval()
                with lib.no_grad():
                    out = model(batches[0][0])
                    first_loss[name] = state[name][2](out, batches[0][1]).item()
                    if name == "tessel":
                        lt = np.asarray(out)
                    else:
                        lth = out.numpy()
                model.train()
            common.check_close(f"{key}: first-batch logits tessel vs torch", lt, lth, rtol=1e-3, atol=1e-4,
                               notes=rep.notes)
            if abs(first_loss["tessel"] - first_loss["torch"]) > 1e-4 * max(1.0, abs(first_loss["torch"])):
                rep.note(f"CHECK FAILED: {key}: first-batch loss tessel {first_loss['tessel']:.6f} vs "
                         f"torch {first_loss['torch']:.6f}")
        pass_s = {name: [] for name in state}
        cpu_s = {name: [] for name in state}  # process CPU time: steadier than wall time on a busy machine
        last_loss = {}
        for name, (model, opt, loss_fn, batches) in state.items():  # warm-up pass
            last_loss[name] = train_epoch(model, opt, loss_fn, batches)
        for _ in range(passes):  # alternate libraries pass by pass: drift hits both alike
            for name, (model, opt, loss_fn, batches) in state.items():
                c0, t0 = time.process_time_ns(), time.perf_counter_ns()
                last_loss[name] = train_epoch(model, opt, loss_fn, batches)
                pass_s[name].append((time.perf_counter_ns() - t0) / 1e9)
                cpu_s[name].append((time.process_time_ns() - c0) / 1e9)
        sps = {name: n / statistics.median(v) for name, v in pass_s.items()}
        cpu_sps = {name: n / statistics.median(v) for name, v in cpu_s.items()}
        speed = common.ratio(sps["tessel"], sps.get("torch")) if "torch" in sps else None
        cpu_speed = common.ratio(cpu_sps["tessel"], cpu_sps.get("torch")) if "torch" in cpu_sps else None
        similar = None
        if "torch" in last_loss:
            a, b = last_loss["tessel"], last_loss["torch"]
            # same data and init; dropout masks differ between the libraries
            similar = abs(a - b) <= 0.02 + 0.1 * max(a, b)
            if not similar:
                rep.note(f"CHECK FAILED: {key}: last-pass losses differ (tessel {a:.4f} vs torch {b:.4f})")
        for name in ("tessel", "torch"):
            if name not in sps:
                rows.append([label, n_threads, name, "n/a", "", "", "", "", "", "", "not installed"])
                continue
            spread = (max(pass_s[name]) - min(pass_s[name])) / statistics.median(pass_s[name])
            rows.append([label, n_threads, name, f"{sps[name]:,.0f}", f"{100 * spread:.0f}%",
                         f"{cpu_sps[name]:,.0f}",
                         common.fmt(first_loss.get(name), ".4f"), f"{last_loss[name]:.4f}",
                         common.fmt_ratio(speed) if name == "tessel" else "",
                         common.fmt_ratio(cpu_speed) if name == "tessel" else "",
                         ("similar" if similar else "DIFFERENT") if (name == "tessel" and similar is not None)
                         else ""])
            rep.results.append({"section": "models", "model": key, "threads": n_threads, "library": name,
                                "samples_per_s": sps[name], "pass_s": pass_s[name], "samples_per_pass": n,
                                "samples_per_cpu_s": cpu_sps[name], "pass_cpu_s": cpu_s[name],
                                "speed_vs_torch_cpu": cpu_speed if name == "tessel" else None,
                                "first_loss": first_loss.get(name), "last_pass_loss": last_loss[name],
                                "speed_vs_torch": speed if name == "tessel" else None,
                                "losses_similar": similar, "init": init_note})
        rows.append(None)
        goals.append(f"  {n_threads} thr  {label:<48} samples/s tessel/torch = "
                     + goal_text(speed, GOALS[key]) + f" (CPU time: {common.fmt_ratio(cpu_speed)})")
    if rows:
        common.print_table(["model", "thr", "library", "samples/s", "spread", "per CPU s", "first loss",
                            "last-pass loss", "speed", "CPU speed", "loss check"], rows[:-1],
                           title=f"4. models (samples/s from the median of {passes} passes over fixed seeded "
                                 f"batches after 1 warm-up pass, wall time; 'per CPU s' and 'CPU speed' from "
                                 f"the process's CPU time, steadier on a busy machine; {n_threads} thread(s))")
    return goals


# --------------------------------------------------------------------------


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None,
                   help="timed epochs after the warm-up epoch (default 10, --quick 2)")
    p.add_argument("--sections", default="train,conv,adam,models",
                   help="comma-separated subset of train,conv,adam,models (default: all)")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"section 4's models, comma-separated subset of {','.join(MODELS)} (default: all); "
                        "naming models without --sections runs section 4 alone")
    p.add_argument("--passes", type=int, default=None,
                   help="section 4: timed passes over its batches after the warm-up pass (default 7, --quick 2)")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    bad = sections - {"train", "conv", "adam", "models"}
    if bad:
        raise SystemExit(f"--sections: unknown {sorted(bad)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise SystemExit(f"--models: unknown {bad}; choose from {','.join(MODELS)}")
    if "--models" in " ".join(sys.argv) and "--sections" not in " ".join(sys.argv):
        sections = {"models"}
    passes = args.passes or (2 if args.quick else 7)
    epochs = args.epochs or (2 if args.quick else 10)
    repeat = 3 if args.quick else 7
    target_s = 0.03 if args.quick else 0.1

    ts = common.import_tessel()
    torch = common.import_torch()
    rep = common.start("bench_train", "training workloads (digits MLPs/CNN, conv2d, Adam step, GPT/LSTM/GRU/ResNet)",
                       args, np, ts, torch)
    th = common.Threads(np, ts, torch)
    print(f"timing  : training: samples/s from the median epoch time of {epochs} timed epochs after "
          f"1 warm-up epoch, libraries alternating; conv2d / Adam: median of {repeat} samples "
          f"(~{target_s} s each, calls per sample calibrated), 1 warm-up sample, time.perf_counter_ns")
    print("ratios  : 'speed' = time(PyTorch) / time(tessel) (>1.00x: tessel faster; the goals use it); "
          "'vs torch' = tessel / PyTorch time")
    if torch is None:
        print("PyTorch missing: tessel trains from its own initialisation and no goal can be judged")
    busy = busy_cpus()
    if busy is not None:
        print(f"busy    : other processes use {busy:.2f} CPUs right now (measured over 0.5 s)")
        usable = rep.machine.get("cpus_in_affinity") or os.cpu_count() or 1
        if busy >= 0.25 and max(threads) + busy > usable:
            rep.note(f"WARNING: {busy:.2f} CPUs busy elsewhere and up to {max(threads)} threads on {usable} "
                     "usable CPUs: figures of both libraries will be off, multi-thread ones by far; run "
                     "on an idle machine")

    peaks, peak_info = ({}, None)
    if "conv" in sections:
        peaks, peak_info = measure_fma_peak(threads, 0.1 if args.quick else 0.2, rep.notes)
        print_fma_peak(peaks, peak_info, threads)
    rep.settings = {"threads": threads, "epochs": epochs, "batch": BATCH, "repeat": repeat,
                    "target_s": target_s, "sections": sorted(sections), "conv": CONV,
                    "adam": {"tensors": ADAM_TENSORS, "numel": ADAM_NUMEL}, "goals": GOALS,
                    "models": models, "passes": passes, "gpt": GPT_CFG, "gpt_batch": GPT_BATCH, "rnn": RNN_CFG,
                    "resnet": RESNET_CFG, "batches_per_pass": MODEL_BATCHES,
                    "fma_peak_gflops": peaks, "fma_peak_build": peak_info,
                    "numpy_thread_control": th.numpy_method, "busy_cpus_at_start": busy}

    if "train" in sections:
        x, y = load_digits_data()
        perm = np.random.default_rng(0).permutation(len(y))
    goals = []
    for t in threads:
        th.set(t)
        print("\n" + th.describe(t))
        if "train" in sections:
            goals += bench_training(ts, torch, t, x, y, perm, epochs, rep)
        if "conv" in sections:
            goals += bench_conv(ts, torch, t, peaks, rep, repeat, target_s)
        if "adam" in sections:
            goals += bench_adam(ts, torch, t, rep, repeat, target_s)
        if "models" in sections:
            goals += bench_models(ts, torch, t, models, passes, rep)

    print("\nGoals (speed = PyTorch time / tessel time, or tessel samples/s / PyTorch samples/s):")
    for g in goals:
        print(g)
    rep.finish(args.json)


if __name__ == "__main__":
    main()
