"""ts.distributed and DistributedDataParallel. The multi-process tests run real
`mpirun -np 2` and `-np 3 --oversubscribe` jobs of small scripts (each with a
timeout); every script checks its results with NumPy and prints "ok <rank>"."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tessel as ts
import tessel.distributed as dist
from tessel.nn.parallel import DistributedDataParallel

MPIRUN = shutil.which("mpirun")
needs_mpi = pytest.mark.skipif(MPIRUN is None or not dist.is_mpi_available(),
                               reason="mpirun or tessel's MPI backend (TESSEL_WITH_MPI) is missing")
LAUNCH_VARS = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
               "OMPI_COMM_WORLD_LOCAL_SIZE", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS", "RANK",
               "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
               "PMIX_RANK")


# Each rank's marker line in one write(2): mpirun forwards every rank's output
# through its own pty, and a line printed in pieces can interleave with another
# rank's ("ok ok 0\n1" failed a CI run).
OK_LINE = '\nimport os as _os\n_os.write(1, f"ok {{{rank}}}\\n".encode())\n'


def rank_env():
    """The environment for a job: no launcher variables of this process, and no
    PYTHONUNBUFFERED (set on these machines), so that each rank's print() is one
    write per line and lines of different ranks do not interleave mid-line."""
    return {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and k != "PYTHONUNBUFFERED"}


def job_script(path, body, backend, init_args=""):
    """`body` after a prelude that initializes the group (init_process_group(init_args)) and
    checks its backend, then the rank's "ok" line."""
    path.write_text(textwrap.dedent(f"""\
        import numpy as np
        import tessel as ts
        import tessel.distributed as dist
        from tessel.nn.parallel import DistributedDataParallel as DDP
        dist.init_process_group({init_args})
        rank, world = dist.get_rank(), dist.get_world_size()
        assert dist.get_backend() == "{backend}", dist.get_backend()
        """) + textwrap.dedent(body) + OK_LINE.format(rank="rank"))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_mpi(tmp_path, np_, body, timeout=120):
    """Runs `body` (after a prelude that initializes the group) on np_ ranks; returns the process."""
    script = tmp_path / "job.py"
    job_script(script, body, "mpi")
    env = rank_env()
    env["OMP_NUM_THREADS"] = "1"
    if os.geteuid() == 0:  # mpirun refuses root without both variables
        env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    cmd = [MPIRUN, "-np", str(np_), "--oversubscribe", "--timeout", str(timeout), "-x", "OMP_NUM_THREADS",
           sys.executable, str(script)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout + 60)


def assert_ok(proc, np_):
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert sorted(line for line in proc.stdout.splitlines() if line.startswith("ok ")) == \
        [f"ok {r}" for r in range(np_)], out


@pytest.fixture
def no_launcher(monkeypatch):
    for k in LAUNCH_VARS:
        monkeypatch.delenv(k, raising=False)
    yield monkeypatch
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.fixture
def single(no_launcher):
    dist.init_process_group()
    yield


# ---- launcher detection and backend choice (no MPI started) ----

def test_launch_info_from_each_launcher(no_launcher):
    assert dist.launch_info() == {"launcher": "", "rank": 0, "world_size": 1, "local_rank": 0,
                                  "local_world_size": 1, "mpi": False}
    cases = [
        ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
          "OMPI_COMM_WORLD_LOCAL_SIZE": "2"}, ("mpirun", 3, 4, 1, 2, True)),
        ({"PMI_RANK": "2", "PMI_SIZE": "3", "MPI_LOCALRANKID": "0"}, ("pmi", 2, 3, 0, 3, True)),
        ({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}, ("torchrun", 1, 2, 1, 2, False)),
        ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1"}, ("slurm", 5, 8, 1, 8, False)),
        ({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "PMIX_RANK": "5"}, ("slurm", 5, 8, 5, 8, True)),
    ]
    keys = ("launcher", "rank", "world_size", "local_rank", "local_world_size", "mpi")
    for env, expected in cases:
        for k in LAUNCH_VARS:
            no_launcher.delenv(k, raising=False)
        for k, v in env.items():
            no_launcher.setenv(k, v)
        info = dist.launch_info()
        assert tuple(info[k] for k in keys) == expected, env


def test_launch_info_mpirun_wins_over_torchrun_vars(no_launcher):
    no_launcher.setenv("RANK", "0")
    no_launcher.setenv("WORLD_SIZE", "1")
    no_launcher.setenv("OMPI_COMM_WORLD_RANK", "1")
    no_launcher.setenv("OMPI_COMM_WORLD_SIZE", "2")
    assert dist.launch_info()["launcher"] == "mpirun"


@pytest.mark.parametrize("env", [{"OMPI_COMM_WORLD_RANK": "x", "OMPI_COMM_WORLD_SIZE": "2"},
                                 {"RANK": "2", "WORLD_SIZE": "2"}, {"RANK": "0", "WORLD_SIZE": "0"},
                                 {"RANK": "-1", "WORLD_SIZE": "2"}])
def test_launch_info_rejects_bad_values(no_launcher, env):
    for k, v in env.items():
        no_launcher.setenv(k, v)
    with pytest.raises(ValueError, match="RANK|WORLD_SIZE"):
        dist.launch_info()


def test_auto_without_launcher_is_single(no_launcher):
    assert not dist.is_initialized()
    dist.init_process_group()
    assert dist.is_initialized()
    assert (dist.get_backend(), dist.get_rank(), dist.get_world_size(), dist.get_local_rank()) == ("single", 0, 1, 0)
    assert dist.get_node_local_rank() == 0
    dist.destroy_process_group()
    assert not dist.is_initialized()
    dist.init_process_group("single")  # a single group can start again
    assert dist.get_backend() == "single"


