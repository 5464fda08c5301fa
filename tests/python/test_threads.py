"""Thread control: ts.set_num_threads, and tiny ops never start threads."""
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import os, tessel as ts
ts.set_num_threads(2)
def threads():
    return len(os.listdir("/proc/self/task"))
start = threads()
x = ts.ones(100, 10)
for _ in range(200):  # a few hundred tiny ops of every family
    y = (x + 1) * x - x / 2
    y.sum(dim=1); y.exp(); y.max(dim=0); y[:, 2:5] = 0; ts.matmul(x[:3, :3], x[:3, :3]); y.cumsum(0); y.sort(dim=1)
tiny = threads()
z = ts.ones(4_000_000)
(z + z).sum()
print(start, tiny, threads())
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc to count threads")
def test_tiny_ops_never_start_threads():
    out = subprocess.run([sys.executable, "-c", SCRIPT], check=True, capture_output=True, text=True).stdout.split()
    start, tiny, big = map(int, out)
    assert tiny == start, f"tiny ops started {tiny - start} thread(s)"
    if os.cpu_count() and os.cpu_count() > 1:
        assert big > start, "a 4M-element op should use the thread pool"


def test_set_num_threads_round_trip():
    import tessel as ts
    ts.set_num_threads(1)
    assert ts.get_num_threads() == 1
    ts.set_num_threads(2)
    assert ts.get_num_threads() == 2
    with pytest.raises(ValueError, match=r"\[set_num_threads\]"):
        ts.set_num_threads(0)
