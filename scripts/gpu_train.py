"""Trains a ResNet on a CUDA GPU and checks it against the CPU (scripts/gpu_check.sh runs it).

1. Three SGD steps of tessel.models.SmallResNet from one initialization, once on
   the CPU and once on cuda: the losses and the final weights agree to float32
   rounding (cuDNN's convolution algorithms sum in another order).
2. The same model trained with `fit` on cuda for a few epochs on scikit-learn's
   digits (8x8 images upsampled to 16x16): test accuracy >= 95%.

    python scripts/gpu_train.py [--epochs 8]

Exit status 1 when a check fails; without a CUDA GPU it prints why and exits 0.
"""
import argparse
import sys
import time

import numpy as np

import tessel as ts
from tessel import nn
from tessel.models import SmallResNet


def digits16():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = np.kron((d.images / 16.0).astype(np.float32), np.ones((2, 2), np.float32))[:, None]  # [N, 1, 16, 16]
    return train_test_split(x, d.target.astype(np.int64), test_size=0.2, stratify=d.target, random_state=0)


def steps(model, x, y, n):
    opt = ts.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn, losses = nn.CrossEntropyLoss(), []
    for _ in range(n):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    if not ts.cuda.is_available():
        print(f"gpu_train: skipped: needs a CUDA GPU ({ts._C._cuda.unavailable_reason()})")
        return 0
    x_train, x_test, y_train, y_test = digits16()
    failed = []

    ts.manual_seed(0)
    cpu_model = SmallResNet(1, 10, channels=(16, 32, 64))
    gpu_model = SmallResNet(1, 10, channels=(16, 32, 64))
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.to("cuda")
    xb, yb = ts.tensor(x_train[:64]), ts.tensor(y_train[:64])
    lc = steps(cpu_model, xb, yb, 3)
    lg = steps(gpu_model, xb.cuda(), yb.cuda(), 3)
    worst = max(float(np.max(np.abs(p.detach().cpu().numpy() - q.detach().numpy())) /
                      (float(np.max(np.abs(q.detach().numpy()))) + 1e-6))
                for p, q in zip(gpu_model.parameters(), cpu_model.parameters()))
    print(f"3 SGD steps, cpu losses {['%.5f' % v for v in lc]}, cuda {['%.5f' % v for v in lg]}, "
          f"worst relative weight difference {worst:.2e}")
    if not np.allclose(lc, lg, rtol=1e-3, atol=1e-4) or worst > 1e-3:
        failed.append("cuda steps differ from the cpu's")

    ts.manual_seed(0)
    model = SmallResNet(1, 10, channels=(16, 32, 64)).to("cuda")
    opt = ts.optim.Adam(model.parameters(), lr=3e-3)
    model.compile(optimizer=opt, loss=nn.CrossEntropyLoss(), metrics=["accuracy"])
    t = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, seed=0, verbose=0)
    ts.cuda.synchronize()
    seconds = time.perf_counter() - t
    acc = model.evaluate(x_test, y_test, batch_size=256)["accuracy"]
    print(f"SmallResNet on cuda: {args.epochs} epochs in {seconds:.1f} s "
          f"({args.epochs * len(x_train) / seconds:,.0f} samples/s), test accuracy {acc * 100:.2f}%")
    if acc < 0.95:
        failed.append(f"test accuracy {acc * 100:.2f}% < 95%")
    for f in failed:
        print("FAILED:", f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
