"""Bad input raises the exception a PyTorch user expects, with the op name in
the message, and never takes the interpreter down."""
import subprocess
import sys
import textwrap

import pytest

import tessel as ts


def raises(exc, fn, *needles):
    with pytest.raises(exc) as info:
        fn()
    msg = str(info.value)
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# ---------------------------------------------------------------- shapes -> ValueError

@pytest.mark.parametrize("name, fn", [
    ("add", lambda a, b: a + b), ("add", ts.add), ("sub", lambda a, b: a - b), ("sub", ts.sub),
    ("mul", lambda a, b: a * b), ("mul", ts.mul), ("div", lambda a, b: a / b), ("div", ts.div),
    ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b), ("lt", lambda a, b: a < b),
    ("le", lambda a, b: a <= b), ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b),
])
def test_binary_shape_mismatch(name, fn):
    msg = raises(ValueError, lambda: fn(ts.zeros(2, 3), ts.zeros(4)), f"[{name}]")
    assert "[2, 3]" in msg and "[4]" in msg


def test_add_shape_mismatch_message():
    raises(ValueError, lambda: ts.zeros(2, 3) + ts.zeros(4), "[add]", "[2, 3]", "[4]")
    raises(ValueError, lambda: ts.zeros(5, 1, 3) + ts.zeros(2, 4, 1), "[add]")


def test_inplace_broadcast_to_bigger_shape():
    # the in-place output cannot grow: PyTorch errors "output with shape [3] doesn't match the broadcast shape [2, 3]"
    with pytest.raises(ValueError):
        ts.zeros(3).add_(ts.zeros(2, 3))
    with pytest.raises(ValueError):
        t = ts.zeros(3)
        t += ts.zeros(2, 3)
    with pytest.raises(ValueError):
        ts.zeros(2, 3).copy_(ts.zeros(4))


def test_matmul_shape_mismatch():
    msg = raises(ValueError, lambda: ts.matmul(ts.zeros(2, 3), ts.zeros(4, 5)), "[matmul]")
    assert "[2, 3]" in msg and "[4, 5]" in msg and "3 != 4" in msg
    raises(ValueError, lambda: ts.zeros(2, 3) @ ts.zeros(4, 5), "[matmul]")
    raises(ValueError, lambda: ts.zeros(3) @ ts.zeros(4), "[matmul]")
    raises(ValueError, lambda: ts.zeros(2, 2, 3) @ ts.zeros(3, 3, 4), "[matmul]")
    raises(ValueError, lambda: ts.zeros(()) @ ts.zeros(4), "[matmul]")


def test_matmul_mixed_dtypes():
    raises(TypeError, lambda: ts.matmul(ts.zeros(2, 3), ts.zeros(3, 2, dtype=ts.float64)), "[matmul]")
    raises(TypeError, lambda: ts.zeros(2, 3, dtype=ts.int32) @ ts.zeros(3, 2, dtype=ts.int64), "[matmul]")


def test_missing_kernel_not_implemented():
    a = ts.zeros(2, 2, dtype=ts.bool)
    raises(NotImplementedError, lambda: ts.matmul(a, a), "[matmul]", "not implemented for cpu/bool")
    raises(NotImplementedError, lambda: a @ a, "not implemented for cpu/bool")


def test_bad_dim_index_error():
    t = ts.zeros(2, 3)
    raises(IndexError, lambda: t.sum(2), "[sum]")
    raises(IndexError, lambda: t.sum(-3), "[sum]")
    raises(IndexError, lambda: ts.sum(t, 5), "[sum]")
    raises(IndexError, lambda: t.sum((0, 2)), "[sum]")
    raises(IndexError, lambda: t.mean(2), "[mean]")
    raises(IndexError, lambda: t.amax(2), "[amax]")
    raises(IndexError, lambda: t.amin(-4), "[amin]")
    raises(IndexError, lambda: t.max(2), "[max]")
    raises(IndexError, lambda: t.min(3), "[min]")
    raises(IndexError, lambda: ts.cat([t, t], 2), "[cat]")
    raises(IndexError, lambda: t.transpose(0, 2), "[transpose]")
    raises(IndexError, lambda: t.unsqueeze(3), "[unsqueeze]")
    raises(IndexError, lambda: t.select(2, 0), "[select]")
    raises(IndexError, lambda: t.flatten(0, 2), "[flatten]")


