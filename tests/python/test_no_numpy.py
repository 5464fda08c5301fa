"""`import tessel` and the core work without NumPy (pyproject lists it as optional): a child process whose
import system refuses numpy imports tessel, trains a small model and reads finfo/iinfo."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tessel as ts

CHILD = textwrap.dedent("""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" or name.startswith("numpy."):
                raise ImportError("numpy is blocked in this process")

    sys.meta_path.insert(0, Block())
    import tessel as ts

    ts.manual_seed(0)
    model = ts.nn.Sequential(ts.nn.Linear(4, 8), ts.nn.ReLU(), ts.nn.Linear(8, 1))
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    x, y = ts.randn(32, 4), ts.randn(32, 1)
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first, (first, loss.item())
    print(ts.finfo(ts.float16).max, ts.iinfo(ts.int8).min, "numpy" in sys.modules)
""")


def test_import_and_train_without_numpy():
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["65504.0", "-128", "False"]


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "complex64", "complex128"])
def test_finfo_matches_numpy(name):
    fi = ts.finfo(getattr(ts, name))
    if name == "bfloat16":  # NumPy has no bfloat16: 8 exponent bits as float32, 8 significand bits
        assert (fi.bits, fi.eps, fi.max, fi.tiny, fi.resolution) == (16, 2.0 ** -7, 3.3895313892515355e38,
                                                                      2.0 ** -126, 0.01)
        return
    ref = np.finfo(name)
    assert (fi.bits, fi.eps, fi.max, fi.min, fi.tiny, fi.smallest_normal) == (
        ref.bits, float(ref.eps), float(ref.max), float(ref.min), float(ref.tiny), float(ref.smallest_normal))
    assert fi.resolution == 10.0 ** -ref.precision  # PyTorch's value (NumPy rounds it to the dtype)


@pytest.mark.parametrize("name", ["int8", "int16", "int32", "int64", "uint8"])
def test_iinfo_matches_numpy(name):
    ii, ref = ts.iinfo(getattr(ts, name)), np.iinfo(name)
    assert (ii.bits, ii.min, ii.max, ii.dtype) == (ref.bits, int(ref.min), int(ref.max), name)
