"""`tessel launch`: runs a program on several ranks through OpenMPI's mpirun,
with the flags one machine needs (docs/distributed.md):

    tessel launch -n 2 train.py --epochs 3      # a .py file runs under this Python
    tessel launch -n 4 --hosts a:2,b:2 -- tessel train cfg.yaml
    tessel launch -n 2 --dry-run train.py       # print the mpirun command line

Threads per rank default to cores / ranks on this machine (OMP_NUM_THREADS),
so that ranks x threads = cores; ranks with several threads are not bound to
one core. Root gets --allow-run-as-root, more ranks than cores --oversubscribe.
"""
import os
import shlex
import shutil
import subprocess
import sys

import click

__all__ = ["launch", "build_command"]


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
    program = list(program)
    if program[0].endswith(".py"):
        program.insert(0, python or sys.executable)
    return argv + program, env


@click.command("launch", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-n", "-np", "nprocs", type=int, required=True, help="Number of ranks.")
@click.option("--hosts", metavar="HOST[:SLOTS],...", help="Machines and ranks per machine (mpirun --host).")
@click.option("--threads", type=int, help="Threads per rank (OMP_NUM_THREADS). [default: cores / ranks here]")
@click.option("--timeout", type=int, metavar="SECONDS", help="End the whole job after this many seconds.")
@click.option("-x", "extra_env", multiple=True, metavar="NAME[=VALUE]", help="Pass an environment variable on.")
@click.option("--mpirun", default="mpirun", show_default=True, help="The mpirun to run (OpenMPI's).")
@click.option("--dry-run", is_flag=True, help="Print the command line instead of running it.")
@click.argument("program", nargs=-1, required=True, type=click.UNPROCESSED)
def launch(nprocs, hosts, threads, timeout, extra_env, mpirun, dry_run, program):
    """Run PROGRAM on N ranks with mpirun (a .py file runs under this Python);
    ts.distributed.init_process_group() in it joins them."""
    program = list(program)
    if program and program[0] == "--":
        program = program[1:]
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