def test_auto_meets_a_torchrun_job_over_tcp_and_times_out_alone(no_launcher):
    # torchrun's variables without MPI: "auto" is the TCP backend, whose rendezvous waits for
    # the other rank until the timeout and then names what it waited for.
    no_launcher.setenv("RANK", "0")
    no_launcher.setenv("WORLD_SIZE", "2")
    no_launcher.setenv("MASTER_ADDR", "127.0.0.1")
    no_launcher.setenv("MASTER_PORT", str(free_port()))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"timed out waiting for the other ranks at 127.0.0.1:\d+: 0 of 1 joined"):
        dist.init_process_group(timeout=datetime.timedelta(seconds=1))
    assert time.monotonic() - start < 10
    with pytest.raises(ValueError, match="single.*2 processes"):
        dist.init_process_group("single")
    with pytest.raises(ValueError, match="timeout must be a positive"):
        dist.init_process_group(timeout=0)
    no_launcher.setenv("MASTER_PORT", "99999")
    with pytest.raises(ValueError, match="MASTER_PORT='99999'"):
        dist.init_process_group("tcp")
    assert not dist.is_initialized()


def test_auto_refuses_several_processes_without_a_rendezvous(no_launcher):
    no_launcher.setenv("SLURM_PROCID", "0")
    no_launcher.setenv("SLURM_NTASKS", "2")
    no_launcher.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ValueError, match="slurm started 2 processes without MASTER_ADDR"):
        dist.init_process_group()
    assert not dist.is_initialized()


