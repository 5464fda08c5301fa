"""Decode + resize throughput: tessel vs OpenCV-Python vs Pillow.

The workload of an ImageNet-style loader: a 1024x768 photo-like JPEG (quality
90) decoded and resized to 224x224. One thread first (cv2.setNumThreads(1),
tessel num_threads=1), then a batch of 64 through ts.image.decode_batch on
--threads threads. Images/s; ratios are throughput(tessel) / throughput(ref),
so above 1.00 means tessel is faster.

Rows:
  tessel                 decode (full size) + antialiased bilinear resize (Pillow-compatible)
  tessel size_hint       JPEG decoded at 1/2 scale by libjpeg (like Pillow's draft), then resize
  cv2 AREA / LINEAR      cv2.imdecode + cv2.resize(INTER_AREA / INTER_LINEAR), BGR, no RGB swap
  Pillow                 Image.open(BytesIO).convert('RGB').resize((224, 224), BILINEAR)
  Pillow draft           the same after im.draft('RGB', (224, 224)) (reduced-scale decode)

    PYTHONPATH=... python bench/bench_image.py [--threads 2] [--repeat 7]
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import autonumber, import_tessel, machine_info, measure, print_machine, print_table  # noqa: E402


def photo(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 97.0 + y / 153.0), 255 * x / (w - 1),
                    128 + 90 * np.cos(y / 79.0 - x / 171.0)], axis=-1)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="threads for the batch row (default 2)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()

    ts = import_tessel()
    import cv2
    from PIL import Image

    print_machine(machine_info(np, ts))
    print(f"libs    : opencv-python {cv2.__version__}, Pillow {Image.__version__}; "
          f"single-image rows on 1 thread, batch on {args.threads}")
    cv2.setNumThreads(1)
    ts.set_num_threads(1)

    src = photo(768, 1024)
    data = cv2.imencode(".jpg", src[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    print(f"input   : 1024x768 JPEG q90, {len(data) / 1024:.0f} KiB -> 224x224 RGB")
    buf = np.frombuffer(data, np.uint8)
    dec, rsz = ts.image.decode, ts.image.resize

    def tessel_full():
        return rsz(dec(data), (224, 224))

    def tessel_hint():
        return rsz(dec(data, size_hint=(224, 224)), (224, 224))

    def cv_area():
        return cv2.resize(cv2.imdecode(buf, cv2.IMREAD_COLOR), (224, 224), interpolation=cv2.INTER_AREA)

    def cv_linear():
        return cv2.resize(cv2.imdecode(buf, cv2.IMREAD_COLOR), (224, 224), interpolation=cv2.INTER_LINEAR)

    def pil():
        return Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.BILINEAR)

    def pil_draft():
        im = Image.open(io.BytesIO(data))
        im.draft("RGB", (224, 224))
        return im.convert("RGB").resize((224, 224), Image.BILINEAR)

    # Sanity: tessel's full path equals Pillow's (same decoder family, same filter) closely.
    d = np.abs(np.asarray(tessel_full()).astype(int) - np.asarray(pil())).max()
    print(f"check   : max |tessel - Pillow| = {d} levels (JPEG decoders differ by a few)")

    # Samples are interleaved (one of each library per round) so that load from
    # other processes shifts every row alike; the median round is reported.
    fns = [("tessel", tessel_full), ("tessel size_hint", tessel_hint), ("cv2 AREA", cv_area),
           ("cv2 LINEAR", cv_linear), ("Pillow", pil), ("Pillow draft", pil_draft)]
    numbers = {name: autonumber(fn, 0.1) for name, fn in fns}
    samples = {name: [] for name, _ in fns}
    for _ in range(args.repeat):
        for name, fn in fns:
            t0 = time.perf_counter_ns()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((time.perf_counter_ns() - t0) / numbers[name])
    rows = {name: 1e9 / statistics.median(v) for name, v in samples.items()}

    batch = [data] * args.batch
    tr = ts.image.transforms.Resize((224, 224))
    cpu_use = {}
    for n, hint in ((1, None), (args.threads, None), (args.threads, (224, 224))):
        def run(n=n, hint=hint):
            return ts.image.decode_batch(batch, transform=tr, num_threads=n, size_hint=hint)
        label = f"tessel decode_batch x{args.batch}, {n} thr" + (" size_hint" if hint else "")
        w0, c0 = time.perf_counter(), time.process_time()
        rows[label] = args.batch * 1e9 / measure(run, repeat=args.repeat, number=1).median_ns
        # CPUs this process got: well under n means other processes took the cores.
        cpu_use[label] = (time.process_time() - c0) / (time.perf_counter() - w0)

    def r(a, b):
        return f"{rows[a] / rows[b]:.2f}"

    # images per CPU-second: equal across thread counts means no parallel overhead, whatever the load.
    table = [[k, f"{v:.0f}", f"{cpu_use[k]:.2f}" if k in cpu_use else "",
              f"{v / cpu_use[k]:.0f}" if k in cpu_use else ""] for k, v in rows.items()]
    print_table(["decode + resize to 224x224", "images/s", "CPUs used", "images/CPU-s"], table)
    one, many = f"tessel decode_batch x{args.batch}, 1 thr", f"tessel decode_batch x{args.batch}, {args.threads} thr"
    print("ratios (throughput, >1 = tessel faster):")
    print(f"  tessel / cv2 AREA            {r('tessel', 'cv2 AREA')}   (goal >= 1.0)")
    print(f"  tessel / cv2 LINEAR          {r('tessel', 'cv2 LINEAR')}")
    print(f"  tessel / Pillow              {r('tessel', 'Pillow')}   (goal >= 1.0)")
    print(f"  tessel size_hint / Pillow draft {r('tessel size_hint', 'Pillow draft')}")
    print(f"  batch {args.threads} thr / tessel 1 thr     {rows[many] / rows['tessel']:.2f}   (goal >= 1.8)")
    print(f"  batch {args.threads} thr / batch 1 thr      {r(many, one)}")
    if cpu_use[many] < 0.9 * args.threads:
        print(f"note: the {args.threads}-thread batch got {cpu_use[many]:.2f} CPUs (load average "
              f"{os.getloadavg()[0]:.2f}): other processes held the cores, so its speedup is understated")


if __name__ == "__main__":
    main()