def test_repeated_dim():
    # PyTorch: "dim 0 appears multiple times in the list of dims" (RuntimeError)
    with pytest.raises((ValueError, RuntimeError)):
        ts.zeros(2, 3).sum((0, 0))


def test_item_and_bool_of_many_elements():
    raises(ValueError, lambda: ts.zeros(2).item(), "[item]")
    raises(ValueError, lambda: ts.zeros(0).item())
    with pytest.raises(ValueError):
        bool(ts.zeros(2))
    with pytest.raises(ValueError):
        bool(ts.zeros(0))
    with pytest.raises(ValueError):
        if ts.tensor([1, 2]) > 0:
            pass
    with pytest.raises(ValueError):
        float(ts.zeros(3))
    with pytest.raises(ValueError):
        int(ts.zeros(3))
    # one element is fine
    assert bool(ts.tensor([1.0])) is True
    assert bool(ts.tensor(0)) is False
    assert float(ts.tensor([[2.5]])) == 2.5
    assert int(ts.tensor(7)) == 7


def test_mean_of_int_type_error():
    raises(TypeError, lambda: ts.tensor([1, 2]).mean(), "[mean]")
    raises(TypeError, lambda: ts.mean(ts.tensor([1, 2], dtype=ts.int32)), "[mean]")
    raises(TypeError, lambda: ts.tensor([True]).mean(0), "[mean]")


def test_tensor_from_bad_data():
    with pytest.raises(TypeError):
        ts.tensor("abc")
    with pytest.raises(TypeError):
        ts.tensor(["a", "b"])
    with pytest.raises(TypeError):
        ts.tensor([1, "a"])
    with pytest.raises(TypeError):
        ts.tensor(object())
    with pytest.raises(TypeError):
        ts.tensor({1: 2})
    with pytest.raises(ValueError):
        ts.tensor([[1, 2], [3]])


def test_python_int_out_of_int64():
    with pytest.raises((OverflowError, ValueError, RuntimeError)):
        ts.tensor([2**64])


def test_negative_shape():
    raises(ValueError, lambda: ts.zeros(-1))
    raises(ValueError, lambda: ts.ones(2, -3))
    raises(ValueError, lambda: ts.empty((-2,)))
    raises(ValueError, lambda: ts.full((2, -1), 1.0))
    raises(ValueError, lambda: ts.rand(-1))
    raises(ValueError, lambda: ts.randn(3, -1))
    raises(ValueError, lambda: ts.zeros(4).view(-2, 2))
    raises(ValueError, lambda: ts.eye(-1))
    raises(ValueError, lambda: ts.linspace(0, 1, -1))


def test_bool_negation_and_subtraction():
    raises(TypeError, lambda: -ts.tensor([True, False]), "[neg]")
    raises(TypeError, lambda: ts.neg(ts.tensor([True])), "[neg]")
    raises(TypeError, lambda: ts.tensor([True]) - ts.tensor([False]), "[sub]")
    raises(TypeError, lambda: ts.tensor([True]).neg_(), "[neg")


def test_cat_stack_mismatch():
    raises(ValueError, lambda: ts.cat([ts.zeros(2, 3), ts.zeros(2, 4)]), "[cat]")
    raises(ValueError, lambda: ts.cat([ts.zeros(2, 3), ts.zeros(3)]), "[cat]")
    raises(ValueError, lambda: ts.cat([]), "[cat]")
    raises(ValueError, lambda: ts.stack([ts.zeros(2, 3), ts.zeros(2, 4)]), "[stack]")
    raises(ValueError, lambda: ts.stack([]), "[stack]")
    # cat along dim 1 with matching dim 0 is fine
    assert ts.cat([ts.zeros(2, 3), ts.zeros(2, 4)], 1).shape == (2, 7)


def test_where_errors():
    raises(ValueError, lambda: ts.where(ts.tensor([True, False]), ts.zeros(3), ts.zeros(3)), "[where]")
    raises(TypeError, lambda: ts.where(ts.tensor([1, 0]), ts.zeros(2), ts.zeros(2)), "[where]")