@pytest.mark.skipif(not dist.is_mpi_available(), reason="built without MPI")
def test_mpi_backend_needs_an_mpi_launcher(no_launcher):
    # Never MPI_Init outside a launcher: a clear error instead.
    with pytest.raises(ValueError, match="MPI launcher"):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_nccl_backend_without_a_launcher(no_launcher):
    # NCCL is bootstrapped over MPI: it too needs an MPI launcher (or was not built).
    with pytest.raises(ValueError if dist.is_nccl_available() else NotImplementedError, match="nccl|NCCL"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


@needs_mpi
@pytest.mark.skipif(not dist.is_nccl_available(), reason="built without NCCL")
def test_mpi_nccl_backend_loads_its_libraries(tmp_path):
    # libcudart and libnccl are loaded on demand: with a GPU the group starts, without one
    # the CUDA runtime's own error comes back as a RuntimeError (not a crash).
    script = tmp_path / "nccl.py"
    script.write_text(textwrap.dedent("""\
        import tessel.distributed as dist
        try:
            dist.init_process_group("nccl")
        except RuntimeError as e:
            assert "CUDA" in str(e), e
            print("no gpu:", e)
        else:
            assert dist.get_backend() == "nccl" and dist.get_world_size() == 1
            dist.barrier()
            dist.destroy_process_group()
            print("gpu")
        """))
    env = rank_env()
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    proc = subprocess.run([MPIRUN, "-np", "1", "--timeout", "100", sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=160)
    assert proc.returncode == 0 and ("gpu" in proc.stdout), proc.stdout + proc.stderr


def test_init_process_group_arguments(no_launcher):
    with pytest.raises(ValueError, match="unknown backend \"gloo\""):
        dist.init_process_group("gloo")
    with pytest.raises(TypeError, match="backend must be a str"):
        dist.init_process_group(3)
    with pytest.raises(ValueError, match="init_method"):
        dist.init_process_group(init_method="tcp://127.0.0.1:23456")
    with pytest.raises(ValueError, match="world_size=2"):
        dist.init_process_group(world_size=2)
    assert not dist.is_initialized()
    dist.init_process_group(backend=None, init_method="env://", world_size=1, rank=0)
    with pytest.raises(ValueError, match="twice"):
        dist.init_process_group()


def test_not_initialized_errors(no_launcher):
    for fn in (dist.get_rank, dist.get_world_size, dist.get_backend, dist.barrier, dist.destroy_process_group):
        with pytest.raises(ValueError, match="not been initialized"):
            fn()
    with pytest.raises(ValueError, match="not been initialized"):
        dist.all_reduce(ts.ones(2))
    with pytest.raises(ValueError, match="not been initialized"):
        DistributedDataParallel(ts.nn.Linear(2, 2))
    assert dist.get_node_local_rank(fallback_rank=3) == 3
    with pytest.raises(RuntimeError, match="fallback_rank"):
        dist.get_node_local_rank()


# ---- the single-process group ----

ALL_DTYPES = [ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64, ts.float16, ts.bfloat16, ts.float32,
              ts.float64, ts.complex64, ts.complex128]


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_single_collectives_keep_values(single, dtype):
    x = (ts.arange(6) % 3).to(dtype)
    expected = x.clone()
    ops = [dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT]
    if dtype.is_floating_point or dtype.is_complex:
        ops.append(dist.ReduceOp.AVG)
    if not dtype.is_complex:
        ops += [dist.ReduceOp.MIN, dist.ReduceOp.MAX]
    for op in ops:
        assert dist.all_reduce(x, op=op) is None
        assert ts.array_equal(x, expected)
    dist.broadcast(x, src=0)
    outs = [ts.zeros(6, dtype=dtype)]
    dist.all_gather(outs, x)
    assert ts.array_equal(outs[0], expected)
    out = ts.zeros(6, dtype=dtype)
    dist.all_gather_into_tensor(out, x)
    assert ts.array_equal(out, expected)
    out = ts.zeros(6, dtype=dtype)
    dist.reduce_scatter(out, [x])
    assert ts.array_equal(out, expected)
    out = ts.zeros(6, dtype=dtype)
    dist.reduce_scatter_tensor(out, x)
    assert ts.array_equal(out, expected)


def test_single_object_collectives(single):
    out = [None]
    dist.all_gather_object(out, {"a": (1, 2)})
    assert out == [{"a": (1, 2)}]
    lst = ["x", 3]
    dist.broadcast_object_list(lst, src=0)
    assert lst == ["x", 3]
    with pytest.raises(ValueError, match="world_size \\(1\\)"):
        dist.all_gather_object([None, None], 1)
    with pytest.raises(ValueError, match="src"):
        dist.broadcast_object_list(lst)


def test_single_async_work(single):
    w = dist.all_reduce(ts.ones(3), async_op=True)
    assert isinstance(w, dist.Work)
    assert w.wait() is True
    assert w.is_completed() and w.is_success()
    assert dist.barrier(async_op=True).wait()
    assert dist.barrier() is None
    # The communication thread's timestamps, on time.monotonic()'s clock.
    before = time.monotonic()
    w = dist.all_reduce(ts.ones(1000), async_op=True)
    w.wait()
    started, finished = w._timing()
    assert before <= started <= finished <= time.monotonic()


def test_collective_argument_errors(single):
    with pytest.raises(ValueError, match=r"\[all_reduce\] tensor must be contiguous"):
        dist.all_reduce(ts.ones(3, 4).t())
    with pytest.raises(TypeError, match="AVG needs a floating point or complex tensor"):
        dist.all_reduce(ts.ones(3, dtype=ts.int32), op=dist.ReduceOp.AVG)
    with pytest.raises(TypeError, match="MAX is not defined for complex"):
        dist.all_reduce(ts.ones(3, dtype=ts.complex64), op=dist.ReduceOp.MAX)
    with pytest.raises(TypeError, match="op must be a ReduceOp"):
        dist.all_reduce(ts.ones(3), op="sum")
    with pytest.raises(TypeError, match="tensor must be a Tensor"):
        dist.all_reduce(np.ones(3))
    with pytest.raises(ValueError, match="src rank 1 is out of range"):
        dist.broadcast(ts.ones(3), src=1)
    with pytest.raises(ValueError, match="src .* is required"):
        dist.broadcast(ts.ones(3))
    with pytest.raises(ValueError, match="tensor_list has 2 tensors; the world size is 1"):
        dist.all_gather([ts.ones(3), ts.ones(3)], ts.ones(3))
    with pytest.raises(TypeError, match="dtype float64 but the input has float32"):
        dist.all_gather([ts.ones(3, dtype=ts.float64)], ts.ones(3))
    with pytest.raises(ValueError, match="has 2 elements, the input 3"):
        dist.all_gather([ts.ones(2)], ts.ones(3))
    with pytest.raises(ValueError, match="output has 4 elements"):
        dist.all_gather_into_tensor(ts.ones(4), ts.ones(3))
    with pytest.raises(ValueError, match="input has 4 elements"):
        dist.reduce_scatter_tensor(ts.ones(3), ts.ones(4))
    with pytest.raises(ValueError, match="input_list has 0 tensors"):
        dist.reduce_scatter(ts.ones(3), [])
    with pytest.raises(ValueError, match="only the default process group"):
        dist.all_reduce(ts.ones(3), group=object())


def test_ddp_single_process_is_the_plain_module(single):
    ts.manual_seed(0)
    net = ts.nn.Linear(3, 2)
    ts.manual_seed(0)
    ref = ts.nn.Linear(3, 2)
    ddp = DistributedDataParallel(net)
    assert ddp.module is net and [k for k in ddp.state_dict()] == ["module.weight", "module.bias"]
    x = ts.randn(4, 3)
    ddp(x).sum().backward()
    ref(x).sum().backward()
    assert ts.allclose(net.weight.grad, ref.weight.grad) and ts.allclose(net.bias.grad, ref.bias.grad)


def test_ddp_argument_errors(single):
    with pytest.raises(TypeError, match="must be a ts.nn.Module"):
        DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="device_ids"):
        DistributedDataParallel(ts.nn.Linear(2, 2), device_ids=[0])
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        DistributedDataParallel(ts.nn.Linear(2, 2), bucket_cap_mb=0)
    with pytest.raises(RuntimeError, match="doesn't have any parameter"):
        DistributedDataParallel(ts.nn.ReLU())


def test_sampler_reads_the_process_group(single, monkeypatch):
    s = ts.data.DistributedSampler(list(range(10)), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (1, 0, list(range(10)))


# ---- real MPI jobs ----

COLLECTIVES = """
DTYPES = [ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64, ts.float16, ts.bfloat16, ts.float32,
          ts.float64, ts.complex64, ts.complex128]
R = dist.ReduceOp

def data(r, n, dtype):
    # Small integers: exact sums and products in every dtype.
    base = (np.arange(n) % 3 + r).astype(np.float64)
    if dtype == ts.bool:
        return ts.tensor((np.arange(n) + r) % 3 == 0)
    t = ts.tensor(base).to(dtype)
    if dtype.is_complex:
        t = t + ts.tensor(1j * (np.arange(n) % 2)).to(dtype)
    return t

def as_np(t):
    if t.dtype.is_complex:
        return t.to(ts.complex128).numpy()
    if t.dtype == ts.bool:
        return np.array(t.tolist(), dtype=bool)
    return t.to(ts.float64).numpy()

def ref(n, dtype, op):
    every = np.stack([as_np(data(r, n, dtype)) for r in range(world)]) if n else np.zeros((world, 0))
    if dtype == ts.bool:
        every = every.astype(bool)
        return every.any(0) if op in (R.SUM, R.MAX) else every.all(0)
    return {R.SUM: every.sum(0), R.AVG: every.mean(0), R.PRODUCT: every.prod(0), R.MIN: every.min(0),
            R.MAX: every.max(0)}[op]

def check(got, want, dtype, what):
    tol = 1e-2 if dtype in (ts.float16, ts.bfloat16) else 1e-6
    assert np.allclose(as_np(got), want, rtol=tol, atol=tol), (what, dtype, as_np(got)[:8], np.asarray(want)[:8])

for dtype in DTYPES:
    ops = [R.SUM, R.PRODUCT]
    ops += [R.AVG] if (dtype.is_floating_point or dtype.is_complex) else []
    ops += [] if dtype.is_complex else [R.MIN, R.MAX]
    for n in (0, 1, 7):
        for op in ops:
            t = data(rank, n, dtype)
            dist.all_reduce(t, op=op)
            check(t, ref(n, dtype, op), dtype, f"all_reduce {op} n={n}")
        # broadcast from the last rank
        t = data(rank, n, dtype)
        dist.broadcast(t, src=world - 1)
        check(t, as_np(data(world - 1, n, dtype)), dtype, "broadcast")
        # all_gather, both forms
        outs = [ts.zeros(n, dtype=dtype) for _ in range(world)]
        dist.all_gather(outs, data(rank, n, dtype))
        for r in range(world):
            check(outs[r], as_np(data(r, n, dtype)), dtype, "all_gather")
        flat = ts.zeros(n * world, dtype=dtype)
        dist.all_gather_into_tensor(flat, data(rank, n, dtype))
        check(flat, np.concatenate([as_np(data(r, n, dtype)) for r in range(world)]), dtype, "all_gather_into_tensor")
        # reduce_scatter: rank r gets part r of every rank's (world * n)-element input
        for op in ops:
            big = data(rank, n * world, dtype)
            out = ts.zeros(n, dtype=dtype)
            dist.reduce_scatter_tensor(out, big, op=op)
            check(out, ref(n * world, dtype, op)[rank * n:(rank + 1) * n], dtype, f"reduce_scatter_tensor {op}")
            out = ts.zeros(n, dtype=dtype)
            dist.reduce_scatter(out, [big[r * n:(r + 1) * n].contiguous() for r in range(world)], op=op)
            check(out, ref(n * world, dtype, op)[rank * n:(rank + 1) * n], dtype, f"reduce_scatter {op}")

# a large buffer, asynchronously, with compute in between
big = ts.full((3_000_001,), float(rank + 1))
w = dist.all_reduce(big, op=R.SUM, async_op=True)
local = (ts.ones(200, 200) @ ts.ones(200, 200)).sum()
assert w.wait() is True and w.is_completed()
assert float(big.min()) == float(big.max()) == world * (world + 1) / 2
# several in flight complete in order
ws = [dist.all_reduce(ts.full((1000,), float(i)), op=R.MAX, async_op=True) for i in range(5)]
assert all(x.wait() for x in ws)
dist.barrier()
# Python objects
objs = [None] * world
dist.all_gather_object(objs, {"rank": rank, "data": "x" * rank})
assert objs == [{"rank": r, "data": "x" * r} for r in range(world)], objs
lst = [rank, "from %d" % rank] if rank == 1 else [None, None]
dist.broadcast_object_list(lst, src=1)
assert lst == [1, "from 1"], lst
# the sampler takes rank and world size from the group
s = ts.data.DistributedSampler(list(range(10)), shuffle=True, seed=3)
assert (s.num_replicas, s.rank) == (world, rank)
mine = ts.tensor(list(s), dtype=ts.int64)
every = ts.zeros(len(mine) * world, dtype=ts.int64)
dist.all_gather_into_tensor(every, mine)
assert set(every.tolist()) == set(range(10)), every.tolist()
"""


@needs_mpi
@pytest.mark.parametrize("np_", [2, 3])
def test_mpi_collectives_every_dtype(tmp_path, np_):
    assert_ok(run_mpi(tmp_path, np_, COLLECTIVES), np_)


DDP_EQUIVALENCE = """
import numpy as np
K, B = 5, 12

class Branches(ts.nn.Module):
    # Four parallel branches, summed in a rank-dependent order: each rank's backward
    # produces the gradients (and fills the buckets) in a different order.
    def __init__(self, order):
        super().__init__()
        self.inp = ts.nn.Linear(4, 6)
        self.branches = ts.nn.ModuleList([ts.nn.Linear(6, 3) for _ in range(4)])
        self.order = order
    def forward(self, x):
        h = ts.tanh(self.inp(x))
        out = None
        for i in self.order:
            y = self.branches[i](h)
            out = y if out is None else out + y
        return out

def make(order, seed):
    ts.manual_seed(seed)
    return Branches(order)

rng = np.random.default_rng(7)
X = ts.tensor(rng.standard_normal((B, 4)).astype(np.float32))
Y = ts.tensor(rng.standard_normal((B, 3)).astype(np.float32))
per = B // world
lo, hi = rank * per, (rank + 1) * per

def train(model, step_fn):
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(K):
        opt.zero_grad()
        step_fn(model)
        opt.step()

# one process on the full batch
ref = make([0, 1, 2, 3], 100)
train(ref, lambda m: ts.nn.functional.mse_loss(m(X), Y).backward())

# DDP: ranks start from different weights (rank 0's are broadcast), tiny buckets, shuffled order
order = list(np.random.default_rng(rank).permutation(4))
net = make(order, 100 + rank)
ddp = DDP(net, bucket_cap_mb=0.00005)
assert len(ddp._buckets) > 3
train(ddp, lambda m: ts.nn.functional.mse_loss(m(X[lo:hi]), Y[lo:hi]).backward())
for (name, a), b in zip(net.named_parameters(), ref.parameters()):
    assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6), name

# no_sync: the first half of the local batch accumulates locally, the second synchronizes
net2 = make(order, 100 + 7 * rank)
ddp2 = DDP(net2, bucket_cap_mb=0.00005)
def accumulate(m):
    half = per // 2
    with m.no_sync():
        (ts.nn.functional.mse_loss(m(X[lo:lo + half]), Y[lo:lo + half]) * half / per).backward()
    g = net2.inp.weight.grad.clone()
    every = ts.zeros(world * g.numel())
    dist.all_gather_into_tensor(every, g.reshape(-1))
    if world > 1:  # local gradients: not averaged yet
        assert not np.allclose(every.numpy()[:g.numel()], every.numpy()[g.numel():2 * g.numel()])
    (ts.nn.functional.mse_loss(m(X[lo + half:hi]), Y[lo + half:hi]) * (per - half) / per).backward()
train(ddp2, accumulate)
for (name, a), b in zip(net2.named_parameters(), ref.parameters()):
    assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6), ("no_sync", name)
"""


@needs_mpi
@pytest.mark.parametrize("np_", [2, 3])
def test_mpi_ddp_matches_one_process_on_the_full_batch(tmp_path, np_):
    assert_ok(run_mpi(tmp_path, np_, DDP_EQUIVALENCE), np_)


DDP_UNUSED = """
class TwoHeads(ts.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = ts.nn.Linear(3, 2)
        self.b = ts.nn.Linear(3, 2)      # used on rank 0 only
        self.never = ts.nn.Linear(3, 2)  # used on no rank
    def forward(self, x):
        return self.a(x) + (self.b(x) if rank == 0 else 0)

ts.manual_seed(0)
net = TwoHeads()
ddp = DDP(net, find_unused_parameters=True)
x = ts.ones(2, 3) * (rank + 1)
ddp(x).sum().backward()
assert net.never.weight.grad is None
# b's gradient is rank 0's, averaged with the others' zeros
g = net.b.weight.grad.numpy()
assert np.allclose(g, np.full((2, 3), 2.0 / world)), g
ga = net.a.weight.grad.numpy()
assert np.allclose(ga, np.full((2, 3), sum(r + 1 for r in range(world)) * 2 / world)), ga
ddp(x).sum().backward()  # a second iteration works too

# without find_unused_parameters the next forward names the parameters that got no gradient
ts.manual_seed(0)
plain = DDP(TwoHeads())
plain(x).sum().backward()
try:
    plain(x)
    raise AssertionError("no error")
except RuntimeError as e:
    assert "find_unused_parameters=True" in str(e) and "never.weight" in str(e), str(e)
"""


@needs_mpi
def test_mpi_ddp_find_unused_parameters(tmp_path):
    assert_ok(run_mpi(tmp_path, 2, DDP_UNUSED), 2)


DDP_OVERLAP = """
import time
# Four buckets of ~1 MB; a slow layer between them in backward leaves the first
# buckets time to finish while backward goes on.
class Slow(ts.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1
    @staticmethod
    def backward(ctx, g):
        time.sleep(0.05)
        return g
layers = [ts.nn.Linear(512, 512) for _ in range(4)]
class Net(ts.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = ts.nn.ModuleList(layers)
    def forward(self, x):
        for layer in self.layers:
            x = Slow.apply(layer(x))
        return x
model = DDP(Net(), bucket_cap_mb=1)
x = ts.randn(8, 512)
for _ in range(3):
    model(x).sum().backward()
st = model._overlap_stats
assert st["steps"] == 3, st
assert st["comm_s"] > 0 and 0 <= st["hidden_s"] <= st["comm_s"] + 1e-9, st
# Every bucket but the last (issued when backward ends) overlaps a 50 ms sleep: most is hidden.
assert st["hidden_s"] >= 0.5 * st["comm_s"], st
with model.no_sync():
    model(x).sum().backward()
assert model._overlap_stats["steps"] == 3  # no averaging, nothing counted
"""


@needs_mpi
def test_mpi_ddp_counts_communication_hidden_by_backward(tmp_path):
    assert_ok(run_mpi(tmp_path, 2, DDP_OVERLAP), 2)


@needs_mpi
def test_mpi_a_failing_rank_ends_the_job(tmp_path):
    body = """
    if rank == 1:
        raise KeyError("boom on purpose")
    dist.all_reduce(ts.ones(3))  # would wait forever for rank 1
    """
    start = time.monotonic()
    proc = run_mpi(tmp_path, 2, body, timeout=60)
    assert proc.returncode != 0
    assert "rank 1 of 2 failed with KeyError" in proc.stderr and "boom on purpose" in proc.stderr, proc.stderr
    assert time.monotonic() - start < 30  # ended by MPI_Abort, not by mpirun's --timeout


# ---- the TCP backend: torchrun's variables, no mpirun ----

def run_tcp(tmp_path, np_, body, timeout=120, init_args="", port=None, extra_env=None):
    """Starts np_ plain processes with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT) running `body`; returns [(returncode, stdout, stderr)] per rank.
    Every process is killed at the timeout: a hang fails the test instead of stalling it."""
    script = tmp_path / "tcp_job.py"
    job_script(script, body, "tcp", init_args)
    return start_ranks(script, np_, timeout, port, extra_env)


def start_ranks(script, np_, timeout=120, port=None, extra_env=None):
    """Runs `script` as np_ processes with torchrun's variables; [(returncode, stdout, stderr)] per rank."""
    port = port or free_port()
    procs = []
    for r in range(np_):
        env = rank_env()
        env.update(RANK=str(r), WORLD_SIZE=str(np_), LOCAL_RANK=str(r), LOCAL_WORLD_SIZE=str(np_),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1", **(extra_env or {}))
        procs.append(subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + timeout
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((p.returncode, out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        raise AssertionError(f"the TCP job hung past {timeout} s: {[p.poll() for p in procs]}") from None
    return results


def assert_tcp_ok(results):
    for r, (code, out, err) in enumerate(results):
        assert code == 0 and f"ok {r}" in out.splitlines(), f"rank {r} exited {code}:\n{out}\n{err}"


@pytest.mark.parametrize("np_", [2, 3])
def test_tcp_collectives_every_dtype(tmp_path, np_):
    # The same checks against NumPy as under mpirun: every dtype, op and size 0, 1, 7, 3e6.
    assert_tcp_ok(run_tcp(tmp_path, np_, COLLECTIVES))


def test_tcp_ddp_matches_one_process_on_the_full_batch(tmp_path):
    assert_tcp_ok(run_tcp(tmp_path, 2, DDP_EQUIVALENCE))


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_tcp_a_dead_rank_fails_the_others(tmp_path, how):
    # Rank 1 dies before the collective (an uncaught error, or a plain exit); rank 0, waiting
    # in all_reduce with the default 600 s timeout, fails at once naming rank 1.
    body = f"""
    if rank == 1:
        {"raise KeyError('boom on purpose')" if how == "raise" else "import os; os._exit(3)"}
    dist.all_reduce(ts.ones(1000))
    """
    start = time.monotonic()
    results = run_tcp(tmp_path, 2, body, timeout=90)
    assert time.monotonic() - start < 60
    (code0, _, err0), (code1, _, err1) = results
    assert code0 != 0 and code1 != 0, results
    assert "rank 1 closed the connection" in err0 or "rank 1 failed" in err0, err0
    if how == "raise":
        assert "rank 1 of 2 failed with KeyError" in err1 and "boom on purpose" in err1, err1


def test_tcp_meets_next_to_torchruns_agent_store(tmp_path):
    # torchrun's agent serves its own store at MASTER_PORT and tells its workers so
    # (TORCHELASTIC_USE_AGENT_STORE=True): tessel's ranks then meet at MASTER_PORT + 1.
    import socket
    with socket.socket() as agent:
        agent.bind(("127.0.0.1", 0))
        agent.listen()
        results = run_tcp(tmp_path, 2, "dist.barrier()", port=agent.getsockname()[1],
                          extra_env={"TORCHELASTIC_USE_AGENT_STORE": "True"})
    assert_tcp_ok(results)


def test_tcp_a_stuck_rank_times_out(tmp_path):
    # The 2 s timeout also bounds the rendezvous: both ranks first wait for each
    # other's imports (flag files), so a loaded machine's slow start cannot use it up.
    script = tmp_path / "stuck.py"
    script.write_text(textwrap.dedent(f"""\
        import os, time
        import tessel as ts
        import tessel.distributed as dist
        rank = int(os.environ["RANK"])
        open(os.path.join({str(tmp_path)!r}, f"ready-{{rank}}"), "w").close()
        t0 = time.monotonic()
        while not os.path.exists(os.path.join({str(tmp_path)!r}, f"ready-{{1 - rank}}")):
            assert time.monotonic() - t0 < 60, "the other rank never started"
            time.sleep(0.01)
        dist.init_process_group(timeout=2)
        if rank == 1:
            time.sleep(20)  # alive but silent
        else:
            t0 = time.monotonic()
            try:
                dist.all_reduce(ts.ones(10))
                raise AssertionError("no timeout")
            except RuntimeError as e:
                assert "timed out" in str(e) and "rank 1" in str(e), str(e)
            assert time.monotonic() - t0 < 20, time.monotonic() - t0
            os._exit(0)  # the other rank is still asleep: no collective shutdown
        """))
    results = start_ranks(script, 2, timeout=120)
    assert results[0][0] == 0, results[0]


# ---- tessel launch ----

def test_launch_command_line():
    from tessel.cli.launch import build_command
    argv, env = build_command(3, ["train.py", "--epochs", "2"], is_root=True, cores=2, python="py")
    assert argv == ["mpirun", "-np", "3", "--oversubscribe", "--bind-to", "none", "--allow-run-as-root",
                    "-x", "OMP_NUM_THREADS", "py", "train.py", "--epochs", "2"]
    assert env == {"OMP_NUM_THREADS": "1"}
    # 2 ranks on 8 cores: 4 threads each, unbound; no root flag for a user; --timeout passed on
    argv, env = build_command(2, ["tessel", "train", "cfg.yaml"], timeout=30, is_root=False, cores=8,
                              extra_env=["FOO=1"])
    assert argv == ["mpirun", "-np", "2", "--bind-to", "none", "--timeout", "30", "-x", "OMP_NUM_THREADS",
                    "-x", "FOO", "tessel", "train", "cfg.yaml"]
    assert env == {"OMP_NUM_THREADS": "4", "FOO": "1"}
    # one thread per rank keeps mpirun's default binding
    argv, env = build_command(2, ["a.out"], threads=1, is_root=False, cores=2)
    assert argv == ["mpirun", "-np", "2", "-x", "OMP_NUM_THREADS", "a.out"]
    # several machines: the slots per machine decide the threads
    argv, env = build_command(4, ["a.out"], hosts="a:2,b:2", is_root=False, cores=8)
    assert argv[:5] == ["mpirun", "-np", "4", "--host", "a:2,b:2"] and env["OMP_NUM_THREADS"] == "4"


def test_launch_cli_errors_and_dry_run():
    from click.testing import CliRunner
    from tessel.cli import main
    r = CliRunner().invoke(main, ["launch", "-n", "2", "--dry-run", "--", "x.py", "--lr", "0.1"])
    assert r.exit_code == 0, r.output
    assert "mpirun -np 2" in r.output and r.output.rstrip().endswith("x.py --lr 0.1")
    assert "OMP_NUM_THREADS=" in r.output
    r = CliRunner().invoke(main, ["launch", "-n", "0", "x.py"])
    assert r.exit_code == 2 and "must be >= 1" in r.output
    r = CliRunner().invoke(main, ["launch", "-n", "2", "--timeout", "0", "x.py"])
    assert r.exit_code == 2 and "must be > 0" in r.output
    r = CliRunner().invoke(main, ["launch", "-n", "2", "--mpirun", "/nonexistent/mpirun", "x.py"])
    assert r.exit_code == 1 and "was not found" in r.output


def test_launch_tcp_command_lines():
    from tessel.cli.launch import local_ranks
    argv, envs = local_ranks(3, ["train.py", "--lr", "0.1"], cores=2, python="py", port=29999, extra_env=["FOO=1"])
    assert argv == ["py", "train.py", "--lr", "0.1"]
    assert envs == [{"OMP_NUM_THREADS": "1", "FOO": "1", "WORLD_SIZE": "3", "LOCAL_WORLD_SIZE": "3",
                     "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999", "RANK": str(r), "LOCAL_RANK": str(r)}
                    for r in range(3)]
    from click.testing import CliRunner
    from tessel.cli import main
    r = CliRunner().invoke(main, ["launch", "-n", "2", "--backend", "tcp", "--hosts", "a:1,b:1", "x.py"])
    assert r.exit_code == 2 and "--hosts needs --backend mpi" in r.output


def test_launch_tcp_runs_a_script_on_each_rank_without_mpi(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import tessel as ts, tessel.distributed as dist\n"
                      "dist.init_process_group()\n"
                      "t = ts.ones(2) * (dist.get_rank() + 1)\n"
                      "dist.all_reduce(t)\n"
                      "print('rank', dist.get_rank(), dist.get_world_size(), dist.get_backend(), t.tolist(), flush=True)\n")
    env = rank_env()
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "3", "--backend", "tcp", "--timeout", "100",
                           str(script)], env=env, capture_output=True, text=True, timeout=160)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("rank"))
    assert lines == [f"rank {r} 3 tcp [6.0, 6.0]" for r in range(3)], proc.stdout
    # one failing rank: its status comes back and the others are stopped (or fail) instead of hanging
    bad = tmp_path / "bad.py"
    bad.write_text("import os, sys, time, tessel.distributed as dist\n"
                   "dist.init_process_group()\n"
                   "if dist.get_rank() == 1: sys.exit(3)\n"
                   "time.sleep(60)\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "2", "--backend", "tcp", str(bad)],
                          env=env, capture_output=True, text=True, timeout=160)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert time.monotonic() - start < 40


@needs_mpi
def test_launch_runs_a_script_on_each_rank(tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import os, tessel.distributed as dist\n"
                      "dist.init_process_group()\n"
                      "print('rank', dist.get_rank(), dist.get_world_size(), os.environ['OMP_NUM_THREADS'], flush=True)\n")
    env = rank_env()
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "3", "--timeout", "100", str(script)],
                          env=env, capture_output=True, text=True, timeout=160)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("rank"))
    threads = max(1, len(os.sched_getaffinity(0)) // min(3, len(os.sched_getaffinity(0))))
    assert lines == [f"rank {r} 3 {threads}" for r in range(3)]
    # a failing program's exit status comes back
    bad = tmp_path / "bad.py"
    bad.write_text("import sys; sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "2", "--timeout", "100", str(bad)],
                          env=env, capture_output=True, text=True, timeout=160)
    assert proc.returncode != 0


# ---- model.fit on several ranks ----

FIT = """
rng = np.random.default_rng(0)
X = rng.standard_normal((48, 5)).astype(np.float32)
Y = (X @ rng.standard_normal((5, 2))).astype(np.float32)
def make(seed):
    ts.manual_seed(seed)
    return ts.nn.Sequential(ts.nn.Linear(5, 4), ts.nn.Tanh(), ts.nn.Linear(4, 2))

# one process, batches of 16 consecutive samples
ref = make(0)
opt = ts.optim.SGD(ref.parameters(), lr=0.05)
for epoch in range(3):
    for s in range(0, 48, 16):
        opt.zero_grad()
        ts.nn.functional.mse_loss(ref(ts.tensor(X[s:s + 16])), ts.tensor(Y[s:s + 16])).backward()
        opt.step()

# each rank: batches of 16 // world; rank r takes samples r, r + world, ... of each 16
m = make(0 if rank == 0 else 50 + rank)  # rank 0's weights are broadcast
m.compile(ts.optim.SGD(m.parameters(), lr=0.05), "mse", metrics=())
h = m.fit(X, Y, batch_size=16 // world, epochs=3, shuffle=False, verbose=1)
for a, b in zip(m.parameters(), ref.parameters()):
    assert np.allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
losses = ts.tensor(h.history["loss"], dtype=ts.float64)
every = ts.zeros(3 * world, dtype=ts.float64)
dist.all_gather_into_tensor(every, losses)
assert np.allclose(every.numpy().reshape(world, 3), losses.numpy()), every  # the same logs on every rank

# shuffled epochs still keep the ranks' weights identical
h = m.fit(X, Y, batch_size=5, epochs=2, shuffle=True, verbose=0)
flat = ts.cat([p.detach().reshape(-1) for p in m.parameters()])
every = ts.zeros(world * flat.numel())
dist.all_gather_into_tensor(every, flat)
assert np.ptp(every.numpy().reshape(world, -1), axis=0).max() == 0
"""


@needs_mpi
@pytest.mark.parametrize("np_", [2, 4])
def test_mpi_model_fit_uses_ddp(tmp_path, np_):
    proc = run_mpi(tmp_path, np_, FIT)
    assert_ok(proc, np_)
    assert proc.stdout.count("Epoch 1/3") == 1  # progress from rank 0 only


LOADER_FIT = """
import warnings
X = ts.tensor(np.arange(40, dtype=np.float32).reshape(20, 2))
Y = ts.zeros(20, 1)
seen = []
class Spy(ts.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = ts.nn.Linear(2, 1)
    def forward(self, x):
        seen.extend(x[:, 0].tolist())
        return self.lin(x)
m = Spy()
m.compile("sgd", "mse", metrics=())
# a plain list of 5 batches: every world-th batch, the remainder dropped
batches = [(X[i:i + 4], Y[i:i + 4]) for i in range(0, 20, 4)]
m.fit(batches, epochs=1, verbose=0)
per = 5 // world
assert sorted(seen) == sorted(float(2 * i) for b in range(rank, per * world, world) for i in range(4 * b, 4 * b + 4))
# a loader with a DistributedSampler is used as it is
seen.clear()
data = ts.data.TensorDataset(X, Y)
loader = ts.data.DataLoader(data, batch_size=3, sampler=ts.data.DistributedSampler(data, shuffle=False))
m.fit(loader, epochs=1, verbose=0)
assert sorted(seen) == sorted(float(2 * i) for i in ts.data.DistributedSampler(data, shuffle=False)), seen
"""


@needs_mpi
def test_mpi_model_fit_creates_the_group_under_mpirun(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent("""\
        import numpy as np, tessel as ts, tessel.distributed as dist
        assert not dist.is_initialized()
        ts.manual_seed(int(__import__("os").environ["OMPI_COMM_WORLD_RANK"]))
        m = ts.nn.Linear(2, 1)
        m.compile("sgd", "mse", metrics=())
        m.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), batch_size=2, verbose=0)
        assert dist.is_initialized() and dist.get_world_size() == 2
        every = ts.zeros(4)
        dist.all_gather_into_tensor(every, m.weight.detach().reshape(-1))
        assert every[:2].tolist() == every[2:].tolist()
        """) + OK_LINE.format(rank="dist.get_rank()"))
    env = rank_env()
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "2", "--timeout", "100", str(script)],
                          env=env, capture_output=True, text=True, timeout=160)
    assert_ok(proc, 2)


