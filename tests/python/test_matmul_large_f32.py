"""float32 products of 2^32 multiply-adds and more, which go through OpenBLAS's sgemm where tessel
links it (kernels/cpu/gemm_blas.h): a and b as stored and transposed, a's rows strided, a batch
against one shared weight, 1 and 2 threads; every case against the float64 product.
ONEDNN_VERBOSE shows that oneDNN ran none of them (where the process has OpenBLAS loaded)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tessel as ts

RNG = np.random.default_rng(21)
M, K, N = 1700, 1630, 1660  # 4.6e9 multiply-adds, no side a multiple of 32


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def check(a, b, got):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.matmul(a64, b64)
    assert got.shape == want.shape
    # float32 sums of K products: a few roundings of the largest partial sums
    bound = 1e-6 * np.sqrt(a.shape[-1]) * np.matmul(np.abs(a64), np.abs(b64)) + 1e-30
    assert np.all(np.abs(got - want) <= bound), np.max(np.abs(got - want) / bound)


@pytest.mark.parametrize("threads", [1, 2])
def test_large_products_against_float64(threads):
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        a, b = f32(M, K), f32(K, N)
        check(a, b, ts.matmul(ts.tensor(a), ts.tensor(b)).numpy())
        at, bt = f32(K, M), f32(N, K)  # used transposed
        check(at.T, bt.T, ts.matmul(ts.tensor(at).T, ts.tensor(bt).T).numpy())
        check(a, bt.T, ts.matmul(ts.tensor(a), ts.tensor(bt).T).numpy())  # a Linear weight
        check(at.T, b, ts.matmul(ts.tensor(at).T, ts.tensor(b)).numpy())
        wide = f32(M, K + 24)
        check(wide[:, :K], b, ts.matmul(ts.tensor(wide)[:, :K], ts.tensor(b)).numpy())
    finally:
        ts.set_num_threads(old)


def test_batch_against_one_weight():
    a, w = f32(2, M, K), f32(K, N)
    check(a, w, ts.matmul(ts.tensor(a), ts.tensor(w)).numpy())


def test_onednn_runs_none_of_them():
    code = ("import tessel as ts, numpy as np\n"
            "a = ts.tensor(np.ones((1700, 1630), np.float32)); b = ts.tensor(np.ones((1630, 1660), np.float32))\n"
            "assert float(ts.matmul(a, b)[5, 9]) == 1630.0\n"
            "print('openblas' if 'libopenblas' in open('/proc/self/maps').read() else 'no openblas')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ONEDNN_VERBOSE": "1"})
    assert run.returncode == 0, run.stderr
    if "no openblas" in run.stdout:
        pytest.skip("tessel was built without OpenBLAS: oneDNN takes these products")
    assert not [line for line in run.stdout.splitlines() if ",exec," in line and ",matmul," in line]
