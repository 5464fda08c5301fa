"""How OpenMP's wait policy changes 2-thread speed, on a quiet core pair and
with another process holding a core (issue 16, "no collapse when another
process holds a core"; issue 11's contended ONNX figures).

libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, when it loads, so every
(setting, workload, library) runs in a fresh child process. The settings
alternate round by round; each figure is the median over rounds of the
child's wall and CPU seconds per iteration. "contended" starts one busy-loop
process per --contenders for the round (it competes for the 2 cores with the
2 worker threads, as a second job on a shared machine does).

Workloads: an ONNX MobileNetV2 at batch 1 (tessel's runtime vs onnxruntime),
training steps of a small CNN (tessel vs PyTorch, same shapes), and a chain
of elementwise ops and a sum on 1e5 floats (many short parallel regions).

  python bench/bench_omp_wait.py [--rounds 5] [--settings default,passive,spin10k]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "passive"},
    "active": {"OMP_WAIT_POLICY": "active"},
    "spin1k": {"GOMP_SPINCOUNT": "1000"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
    "spin30k": {"GOMP_SPINCOUNT": "30000"},
    "spin100k": {"GOMP_SPINCOUNT": "100000"},
    "spin300k": {"GOMP_SPINCOUNT": "300000"},  # libgomp's own default (no OMP_WAIT_POLICY set)
}

# The child: builds one workload, warms up, times `iters` iterations, prints JSON.
CHILD = r"""
import json, os, sys, time
import numpy as np
lib, work, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.environ["BENCH_DIR"])
rng = np.random.default_rng(0)
if lib == "tessel":
    import tessel as ts
    ts.set_num_threads(2)
elif lib == "torch":
    import torch
    torch.set_num_threads(2)
if work == "onnx_mobilenet":
    from bench_onnx import build_mobilenetv2
    model = build_mobilenetv2()
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    if lib == "tessel":
        sess = ts.onnx.InferenceSession(model.SerializeToString())
    else:
        import onnxruntime as ort
        so = ort.SessionOptions(); so.intra_op_num_threads = 2; so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    step = lambda: sess.run(None, {name: x})
elif work == "train_cnn":
    nn = ts.nn if lib == "tessel" else torch.nn
    T = ts if lib == "tessel" else torch
    T.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = T.optim.Adam(net.parameters(), lr=1e-3)
    xb = T.tensor(rng.standard_normal((32, 1, 28, 28)).astype(np.float32))
    yb = T.tensor(rng.integers(0, 10, 32))
    loss_fn = nn.CrossEntropyLoss()
    def step():
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()
elif work == "ops_1e5":
    T = ts if lib == "tessel" else torch
    a = T.tensor(rng.standard_normal(100_000).astype(np.float32))
    b = T.tensor(rng.standard_normal(100_000).astype(np.float32))
    def step():
        y = (a * b + a).exp().sin() * b
        return y.sum()
else:
    raise SystemExit(f"unknown workload {work}")
for _ in range(max(2, iters // 10)):
    step()
w0, c0 = time.perf_counter(), time.process_time()
for _ in range(iters):
    step()
w1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"wall": (w1 - w0) / iters, "cpu": (c1 - c0) / iters}))
"""

WORKLOADS = {  # name -> (libraries, iterations per child)
    "onnx_mobilenet": (("tessel", "ort"), 40),
    "train_cnn": (("tessel", "torch"), 60),
    "ops_1e5": (("tessel", "torch"), 3000),
}


def busy():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_child(python, lib, work, iters, setting, timeout):
    env = dict(os.environ)
    for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(k, None)
    env.update(SETTINGS[setting])
    env.update(BENCH_DIR=HERE, OMP_NUM_THREADS="2")
    out = subprocess.run([python, "-c", CHILD, lib, work, str(iters)], env=env, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{lib} {work} {setting}: exit {out.returncode} {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--settings", default="default,passive,spin10k")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--conditions", default="alone,contended", help="alone and/or contended")
    p.add_argument("--contenders", type=int, default=1, help="busy-loop processes in the contended condition")
    p.add_argument("--torch-python", default="/opt/torchref/bin/python",
                   help="interpreter with PyTorch (and tessel on PYTHONPATH) for the torch rows")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--json", default=None)
    a = p.parse_args()
    settings = [s for s in a.settings.split(",") if s]
    for s in settings:
        if s not in SETTINGS:
            raise SystemExit(f"--settings: unknown {s!r} (have {', '.join(SETTINGS)})")
    works = [w for w in a.workloads.split(",") if w]
    conds = [c for c in a.conditions.split(",") if c]
    have_torch = os.path.exists(a.torch_python)
    print(f"machine: {os.uname().machine}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"2 threads; {a.rounds} rounds; settings {settings}; contended = {a.contenders} busy process(es)")
    res = {}
    for r in range(a.rounds):
        for cond in conds:
            procs = [busy() for _ in range(a.contenders)] if cond == "contended" else []
            try:
                if procs:
                    time.sleep(0.3)
                for work in works:
                    libs, iters = WORKLOADS[work]
                    for lib in libs:
                        python = a.torch_python if lib == "torch" else sys.executable
                        if lib == "torch" and not have_torch:
                            continue
                        order = settings if r % 2 == 0 else settings[::-1]  # alternate the order
                        for s in order:
                            try:
                                m = run_child(python, lib, work, iters, s, a.timeout)
                            except (RuntimeError, subprocess.TimeoutExpired) as e:  # a lost sample, not a lost run
                                print(f"  sample failed: {e}", flush=True)
                                continue
                            res.setdefault((cond, work, lib, s), []).append(m)
            finally:
                for q in procs:
                    q.kill()
                    q.wait()
        print(f"round {r + 1}/{a.rounds} done, load {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    print(f"\n{'condition':10} {'workload':15} {'lib':7} {'setting':9} {'ms wall':>9} {'ms CPU':>8} "
          f"{'vs default':>10} {'spread':>7}")
    for (cond, work, lib, s), ms in sorted(res.items()):
        wall = statistics.median(m["wall"] for m in ms)
        cpu = statistics.median(m["cpu"] for m in ms)
        base = statistics.median(m["wall"] for m in res[(cond, work, lib, "default")]) \
            if (cond, work, lib, "default") in res else None
        walls = [m["wall"] for m in ms]
        spread = (max(walls) - min(walls)) / wall if wall else 0
        rel = f"{wall / base:.2f}x" if base else ""
        print(f"{cond:10} {work:15} {lib:7} {s:9} {1e3 * wall:9.3f} {1e3 * cpu:8.3f} {rel:>10} {100 * spread:6.0f}%")
        rows.append({"condition": cond, "workload": work, "lib": lib, "setting": s, "wall_s": wall, "cpu_s": cpu,
                     "samples": ms})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "load_end": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