def test_tcp_model_fit_creates_the_group_under_torchruns_variables(tmp_path):
    # `torchrun ... tessel train` without MPI: fit makes the TCP group itself and trains data-parallel.
    script = tmp_path / "fit_tcp.py"
    script.write_text(textwrap.dedent("""\
        import os, numpy as np, tessel as ts, tessel.distributed as dist
        assert not dist.is_initialized()
        ts.manual_seed(int(os.environ["RANK"]))
        m = ts.nn.Linear(2, 1)
        m.compile("sgd", "mse", metrics=())
        m.fit(np.ones((8, 2), np.float32), np.ones((8, 1), np.float32), batch_size=2, verbose=0)
        assert dist.is_initialized() and dist.get_world_size() == 2 and dist.get_backend() == "tcp"
        every = ts.zeros(4)
        dist.all_gather_into_tensor(every, m.weight.detach().reshape(-1))
        assert every[:2].tolist() == every[2:].tolist()
        """) + OK_LINE.format(rank="dist.get_rank()"))
    assert_tcp_ok(start_ranks(script, 2))


@needs_mpi
def test_mpi_model_fit_splits_loaders(tmp_path):
    assert_ok(run_mpi(tmp_path, 2, LOADER_FIT), 2)


CHECKPOINT_SAVE = """
ckpt = {ckpt!r}
X = ts.tensor(np.random.default_rng(0).standard_normal((24, 3)).astype(np.float32))
Y = X.sum(1, keepdim=True)
class Saver(ts.ModelCheckpoint):
    def on_epoch_end(self, epoch, logs=None):
        print("saved by rank", rank, flush=True)
        super().on_epoch_end(epoch, logs)
ts.manual_seed(rank)
m = ts.nn.Linear(3, 1)
m.compile(ts.optim.SGD(m.parameters(), lr=0.1), "mse", metrics=())
m.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[Saver(ckpt, monitor="loss")])
if rank == 0:
    np.save(ckpt + ".npy", m.weight.detach().numpy())
"""

