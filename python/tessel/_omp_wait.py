"""How OpenMP threads wait at the end of a parallel region, chosen before libgomp loads.

libgomp reads GOMP_SPINCOUNT once, when it loads (with tessel._C), and has no
call to change it later. Its default spins ~300,000 times before sleeping:
right on a machine of its own (a sleeping thread costs a ~25 us wake-up at the
next parallel region; a spin count of 1000 made 2-thread MobileNetV2 1.5x and a
CNN training step 1.35x slower), wrong where another process holds a core (the
spinning thread burns the core its descheduled partner needs: 2-6x slower).
So the choice follows what the CPUs are doing at import: libgomp's default when
tessel's threads have the cores to themselves, a short spin (1000) when other
runnable tasks already hold some (bench/bench_omp_wait.py; docs/dev/decisions.md).
A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT always wins; child processes inherit
the choice through the environment.
"""
import os
import time

SHORT_SPIN = "1000"


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads(cpus: int) -> int:
    v = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(v) if v.isdigit() and int(v) > 0 else cpus


def _own_running() -> int:
    """This process's threads that are running or ready to run (an OpenBLAS pool
    that NumPy just started spins for a while: that is not another process)."""
    n = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                n += f.read().rsplit(")", 1)[1].split()[0] == "R"
        except OSError:  # the thread ended
            pass
    return n


def _others_running(samples: int = 8, gap_s: float = 0.001) -> list[int]:
    """Runnable tasks of other processes, sampled: /proc/loadavg's 4th field
    counts the tasks running or ready to run right now, this process's included."""
    seen = []
    for k in range(samples):
        with open("/proc/loadavg") as f:
            total = int(f.read().split()[3].split("/")[0])
        seen.append(max(0, total - max(1, _own_running())))
        if k + 1 < samples:
            time.sleep(gap_s)
    return seen


def choose() -> str:
    """Sets GOMP_SPINCOUNT for this process unless the user chose; returns what was decided (`tessel info` prints it)."""
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return "set by the user (OMP_WAIT_POLICY / GOMP_SPINCOUNT)"
    cpus = _usable_cpus()
    threads = _threads(cpus)
    try:
        seen = sorted(_others_running())
        others = seen[len(seen) // 2]  # the median sample
    except (OSError, ValueError, IndexError):  # no /proc: keep the safe choice
        others = None
    # Contended when, in most samples, other runnable tasks and tessel's threads
    # together need more cores than there are: a wrong "quiet" costs far more
    # (2-6x) than a wrong "contended" (1.35-1.5x), so ties go to the short spin.
    if others is None or others + threads > cpus:
        os.environ["GOMP_SPINCOUNT"] = SHORT_SPIN
        why = "no /proc/loadavg" if others is None else f"{others} other runnable task(s)"
        return f"GOMP_SPINCOUNT={SHORT_SPIN} ({why}, {threads} threads on {cpus} CPUs at import)"
    return f"libgomp's default spin ({threads} threads on {cpus} idle CPUs at import)"


decision = choose()
