"""Data-parallel scaling: a ResNet-style CNN trained on 1 and 2 ranks under mpirun,
tessel's DistributedDataParallel (MPI) side by side with PyTorch's (gloo) in the same run.

    .venv/bin/python bench/bench_ddp.py                      # tessel and PyTorch, 1 and 2 ranks
    .venv/bin/python bench/bench_ddp.py --quick              # smoke test
    .venv/bin/python bench/bench_ddp.py --torch-python /opt/torchref/bin/python
    .venv/bin/python bench/bench_ddp.py --libs tessel,tessel-tcp,torch   # + tessel's TCP backend

Each configuration is one `mpirun -np N` job (the command line of `tessel launch`, one
thread per rank: ranks x threads <= cores is the comparison's premise). Every rank trains
the same model (identical architecture in both libraries: a 3x3 stem, `--blocks` basic
residual blocks per stage of `--channels`, global average pooling, a linear head; SGD with
momentum, cross-entropy) on its own synthetic batch of `--batch` images per rank; a step
is zero_grad + forward + backward (with the gradient all-reduce) + optimizer step. Rank 0
reports the median step time over `--steps` steps after `--warmup`; samples/s =
ranks x batch / median step. Scaling = samples/s on 2 ranks / on 1 rank, per library.

Overlap (tessel): DistributedDataParallel counts, per synchronized backward, the seconds its
buckets' all-reduces ran on the communication thread and the part of them that ran before
the last gradient arrived, i.e. was covered by backward ("hidden"). The gradients of this
model are ~1-5 MB: with the 25 MB default buckets there would be a single bucket issued when
backward ends and nothing could overlap, so both libraries get `--bucket-cap-mb` (1 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


# --------------------------------------------------------------------------
# the model, written once against either library's nn module (same API names)

def make_resnet(nn, channels, blocks, num_classes=10):
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return self.relu(y + (x if self.short is None else self.short(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            c = channels[0]
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
            layers = []
            for i, w in enumerate(channels):
                for b in range(blocks):
                    layers.append(Block(c, w, 2 if (i > 0 and b == 0) else 1))
                    c = w
            self.stages = nn.Sequential(*layers)
            self.head = nn.Linear(c, num_classes)

        def forward(self, x):
            return self.head(self.stages(self.stem(x)).mean((2, 3)))

    return ResNet()


# --------------------------------------------------------------------------
# one rank of one job


def _worker(args):
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    channels = [int(c) for c in args.channels.split(",")]
    if args.worker.startswith("tessel"):
        import tessel as lib
        import tessel.distributed as dist
        from tessel.nn.parallel import DistributedDataParallel as DDP
        lib.set_num_threads(args.rank_threads)
        # tessel-tcp: the TCP backend (as under torchrun) although mpirun started the ranks.
        dist.init_process_group("tcp" if args.worker == "tessel-tcp" else "auto")
        assert dist.get_world_size() == world, (dist.get_world_size(), world)
        backend = dist.get_backend()
    else:
        import torch as lib
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
        lib.set_num_threads(args.rank_threads)
        lib.set_num_interop_threads(1)
        # mpirun starts the ranks; gloo meets at MASTER_ADDR:MASTER_PORT (given by the driver).
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
        dist.init_process_group("gloo", rank=rank, world_size=world)
        backend = dist.get_backend()
    lib.manual_seed(0)
    model = DDP(make_resnet(lib.nn, channels, args.blocks), bucket_cap_mb=args.bucket_cap_mb)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()
    lib.manual_seed(1 + rank)
    x = lib.randn(args.batch, 3, args.image, args.image)
    y = lib.randint(0, 10, (args.batch,))
    nparams = sum(p.numel() for p in model.parameters())

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    times = []
    for i in range(args.warmup + args.steps):
        if i == args.warmup and args.worker.startswith("tessel"):
            model._reset_overlap_stats()
        t0 = time.perf_counter()
        loss = step()
        float(loss.item())
        times.append(time.perf_counter() - t0)
    times = times[args.warmup:]
    dist.barrier()
    if rank == 0:
        out = {"lib": args.worker, "ranks": world, "backend": str(backend), "params": int(nparams),
               "step_s": times, "threads": lib.get_num_threads(), "version": lib.__version__}
        if args.worker.startswith("tessel") and world > 1:
            out["overlap"] = dict(model._overlap_stats)
        Path(args.out).write_text(json.dumps(out))
    dist.barrier()  # no rank tears the group down while another still uses it
    dist.destroy_process_group()


# --------------------------------------------------------------------------
# the driver: one mpirun job per (library, ranks)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job_command(lib, ranks, args, out, python):
    from tessel.cli.launch import build_command
    worker = [str(Path(__file__).resolve()), "--worker", lib, "--out", out, "--batch", str(args.batch),
              "--image", str(args.image), "--channels", args.channels, "--blocks", str(args.blocks),
              "--steps", str(args.steps), "--warmup", str(args.warmup), "--bucket-cap-mb", str(args.bucket_cap_mb),
              "--rank-threads", str(args.rank_threads)]
    if lib == "torch":  # the PyTorch ranks get none of tessel's development paths
        extra = ["MASTER_ADDR=127.0.0.1", f"MASTER_PORT={_free_port()}"]
    else:
        extra = [k for k in ("PYTHONPATH", "TESSEL_BUILD_DIR", "LD_LIBRARY_PATH") if os.environ.get(k)]
        if lib == "tessel-tcp":  # the TCP backend meets where gloo does
            extra += ["MASTER_ADDR=127.0.0.1", f"MASTER_PORT={_free_port()}"]
    argv, env = build_command(ranks, worker, threads=args.rank_threads, timeout=args.timeout, extra_env=extra,
                              python=python)
    return argv, env


def _run_job(lib, ranks, args, python, attempts=2):
    for attempt in range(attempts):
        try:
            return _run_job_once(lib, ranks, args, python)
        except RuntimeError as e:
            if attempt + 1 == attempts:
                raise SystemExit(str(e)) from None
            # Said, not hidden: a crashed job is rerun once (gloo has aborted at exit on a loaded machine).
            print(f"  RETRY after a failed job: {str(e).splitlines()[0]}")


def _run_job_once(lib, ranks, args, python):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.json")
        argv, env = _job_command(lib, ranks, args, out, python)
        full = dict(os.environ, **env)
        full.pop("PYTHONUNBUFFERED", None)
        if os.geteuid() == 0:
            full["OMPI_ALLOW_RUN_AS_ROOT"] = full["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        cmd = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(argv)
        t0 = time.monotonic()
        proc = subprocess.run(argv, env=full, capture_output=True, text=True, timeout=args.timeout + 60)
        if proc.returncode != 0 or not os.path.exists(out):
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(f"job failed ({lib}, {ranks} ranks, exit {proc.returncode}):\n{cmd}\n{tail}")
        r = json.loads(Path(out).read_text())
        r["command"], r["wall_s"] = cmd, time.monotonic() - t0
        return r


def main():
    import common
    p = common.base_parser(__doc__.splitlines()[0], default_threads="1")
    p.add_argument("--worker", choices=["tessel", "tessel-tcp", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--rank-threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--ranks", default="1,2", help="world sizes to run (default: 1,2)")
    p.add_argument("--libs", default="tessel,torch", help="tessel, torch or both (default: both)")
    p.add_argument("--batch", type=int, default=64, help="images per rank per step (default: 64)")
    p.add_argument("--image", type=int, default=32, help="image side (default: 32)")
    p.add_argument("--channels", default="32,64,128", help="stage widths (default: 32,64,128)")
    p.add_argument("--blocks", type=int, default=1, help="basic blocks per stage (default: 1)")
    p.add_argument("--steps", type=int, default=12, help="measured steps per job (default: 12)")
    p.add_argument("--warmup", type=int, default=3, help="steps before measuring (default: 3)")
    p.add_argument("--bucket-cap-mb", type=float, default=1.0, help="DDP bucket size, both libraries (default: 1)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per mpirun job (default: 600)")
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON", "/opt/torchref/bin/python"),
                   help="a Python with torch for the PyTorch rows (default: /opt/torchref/bin/python, "
                        "else this Python)")
    args = p.parse_args()
    if args.worker:
        return _worker(args)

    threads = common.parse_threads(args.threads)
    if threads != [1]:
        raise SystemExit("--threads: this benchmark runs one thread per rank (the comparison's premise)")
    if args.quick:
        args.steps, args.warmup, args.batch = 3, 1, 16
    ranks = sorted({int(r) for r in args.ranks.split(",")})
    libs = [lib for lib in args.libs.split(",") if lib]
    if set(libs) - {"tessel", "tessel-tcp", "torch"}:
        raise SystemExit(f"--libs: tessel, tessel-tcp and/or torch, got {args.libs}")
    ts = common.import_tessel()
    import numpy as np
    torch_python = args.torch_python if os.path.exists(args.torch_python) else sys.executable
    torch_version = None
    if "torch" in libs:
        probe = subprocess.run([torch_python, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                               text=True)
        if probe.returncode != 0:
            print(f"PyTorch is not importable from {torch_python}: its rows are skipped")
            libs.remove("torch")
        else:
            torch_version = probe.stdout.strip()
    report = common.start("bench_ddp.py", "data-parallel scaling, ResNet-style CNN, 1 thread per rank", args, np,
                          ts, None)
    report.machine["torch"] = torch_version
    print(f"PyTorch : {torch_version or 'not run'} ({torch_python})")
    print(f"model   : ResNet-style, channels {args.channels}, {args.blocks} block(s)/stage, {args.image}x{args.image}"
          f" RGB, batch {args.batch}/rank, SGD(momentum 0.9); buckets {args.bucket_cap_mb} MB; "
          f"{args.warmup} warm-up + {args.steps} measured steps; 1 thread per rank")
    report.settings = {k: v for k, v in vars(args).items() if k not in ("worker", "out")}

    results = {}
    for lib in libs:  # interleaved per world size would mix warm caches; per library is simpler to read
        for n in ranks:
            r = _run_job(lib, n, args, torch_python if lib == "torch" else sys.executable)
            results[(lib, n)] = r
            print(f"  ran {lib} on {n} rank(s) in {r['wall_s']:.1f}s: {r['command']}")
            report.results.append(r)
    try:
        load = tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        load = None
    print(f"load after the jobs: {load}")
    report.machine["loadavg_after"] = load

    rows = []
    base = {lib: results.get((lib, min(ranks))) for lib in libs}
    for (lib, n), r in results.items():
        med = statistics.median(r["step_s"])
        sps = n * args.batch / med
        b = base[lib]
        scale = sps / (b["ranks"] * args.batch / statistics.median(b["step_s"])) if b and b is not r else None
        ov = r.get("overlap")
        hidden = comm = None
        if ov and ov["steps"]:
            comm, hidden = 1e3 * ov["comm_s"] / ov["steps"], 1e3 * ov["hidden_s"] / ov["steps"]
        r.update(median_step_s=med, samples_per_s=sps, scaling=scale, comm_ms_per_step=comm,
                 hidden_ms_per_step=hidden)
        rows.append([lib, n, r["backend"], f"{1e3 * med:.1f}", f"{1e3 * min(r['step_s']):.1f}",
                     f"{1e3 * max(r['step_s']):.1f}", f"{sps:.1f}", common.fmt(scale, ".2f", "-"),
                     "-" if comm is None else f"{comm:.1f}",
                     "-" if hidden is None else f"{hidden:.1f} ({100 * hidden / comm if comm else 0:.0f}%)"])
    common.print_table(["library", "ranks", "backend", "median step ms", "min", "max", "samples/s",
                        f"x over {min(ranks)} rank", "comm ms/step", "hidden by backward"], rows)
    top = max(ranks)
    for mine in ("tessel", "tessel-tcp"):
        if (mine, top) in results and ("torch", top) in results:
            ratio = results[(mine, top)]["samples_per_s"] / results[("torch", top)]["samples_per_s"]
            report.note(f"{mine} / PyTorch samples/s on {top} ranks: {ratio:.2f} (goal >= 1.00)")
            report.results.append({f"{mine.replace('-', '_')}_over_torch": ratio, "ranks": top})
    if ("tessel", top) in results and top > min(ranks):
        report.note(f"tessel {top}-rank scaling: {results[('tessel', top)]['scaling']:.2f}x (goal >= 1.80x for 2 "
                    "ranks; needs 2 idle cores)")
    report.write(args.json)


if __name__ == "__main__":
    main()