CHECKPOINT_RESUME = """
ckpt = {ckpt!r}
ts.manual_seed(10 + rank)
m = ts.nn.Linear(3, 1)
m.load_state_dict(ts.load(ckpt))
assert np.array_equal(m.weight.detach().numpy(), np.load(ckpt + ".npy"))
X = ts.tensor(np.random.default_rng(0).standard_normal((24, 3)).astype(np.float32))
m.compile(ts.optim.SGD(m.parameters(), lr=0.1), "mse", metrics=())
m.fit(X, X.sum(1, keepdim=True), batch_size=4, epochs=1, verbose=0)
w = m.weight.detach().reshape(-1)
every = ts.zeros(3 * world)
dist.all_gather_into_tensor(every, w)
assert np.ptp(every.numpy().reshape(world, 3), axis=0).max() == 0
"""


@needs_mpi
def test_mpi_checkpoint_on_rank_0_and_resume_on_another_world_size(tmp_path):
    ckpt = str(tmp_path / "model.safetensors")
    (tmp_path / "a").mkdir()
    proc = run_mpi(tmp_path / "a", 2, CHECKPOINT_SAVE.format(ckpt=ckpt))
    assert_ok(proc, 2)
    assert proc.stdout.count("saved by rank 0") == 2 and "saved by rank 1" not in proc.stdout
    (tmp_path / "b").mkdir()
    assert_ok(run_mpi(tmp_path / "b", 3, CHECKPOINT_RESUME.format(ckpt=ckpt)), 3)


