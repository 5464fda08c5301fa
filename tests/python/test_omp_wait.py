"""tessel sets libgomp's spin count before libgomp loads (python/tessel/__init__.py):
a short spin, then sleep, unless the user chose OMP_WAIT_POLICY or GOMP_SPINCOUNT."""
import os
import subprocess
import sys

CHILD = r"""
import os
maps = lambda: open("/proc/self/maps").read()
before = "libgomp" in maps()
import tessel
print(before, "libgomp" in maps(), os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


def run(**env):
    e = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    e.update(env)
    out = subprocess.run([sys.executable, "-c", CHILD], env=e, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_spin_count_set_before_libgomp_loads():
    before, after, spin, policy = run()
    assert before == "False" and after == "True"  # libgomp came with tessel, after the setting
    assert spin == "1000" and policy == "None"


def test_the_users_choice_wins():
    assert run(GOMP_SPINCOUNT="5")[2] == "5"
    _, _, spin, policy = run(OMP_WAIT_POLICY="active")
    assert spin == "None" and policy == "active"
