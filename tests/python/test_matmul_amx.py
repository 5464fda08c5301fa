"""bfloat16 matmuls large enough for the AMX kernel (kernels/cpu/matmul_amx.cpp): sizes on and
off the 32-row, 32-column and 32-deep blocks (a's tiles read in place and from a copy), one
panel of b and several, a batch against one shared weight, a's rows strided, a transposed b
(a Linear weight: its pairs gathered), a b strided both ways (which oneDNN takes), a Linear
with its bias, 1 and 2 threads, odd K; every case against the
float64 product of the same bfloat16 values. ONEDNN_VERBOSE shows which path ran: none of
oneDNN's matmuls by default, oneDNN's with TESSEL_AMX=0."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tessel as ts
from conftest import cpu_flags


pytestmark = pytest.mark.skipif(not {"amx_bf16", "amx_tile", "avx512_bf16"} <= cpu_flags(),
                                reason="needs a CPU with AMX-BF16 and AVX512-BF16 (the AMX kernel is not used elsewhere)")

RNG = np.random.default_rng(5)


def bf16(*shape):
    return ts.tensor(RNG.standard_normal(shape).astype(np.float32)).to(ts.bfloat16)


def check(a, b, got):
    a64, b64 = a.to(ts.float64).numpy(), b.to(ts.float64).numpy()
    want = np.matmul(a64, b64)
    assert got.dtype == ts.bfloat16 and tuple(got.shape) == want.shape
    g = got.to(ts.float64).numpy()
    # one bfloat16 rounding of the result plus float32 sums of k products
    bound = 2.0 ** -8 * np.abs(want) + 1e-6 * a64.shape[-1] * np.matmul(np.abs(a64), np.abs(b64))
    assert np.all(np.abs(g - want) <= bound), np.max(np.abs(g - want) / (bound + 1e-30))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("m,k,n", [(1024, 1024, 1024), (1030, 1061, 1039), (1057, 1025, 1153), (4100, 288, 300),
                                   (1100, 300, 1000)])
def test_against_float64(m, k, n, threads):
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        a, b = bf16(m, k), bf16(k, n)
        check(a, b, ts.matmul(a, b))
        full = bf16(m, k + 40)  # a's rows strided: a view of the first k columns
        check(full[:, :k], b, ts.matmul(full[:, :k], b))
        bt = b.T.contiguous().T  # b's columns strided (a Linear weight): pairs gathered
        check(a, bt, ts.matmul(a, bt))
        check(a, bt, ts.nn.functional.linear(a, b.T.contiguous()))
        wide = bf16(k, 2 * n)
        check(a, wide[:, ::2], ts.matmul(a, wide[:, ::2]))  # neither stride 1: oneDNN
    finally:
        ts.set_num_threads(old)


def test_batch_against_one_weight():
    a, w = bf16(2, 1040, 1056), bf16(1056, 1090)
    check(a, w, ts.matmul(a, w))  # w broadcast over the batch: stride 0
    b = bf16(2, 1056, 1090)
    check(a, b, ts.matmul(a, b))


@pytest.mark.parametrize("m,k,n", [(39062 // 8, 256, 256), (1100, 1061, 1030)])
def test_linear_with_bias(m, k, n):
    # the bias added in float32 before the one rounding to bfloat16
    x, w, bias = bf16(m, k), bf16(n, k), bf16(n)
    x64, w64, b64 = (t.to(ts.float64).numpy() for t in (x, w, bias))
    want = x64 @ w64.T + b64
    g = ts.nn.functional.linear(x, w, bias).to(ts.float64).numpy()
    bound = 2.0 ** -8 * np.abs(want) + 1e-6 * k * (np.abs(x64) @ np.abs(w64).T + np.abs(b64))
    assert np.all(np.abs(g - want) <= bound), np.max(np.abs(g - want) / (bound + 1e-30))


def _onednn_matmuls(env):
    code = ("import tessel as ts, numpy as np\n"
            "a = ts.tensor(np.ones((1024, 1056), np.float32)).to(ts.bfloat16)\n"
            "b = ts.tensor(np.ones((1056, 1040), np.float32)).to(ts.bfloat16)\n"
            "assert float(ts.matmul(a, b)[3, 7]) == 1056.0\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ONEDNN_VERBOSE": "1", **env})
    assert run.returncode == 0, run.stderr
    return [line for line in run.stdout.splitlines() if line.startswith("onednn_verbose") and ",exec," in line
            and ",matmul," in line]


def test_amx_kernel_runs_instead_of_onednn():
    assert _onednn_matmuls({}) == []
    assert len(_onednn_matmuls({"TESSEL_AMX": "0"})) >= 1  # the same product on oneDNN