MPI_STARTED_ELSEWHERE = """
import ctypes
import tessel.distributed as dist
lib = ctypes.CDLL("libmpi.so.40", mode=ctypes.RTLD_GLOBAL)
provided = ctypes.c_int()
level = {level}  # OpenMPI: MPI_THREAD_SINGLE = 0, MPI_THREAD_MULTIPLE = 3
assert lib.MPI_Init_thread(None, None, level, ctypes.byref(provided)) == 0
try:
    dist.init_process_group()
except RuntimeError as e:
    assert "MPI_THREAD_MULTIPLE" in str(e) and level == 0, e
else:
    assert level == 3 and dist.get_world_size() == 2
    dist.all_reduce(__import__("tessel").ones(2))
    dist.destroy_process_group()  # does not finalize MPI it did not start
lib.MPI_Finalize()
print("ok", flush=True)
"""


@needs_mpi
@pytest.mark.parametrize("level", [0, 3])
def test_mpi_initialized_by_the_program(tmp_path, level):
    # A program (or mpi4py) that initialized MPI itself: tessel joins it when the thread
    # level lets its communication thread call MPI, and says why not otherwise.
    script = tmp_path / "own.py"
    script.write_text(MPI_STARTED_ELSEWHERE.format(level=level))
    env = rank_env()
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    proc = subprocess.run([MPIRUN, "-np", "2", "--oversubscribe", "--timeout", "100", sys.executable, str(script)],
                          env=env, capture_output=True, text=True, timeout=160)
    assert proc.returncode == 0 and proc.stdout.count("ok") == 2, proc.stdout + proc.stderr