def test_view_op_errors():
    t = ts.zeros(2, 3)
    raises(ValueError, lambda: t.view(4, 2), "[view]")
    raises(ValueError, lambda: t.reshape(4, -1), "[reshape]")
    raises(ValueError, lambda: t.expand(4, 3), "[expand]")
    raises(ValueError, lambda: t.permute(0, 0), "[permute]")
    raises(ValueError, lambda: t.unflatten(1, (2, 2)), "[unflatten]")
    raises(ValueError, lambda: ts.zeros(6).diagonal(), "[diagonal]")
    raises(ValueError, lambda: t.unfold(1, 4, 1), "[unfold]")


def test_reduce_empty_raises():
    # PyTorch: max()/amax() of an empty tensor has no identity -> error
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        ts.zeros(0).max()
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        ts.zeros(2, 0).max(1)


def test_randint_bad_range():
    raises(ValueError, lambda: ts.randint(5, 3, (2,)), "[randint]")


def test_set_num_threads_bad():
    raises(ValueError, lambda: ts.set_num_threads(0))
    raises(ValueError, lambda: ts.set_num_threads(-1))


def test_fill_value_overflow_raises():
    # PyTorch: "value cannot be converted to type uint8_t without overflow" (Scalar checked_convert)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        ts.full((2,), 300, dtype=ts.uint8)
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        ts.zeros(2, dtype=ts.int8).fill_(1000)


def test_unknown_device():
    with pytest.raises((ValueError, RuntimeError)):
        ts.zeros(2).to("foo")


def test_inplace_dtype_error():
    raises(TypeError, lambda: ts.zeros(3, dtype=ts.int32).add_(0.5), "[add_]")


def test_inplace_on_expanded_tensor_raises():
    # PyTorch: "unsupported operation: more than one element of the written-to tensor refers
    # to a single memory location. Please clone() the tensor before performing the operation."
    base = ts.zeros(3)
    with pytest.raises((RuntimeError, ValueError)):
        base.expand(2, 3).add_(1)
    assert base.tolist() == [0.0, 0.0, 0.0]


def test_numel_overflow_raises():
    # PyTorch refuses shapes whose element count overflows int64 instead of
    # creating a tensor with a bogus size and no storage
    with pytest.raises((RuntimeError, ValueError, MemoryError, OverflowError)):
        ts.zeros(2**40, 2**40)
    with pytest.raises((RuntimeError, ValueError, MemoryError, OverflowError)):
        ts.empty(2**31, 2**31, 4)


def test_narrow_overflowing_range_raises():
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        ts.zeros(3).narrow(0, 2**62, 2**62)


def test_errors_leave_state_usable():
    t = ts.ones(2, 3)
    for _ in range(50):
        with pytest.raises(ValueError):
            t + ts.zeros(4)
    assert (t + t).sum().item() == 12.0


# ---------------------------------------------------------------- nothing crashes the interpreter

CRASH_CASES = {
    "numpy_int_index": "ts.arange(6)[np.array([0, 1])]",
    "numpy_bool_index": "ts.arange(3)[np.array([True, False, True])]",
    "numpy_index_assign": "t = ts.zeros(3); t[np.array([0])] = 1.0",
    "zeros_2_62": "ts.zeros(2**62)",
    "full_2_62": "ts.full((2**62,), 1.0)",
    "linspace_2_62": "ts.linspace(0, 1, 2**62)",
    "eye_2_40": "ts.eye(2**40)",
    "empty_2_45": "ts.empty(2**45)",
    "huge_2d_access": "ts.zeros(2**40, 2**40)[5, 5]",
    "huge_python_int_index": "ts.zeros(3)[2**64]",
    "deep_nesting": "ts.tensor(eval('[' * 200 + '1' + ']' * 200))",
    # PyTorch: ValueError "too many dimensions 'list'" (nesting is capped)
    "recursive_list": "x = []; x.append(x); ts.tensor(x)",
    "arange_huge": "ts.arange(0, 1e20)",
}


@pytest.mark.parametrize("name", list(CRASH_CASES))
def test_no_interpreter_crash(name):
    code = textwrap.dedent(f"""
        import numpy as np
        import tessel as ts
        try:
            {CRASH_CASES[name]}
        except Exception as e:  # any Python exception is acceptable, a crash is not
            print(type(e).__name__, str(e)[:200])
    """)
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: hung for 60 s instead of raising ({CRASH_CASES[name]})")
    assert r.returncode == 0, f"{name}: exit status {r.returncode} ({CRASH_CASES[name]})\n{r.stderr[-1500:]}"
