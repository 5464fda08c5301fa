"""The process-wide cache of large CPU buffers (src/core/storage.cpp): a buffer
of 256 KiB or more goes back to a cache when its last tensor dies, and the next
allocation of the same size takes it instead of fresh (kernel-zeroed) pages.
Reused buffers must never leak old values into ops that promise them, must be
safe across threads (fork(): tests/cpp/test_tensor.cpp), and TESSEL_CPU_CACHE_MB=0
turns the cache off."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tessel as ts

N = 1 << 20  # 4 MiB of float32


def test_a_freed_buffer_is_reused_for_the_same_size():
    a = ts.empty(N)
    p = a.data_ptr()
    del a
    b = ts.empty(N)
    assert b.data_ptr() == p


def test_reused_buffers_hold_what_each_op_promises():
    a = ts.full((N,), 7.0)
    del a
    z = ts.zeros(N)
    assert float(z.abs().max()) == 0.0
    del z
    o = ts.ones(N)
    assert float(o.min()) == 1.0 and float(o.max()) == 1.0
    del o
    x = ts.tensor(np.arange(N, dtype=np.float32))
    y = x * 2
    np.testing.assert_array_equal(y.numpy(), np.arange(N, dtype=np.float32) * 2)


def test_training_steps_reuse_and_stay_correct():
    # The same step twice from the same start gives the same weights, cache warm or cold.
    def run():
        ts.manual_seed(0)
        m = ts.nn.LSTM(16, 64, batch_first=True)
        opt = ts.optim.Adam(m.parameters(), lr=1e-2)
        x = ts.tensor(np.random.default_rng(0).standard_normal((32, 40, 16)).astype(np.float32))
        for _ in range(3):
            opt.zero_grad()
            out, _ = m(x)
            out.square().mean().backward()
            opt.step()
        return [p.detach().numpy().copy() for p in m.parameters()]

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_threads_allocating_and_freeing_at_once():
    errors = []

    def work(k):
        try:
            for i in range(50):
                t = ts.full((N // 4 + k * 1024,), float(k * 1000 + i))
                if float(t.min()) != k * 1000 + i or float(t.max()) != k * 1000 + i:
                    errors.append((k, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


def test_cache_off_and_malformed_setting():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np, tessel as ts; "
            "a = ts.full((1 << 20,), 3.0); del a; z = ts.zeros(1 << 20); "
            "print(float(z.abs().max()), float((ts.ones(1 << 20) * 2).sum()))")
    pkg = os.path.dirname(os.path.dirname(ts.__file__))
    for value in ("0", "1", "not-a-number"):
        env = dict(os.environ, TESSEL_CPU_CACHE_MB=value)
        r = subprocess.run([sys.executable, "-c", code, pkg], capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.split() == ["0.0", str(float(2 << 20))], (value, r.stdout)
