"""`tessel launch`: runs a program on several ranks through OpenMPI's mpirun,
with the flags one machine needs (docs/distributed.md):

    tessel launch -n 2 train.py --epochs 3      # a .py file runs under this Python
    tessel launch -n 4 --hosts a:2,b:2 -- tessel train cfg.yaml
    tessel launch -n 2 --dry-run train.py       # print the mpirun command line
    tessel launch -n 2 --backend tcp train.py   # no MPI: local processes, torchrun's variables

Threads per rank default to cores / ranks on this machine (OMP_NUM_THREADS),
so that ranks x threads = cores; ranks with several threads are not bound to
one core. Root gets --allow-run-as-root, more ranks than cores --oversubscribe.
"""
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

import click

__all__ = ["launch", "build_command", "local_ranks"]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def build_command(nprocs, program, hosts=None, threads=None, timeout=None, mpirun="mpirun", extra_env=(),
                  is_root=None, cores=None, python=None):
    """(argv, env additions) of the mpirun run for `program` (a list: the command and its arguments)."""
    if nprocs < 1:
        raise click.BadParameter(f"must be >= 1, got {nprocs}", param_hint="-n")
    if not program:
        raise click.UsageError("no program to launch: tessel launch -n 2 train.py [ARGS...]")
    cores = _cores() if cores is None else cores
    is_root = (os.geteuid() == 0) if is_root is None else is_root
    slots_here = nprocs
    argv = [mpirun, "-np", str(nprocs)]
    if hosts:
        argv += ["--host", hosts]
        counts = [int(h.rsplit(":", 1)[1]) if ":" in h else 1 for h in hosts.split(",") if h]
        slots_here = max(counts) if counts else nprocs
    elif nprocs > cores:
        argv.append("--oversubscribe")
    if threads is None:
        threads = max(1, cores // max(1, min(slots_here, cores)))
    if threads < 1:
        raise click.BadParameter(f"must be >= 1, got {threads}", param_hint="--threads")
    if threads > 1 or (not hosts and nprocs > cores):
        argv += ["--bind-to", "none"]  # a rank bound to one core runs its threads on that core only
    if is_root:
        argv.append("--allow-run-as-root")
    if timeout is not None:
        if timeout <= 0:
            raise click.BadParameter(f"must be > 0, got {timeout}", param_hint="--timeout")
        argv += ["--timeout", str(int(timeout))]
    env = {"OMP_NUM_THREADS": str(threads)}
    for item in extra_env:
        name, sep, value = item.partition("=")
        if not name:
            raise click.BadParameter(f"expected NAME or NAME=VALUE, got {item!r}", param_hint="-x")
        if sep:
            env[name] = value
        else:
            env.setdefault(name, os.environ.get(name, ""))
    for name in env:
        argv += ["-x", name]
    return argv + _program(program, python), env


def _program(program, python=None):
    """The command line of one rank: a .py file runs under `python` (default: this one)."""
    program = list(program)
    return [python or sys.executable] + program if program[0].endswith(".py") else program


def local_ranks(nprocs, program, threads=None, extra_env=(), cores=None, python=None, port=None):
    """(argv, one env-additions dict per rank) for --backend tcp: the ranks are local
    processes given torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
    MASTER_ADDR=127.0.0.1, MASTER_PORT), which init_process_group("auto") meets over TCP."""
    _, env = build_command(nprocs, program, threads=threads, extra_env=extra_env, is_root=False, cores=cores)
    program = _program(program, python)
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    common = dict(env, WORLD_SIZE=str(nprocs), LOCAL_WORLD_SIZE=str(nprocs), MASTER_ADDR="127.0.0.1",
                  MASTER_PORT=str(port))
    return program, [dict(common, RANK=str(r), LOCAL_RANK=str(r)) for r in range(nprocs)]


def _run_local(program, envs, timeout):
    """Runs the ranks; when one fails (or the timeout passes) the others are stopped. Exit status:
    the first failing rank's, 124 after the timeout."""
    procs = [subprocess.Popen(program, env=dict(os.environ, **e)) for e in envs]
    deadline = None if timeout is None else time.monotonic() + timeout
    code = 0
    try:
        while [p.poll() for p in procs].count(None):  # polls every rank (any() would stop at the first)
            failed = [p.returncode for p in procs if p.returncode not in (None, 0)]
            if failed or (deadline is not None and time.monotonic() > deadline):
                code = failed[0] if failed else 124
                if not failed:
                    click.echo(f"tessel launch: timed out after {timeout} s; stopping the ranks", err=True)
                break
            time.sleep(0.05)
    finally:
        for p in procs:  # SIGTERM, then SIGKILL for a rank that ignores it
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.monotonic() + 5
        for p in procs:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if code == 0:
        code = next((p.returncode for p in procs if p.returncode), 0)
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


@click.command("launch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-n", "-np", "nprocs", type=int, required=True, help="Number of ranks.")
@click.option("--hosts", metavar="HOST[:SLOTS],...", help="Machines and ranks per machine (mpirun --host).")
@click.option("--threads", type=int, help="Threads per rank (OMP_NUM_THREADS). [default: cores / ranks here]")
@click.option("--timeout", type=int, metavar="SECONDS", help="End the whole job after this many seconds.")
@click.option("-x", "extra_env", multiple=True, metavar="NAME[=VALUE]", help="Pass an environment variable on.")
@click.option("--mpirun", default="mpirun", show_default=True, help="The mpirun to run (OpenMPI's).")
@click.option("--backend", type=click.Choice(["mpi", "tcp"]), default="mpi", show_default=True,
              help="mpi: through mpirun; tcp: N local processes with torchrun's variables (no MPI needed).")
@click.option("--dry-run", is_flag=True, help="Print the command line instead of running it.")
@click.argument("program", nargs=-1, required=True, type=click.UNPROCESSED)
def launch(nprocs, hosts, threads, timeout, extra_env, mpirun, backend, dry_run, program):
    """Run PROGRAM on N ranks with mpirun, or as local processes with --backend tcp (a .py
    file runs under this Python); ts.distributed.init_process_group() in it joins them."""
    program = list(program)
    if program and program[0] == "--":
        program = program[1:]
    if backend == "tcp":
        if hosts:
            raise click.UsageError("--hosts needs --backend mpi: --backend tcp starts the ranks on this machine")
        if timeout is not None and timeout <= 0:
            raise click.BadParameter(f"must be > 0, got {timeout}", param_hint="--timeout")
        argv, envs = local_ranks(nprocs, program, threads, extra_env)
        if dry_run:
            for e in envs:
                click.echo(" ".join(f"{k}={shlex.quote(v)}" for k, v in e.items()) + " " + shlex.join(argv))
            return
        code = _run_local(argv, envs, timeout)
        if code:
            sys.exit(code)
        return
    argv, env = build_command(nprocs, program, hosts, threads, timeout, mpirun, extra_env)
    if dry_run:
        click.echo(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(argv))
        return
    exe = shutil.which(argv[0])
    if exe is None:
        raise click.ClickException(f"{argv[0]} was not found: install OpenMPI (Debian: openmpi-bin) or pass --mpirun")
    full_env = dict(os.environ, **env)
    if not hosts and shutil.which("ssh") is None and shutil.which("rsh") is None:
        full_env.setdefault("OMPI_MCA_plm", "isolated")  # one machine: mpirun needs no remote shell
    code = subprocess.call([exe] + argv[1:], env=full_env)
    if code:
        sys.exit(code)
