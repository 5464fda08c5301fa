"""tessel chooses libgomp's spin count before libgomp loads (python/tessel/_omp_wait.py):
a short spin when other runnable tasks hold cores at import, libgomp's default when
tessel's threads have the CPUs to themselves, and the user's OMP_WAIT_POLICY or
GOMP_SPINCOUNT always."""
import os
import subprocess
import sys

import pytest

from tessel import _omp_wait

CHILD = r"""
import os
maps = lambda: open("/proc/self/maps").read()
before = "libgomp" in maps()
import tessel
print(before, "libgomp" in maps(), os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


def run(**env):
    e = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    e.update(env)
    out = subprocess.run([sys.executable, "-c", CHILD], env=e, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_short_spin_set_before_libgomp_loads_when_a_core_is_taken():
    # One busy process per usable CPU: whatever else runs, tessel's threads cannot have the cores.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(_omp_wait._usable_cpus())]
    try:
        before, after, spin, policy = run()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert before == "False" and after == "True"  # libgomp came with tessel, after the setting
    assert spin == "1000" and policy == "None"


def test_the_users_choice_wins():
    assert run(GOMP_SPINCOUNT="5")[2] == "5"
    _, _, spin, policy = run(OMP_WAIT_POLICY="active")
    assert spin == "None" and policy == "active"


@pytest.mark.parametrize("others,threads,cpus,short", [
    ([0] * 8, 2, 2, False),             # quiet: libgomp's default
    ([1] * 8, 2, 2, True),              # another process holds a core
    ([1] * 8, 1, 2, False),             # one thread fits beside it
    ([0, 0, 0, 1, 1, 1, 1, 1], 2, 2, True),  # mostly busy: the median decides
    ([0, 0, 0, 0, 0, 1, 1, 3], 2, 2, False),  # a moment's blip does not
    ([3] * 8, 4, 8, False),             # a big machine with room
])
def test_choice_follows_the_runnable_tasks(monkeypatch, others, threads, cpus, short):
    for k in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", str(threads))
    monkeypatch.setattr(_omp_wait, "_usable_cpus", lambda: cpus)
    monkeypatch.setattr(_omp_wait, "_others_running", lambda: list(others))
    why = _omp_wait.choose()
    assert (os.environ.get("GOMP_SPINCOUNT") == "1000") == short, why
    assert ("1000" in why) == short


def test_others_running_reads_proc_loadavg():
    seen = _omp_wait._others_running(samples=3, gap_s=0)
    assert len(seen) == 3 and all(isinstance(v, int) and v >= 0 for v in seen)
