import numpy as np
import pytest

import tessel as ts

# NumPy dtype for each tessel dtype that NumPy has (bfloat16 goes through float32).
NP = {
    ts.bool: np.bool_, ts.uint8: np.uint8, ts.int8: np.int8, ts.int16: np.int16, ts.int32: np.int32,
    ts.int64: np.int64, ts.float16: np.float16, ts.float32: np.float32, ts.float64: np.float64,
    ts.complex64: np.complex64, ts.complex128: np.complex128,
    ts.uint16: np.uint16, ts.uint32: np.uint32, ts.uint64: np.uint64,
}


def to_numpy(t):
    """A tessel tensor as a NumPy array of the matching dtype (bfloat16 -> float32, exact)."""
    if t.dtype == ts.bfloat16:
        t = t.float()
    dt = NP[t.dtype]
    return np.array(t.tolist(), dtype=dt).reshape(t.shape)


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none): tests of a kernel
    that only one instruction set runs skip elsewhere, saying so."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def from_numpy(a, dtype=None):
    """A tessel tensor copied from a NumPy array; dtype=ts.bfloat16 rounds from float32."""
    if dtype == ts.bfloat16:
        return ts.tensor(np.ascontiguousarray(a, dtype=np.float32)).to(ts.bfloat16)
    return ts.tensor(a if dtype is None else np.asarray(a, dtype=NP[dtype]))


@pytest.fixture(autouse=True)
def _restore_threads():
    n = ts.get_num_threads()
    yield
    ts.set_num_threads(n)


@pytest.fixture(params=[1, 2])
def threads(request):
    """Runs the test on 1 and on 2 threads (_restore_threads puts the count back)."""
    ts.set_num_threads(request.param)
    return request.param
