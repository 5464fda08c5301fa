"""The fast paths of the random kernels (issue 16): randperm's Fisher-Yates, and uniform,
normal and randint on SIMD lanes, keep the Philox stream contract of docs/random.md."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tessel as ts


def _fisher_yates(keys):
    # docs/random.md: step i = n-1 .. 1 swaps o[i] and o[floor(u_i (i + 1))]
    o = np.arange(len(keys))
    for i in range(len(keys) - 1, 0, -1):
        j = min(i, int(keys[i] * (i + 1)))
        o[i], o[j] = o[j], o[i]
    return o


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000, 65537])
def test_randperm_is_fisher_yates_on_its_float64_keys(n):
    g = ts.Generator().manual_seed(11)
    perm = ts.randperm(n, generator=g).numpy()
    keys = ts.rand(n, dtype=ts.float64, generator=ts.Generator().manual_seed(11)).numpy()
    assert np.array_equal(perm, _fisher_yates(keys))
    assert np.array_equal(np.sort(perm), np.arange(n))
    # the generator moved past the n keys, like rand(n)
    assert g.get_state().numpy().tobytes()[8:] == np.uint64(n).tobytes() or n == 0


def test_randperm_is_uniform_over_permutations():
    # 24,000 permutations of 4: each of the 24 about 1,000 times (an off-by-one partner
    # range, as j in [0, i) instead of [0, i], leaves some permutations out or doubles others)
    g = ts.Generator().manual_seed(5)
    counts = {}
    for _ in range(24_000):
        key = tuple(ts.randperm(4, generator=g).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 24
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 49.7  # 23 degrees of freedom, p = 0.001


def test_randperm_dtype_and_thread_count():
    n = 50_001
    old = ts.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ts.set_num_threads(t)
            ts.manual_seed(3)
            outs.append(ts.randperm(n, dtype=ts.int32).numpy())
    finally:
        ts.set_num_threads(old)
    assert outs[0].dtype == np.int32
    assert np.array_equal(outs[0], outs[1])


def test_randn_thread_count_and_moments():
    old = ts.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ts.set_num_threads(t)
            ts.manual_seed(9)
            outs.append(ts.randn(200_003).numpy())
    finally:
        ts.set_num_threads(old)
    assert np.array_equal(outs[0], outs[1])
    z = outs[0].astype(np.float64)
    assert np.all(np.isfinite(z))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert abs(np.mean(z ** 4) - 3) < 0.05  # Gaussian kurtosis
    assert 0.30 < np.mean(np.abs(z) < 0.4) < 0.32  # P(|z| < 0.4) = 0.3108


_CHILD = r"""
import sys, numpy as np, tessel as ts
ts.manual_seed(5)
a = ts.randn(100_001).numpy().astype(np.float64)
ts.manual_seed(5)
b = ts.normal(2.0, 3.0, size=(100_001,), dtype=ts.float64).numpy()
ts.manual_seed(6)
u32 = ts.rand(100_001).numpy().astype(np.float64)
u64 = ts.rand(100_001, dtype=ts.float64).numpy()
ri = ts.randint(-2**40, 2**40, (100_001,)).numpy().astype(np.float64)
perm = ts.randperm(100_001).numpy().astype(np.float64)
np.save(sys.argv[1], np.stack([a, b, u32, u64, ri, perm]))
"""


def test_vector_paths_match_the_scalar_stream(tmp_path):
    # TESSEL_VECMATH=scalar computes log, cos and sin with glibc: normal draws may differ
    # from the SIMD ones in the last bits (SLEEF's are 1-ulp functions), as docs/random.md says.
    outs = {}
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    paths = (("native", None), ("scalar", "scalar")) + ((("avx2", "avx2"),) if " avx2" in flags else ())
    for name, env in paths:
        e = dict(os.environ)
        e.pop("TESSEL_VECMATH", None)
        if env:
            e["TESSEL_VECMATH"] = env
        path = tmp_path / f"{name}.npy"
        p = subprocess.run([sys.executable, "-c", _CHILD, str(path)], env=e, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        outs[name] = np.load(path)
    a, b = outs["native"], outs["scalar"]
    # float32 normals, Box-Muller in float: at most a few float32 spacings apart, mostly equal
    assert np.all(np.abs(a[0] - b[0]) <= 4e-7 * (1 + np.abs(b[0]))), float(np.max(np.abs(a[0] - b[0])))
    assert np.mean(a[0] == b[0]) > 0.9
    # Philox on SIMD lanes gives the scalar generator's words: uniform, randint, randperm equal
    assert np.array_equal(a[2:], b[2:])
    if "avx2" in outs:  # the AVX2 Philox and SLEEF's AVX2 log/cos
        c = outs["avx2"]
        assert np.array_equal(a[[0, 2, 3, 4, 5]], c[[0, 2, 3, 4, 5]])
        assert np.all(np.abs(a[1] - c[1]) <= 1e-14 * (2 + np.abs(c[1])))
    # 2 + 3 z: a last-bit change of z is at most ~3 * 2 spacing(|z|), absolute (results near 0 cancel)
    assert np.all(np.abs(a[1] - b[1]) <= 1e-14 * (2 + np.abs(b[1]))), float(np.max(np.abs(a[1] - b[1])))


_M32 = np.uint64(0xFFFFFFFF)


def _philox_words(seed, counters):
    """Philox4x32-10 (Salmon et al.) in NumPy: the four words of each counter."""
    ctr = np.asarray(counters, dtype=np.uint64)
    c0, c1 = ctr & _M32, ctr >> np.uint64(32)
    c2 = c3 = np.zeros_like(ctr)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ k0
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ k1
        c1, c3, c0, c2 = p1 & _M32, p0 & _M32, n0, n2
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & _M32, (k1 + np.uint64(0xBB67AE85)) & _M32
    return np.stack([c0, c1, c2, c3])


@pytest.mark.parametrize("dtype,np_dtype", [(ts.float32, np.float32), (ts.float16, np.float16)])
@pytest.mark.parametrize("threads", [1, 2])
def test_narrow_uniform_layout(dtype, np_dtype, threads):
    # docs/random.md: counter offset + 8g + j gives elements 32g + 8k + j from word k;
    # a draw moves the offset by its element count (here 5, so groups start mid-way).
    old = ts.get_num_threads()
    ts.set_num_threads(threads)
    try:
        g = ts.Generator().manual_seed(123)
        ts.rand(5, generator=g)
        got = ts.rand(70_001, dtype=dtype, generator=g).numpy()
    finally:
        ts.set_num_threads(old)
    i = np.arange(got.size, dtype=np.uint64)
    w = _philox_words(123, np.uint64(5) + np.uint64(8) * (i // np.uint64(32)) + i % np.uint64(8))
    word = w[((i % np.uint64(32)) // np.uint64(8)).astype(np.int64), np.arange(got.size)]
    u = (word >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    want = u.astype(np_dtype)
    want[want.astype(np.float32) >= 1] = 0  # rounded up to b: a instead
    assert np.array_equal(got, want)