@needs_mpi
def test_tessel_train_on_two_ranks_writes_one_output(tmp_path):
    # `tessel launch -n 2 -- tessel train`: both ranks train (DDP inside fit); only rank 0
    # claims an output folder, records a run and registers a version.
    import yaml
    cfg = {"experiment": {"name": "ddp"}, "data": {"path": "sklearn:iris"},
           "train": {"epochs": 3, "batch_size": 16, "verbose": False},
           "output": {"dir": str(tmp_path / "out" / "{time}"), "register": "iris", "export_onnx": True}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    store = tmp_path / "store"
    env = rank_env()
    proc = subprocess.run([sys.executable, "-m", "tessel", "launch", "-n", "2", "--timeout", "200", "--",
                           sys.executable, "-m", "tessel", "--store", str(store), "train", str(tmp_path / "c.yaml"),
                           "--json", "-q"], env=env, capture_output=True, text=True, timeout=260)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(os.listdir(tmp_path / "out")) == 1, os.listdir(tmp_path / "out")
    assert json.loads(proc.stdout)["model_version"]["version"] == 1  # one JSON document: rank 0's
    out = tmp_path / "out" / os.listdir(tmp_path / "out")[0]
    assert {"model.onnx", "model.safetensors", "metrics.json"} <= set(os.listdir(out))
    import tessel.store as tstore
    st = tstore.open(str(store))
    try:
        assert len(st.search_runs("ddp")) == 1
        assert [v["version"] for v in st.list_versions("iris")] == [1]
    finally:
        st.close()
