"""ts.cuda and the CUDA kernels. Host-side tests run everywhere (no device: clear errors, the registry's
CUDA coverage, the runtime's answers); the rest skip with "needs a CUDA GPU" and run through
scripts/gpu_check.sh on a GPU machine, against NumPy float64 and the CPU backend."""
import ctypes
import math
import subprocess
import sys
import types

import numpy as np
import pytest

import tessel as ts

GPU = ts.cuda.is_available()
needs_gpu = pytest.mark.skipif(not GPU, reason=f"needs a CUDA GPU ({ts._C._cuda.unavailable_reason()})")
COMPILED = ts._C._cuda.is_compiled()

KERNELS = {
    "copy": "every", "fill": "every",
    "add": "num", "sub": "num", "mul": "num", "maximum": "num", "minimum": "num", "neg": "num", "relu": "num",
    "sum": "num_bool", "amax": "num", "amin": "num",
    "eq": "num", "ne": "num", "lt": "num", "le": "num", "gt": "num", "ge": "num", "where": "all",
    "div": "float", "exp": "float", "log": "float", "tanh": "float", "sigmoid": "float", "matmul": "float",
    "relu_backward": "float",
    "softmax": "float", "log_softmax": "float", "sgd_step": "f32_64", "adam_step": "f32_64", "rmsprop_step": "f32_64", "arange": "int_f32_64",
    "sort": "num", "max_dim": "num", "min_dim": "num", "uniform": "float", "normal": "float", "randint": "int_f32_64", "take_offsets": "all_c", "put_offsets": "all_c", "put_offsets_add": "num",
    "conv2d": "float", "conv2d_backward_input": "float", "conv2d_backward_weight": "float",
    "batch_norm": "f32_64", "batch_norm_backward": "f32_64", "max_pool2d": "f32_64", "max_pool2d_backward": "f32_64", "lerp": "float", "reciprocal": "float", "square": "num",
    "sqrt": "float", "rsqrt": "float", "abs": "num", "remainder": "num", "floor_divide": "num",
    "erf": "float", "gelu": "float", "gelu_backward_fused": "f32_64",
    "layer_norm_fused": "f32_64", "layer_norm_fused_backward": "f32_64",
    "logical_and": "all", "logical_or": "all", "logical_xor": "all", "logical_not": "all",
    "isnan": "float", "isinf": "float", "isfinite": "float", "topk": "num",
    "cumsum": "num_bool", "cumprod": "num_bool", "prod": "num",
    "pow": "float", "atan2": "float", "hypot": "float", "copysign": "float", "sign": "num", "clamp": "num",
    "erfinv": "float", "bitwise_and": "ints_bool", "bitwise_or": "ints_bool", "bitwise_xor": "ints_bool",
    "bitwise_not": "ints_bool", "bitwise_left_shift": "ints", "bitwise_right_shift": "ints",
    **{op: "float" for op in "leaky_relu elu softplus hardsigmoid hardswish round nan_to_num".split()},
    **{op: "float" for op in ("sin cos tan asin acos atan sinh cosh asinh acosh atanh log2 log10 log1p expm1 exp2 "
                              "erfc floor ceil trunc silu").split()},
}
FLOATS = {ts.float16, ts.bfloat16, ts.float32, ts.float64}
NUMS = FLOATS | {ts.int32, ts.int64}
ALL = NUMS | {ts.bool, ts.uint8, ts.int8, ts.int16}


# ---- host side: these run without a GPU

def test_runtime_answers_are_consistent():
    assert ts.cuda.is_available() is (ts.cuda.device_count() > 0)
    assert ts.backends.cuda.is_built() is COMPILED
    if not GPU:
        assert ts._C._cuda.unavailable_reason() != ""


@pytest.mark.skipif(GPU, reason="a GPU is present: the device tests below cover it")
@pytest.mark.parametrize("make", [
    lambda: ts.zeros(2, device="cuda"),
    lambda: ts.ones(2).to("cuda"),
    lambda: ts.ones(2).cuda(),
    lambda: ts.tensor([1.0, 2.0], device="cuda:0"),
    lambda: ts.cuda.current_device(),
    lambda: ts.cuda.synchronize(),
    lambda: ts.cuda.memory_allocated(),
    lambda: ts.cuda.max_memory_allocated(0),
    lambda: ts.cuda.memory_reserved("cuda:0"),
    lambda: ts.cuda.set_device(0),
    lambda: ts.cuda.Stream(),
    lambda: ts.cuda.current_stream(),
    lambda: ts.cuda.default_stream(0),
    lambda: ts.cuda.Event().record(),
    lambda: ts.ones(2).pin_memory(),
    lambda: ts.cuda.stream(ts.cuda.ExternalStream(0, device=0)).__enter__(),
], ids=["zeros", "to", "cuda", "tensor", "current_device", "synchronize", "memory_allocated",
        "max_memory_allocated", "memory_reserved", "set_device", "Stream", "current_stream", "default_stream",
        "Event.record", "pin_memory", "stream_context"])
def test_without_a_device_each_call_says_why(make):
    with pytest.raises(RuntimeError, match="no CUDA device is available|built without CUDA"):
        make()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_import_loads_no_cuda_library():
    # Static cudart loads libcuda on the first CUDA call and cuBLAS is dlopen'ed on the first matmul, so
    # importing tessel (and CPU work) maps none of them: libtessel loads where they are absent.
    code = "import tessel as ts; (ts.ones(8, 8) @ ts.ones(8, 8)).sum(); print(open('/proc/self/maps').read())"
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert "libtessel" in maps
    for lib in ("libcuda.so", "libcudart.so", "libcublas", "libcudnn"):
        assert lib not in maps, lib


def test_events_and_streams_host_side():
    # An event is made on its first record, so these need no device (as in PyTorch).
    e = ts.cuda.Event(enable_timing=True)
    assert e.query() is True
    e.synchronize()
    assert "uninitialized" in repr(e)
    with pytest.raises(ValueError, match="recorded first"):
        e.elapsed_time(ts.cuda.Event(enable_timing=True))
    with pytest.raises(ValueError, match="enable_timing=True"):
        ts.cuda.Event().elapsed_time(e)
    with pytest.raises(ValueError, match="interprocess"):
        ts.cuda.Event(interprocess=True)
    with ts.cuda.stream(None) as s:  # None changes nothing
        assert s is None
    assert not ts.ones(3).is_pinned()
    with pytest.raises(ValueError, match="expected a CUDA tensor"):
        ts.ones(3).record_stream(types.SimpleNamespace(cuda_stream=0))


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _DLManaged(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_DLManaged))
_DLManaged._fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


def _cuda_capsule(device_id, deleted):
    """A DLPack (unversioned) capsule of 4 float32 on kDLCUDA `device_id`, made with ctypes: the host can
    build the metadata of a CUDA tensor without a device. The pointer is never dereferenced."""
    shape = (ctypes.c_int64 * 1)(4)
    m = _DLManaged()
    m.dl_tensor = _DLTensor(ctypes.c_void_p(0x1000), _DLDevice(2, device_id), 1, 2, 32, 1, shape, None, 0)
    m.deleter = _DELETER(lambda _: deleted.append(True))
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(ctypes.addressof(m), b"dltensor", None), (m, shape)


@pytest.mark.skipif(GPU, reason="a GPU is present: test_dlpack_round_trip covers import")
def test_from_dlpack_of_a_cuda_capsule_without_a_device_is_refused_and_not_consumed():
    deleted = []
    cap, keep = _cuda_capsule(0, deleted)
    with pytest.raises(RuntimeError, match=r"CUDA device 0 \(kDLCUDA\) but no CUDA device is available"):
        ts.from_dlpack(cap)
    valid = ctypes.pythonapi.PyCapsule_IsValid
    valid.restype, valid.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]
    assert valid(cap, b"dltensor") == 1  # still the producer's to free
    assert deleted == []


@pytest.mark.skipif(GPU, reason="a GPU is present: test_dlpack_round_trip covers import")
def test_from_dlpack_of_a_cuda_producer_without_a_device_asks_nothing_of_it():
    class Producer:
        asked = False

        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, **kw):
            Producer.asked = True
            raise AssertionError("__dlpack__ must not be called without a CUDA runtime")

    with pytest.raises(RuntimeError, match="kDLCUDA"):
        ts.from_dlpack(Producer())
    assert not Producer.asked


def test_cpu_tensors_have_no_cuda_array_interface():
    t = ts.ones(3)
    assert not hasattr(t, "__cuda_array_interface__")
    assert t.__dlpack_device__() == (1, 0)


def test_empty_cache_without_a_device_is_a_no_op():
    if not GPU:
        ts.cuda.empty_cache()
        assert ts.cuda.device_count() == 0


def test_device_arguments_are_checked():
    with pytest.raises(ValueError, match="expected a CUDA device"):
        ts.cuda.memory_allocated("cpu")
    with pytest.raises(ValueError, match="byte count"):
        ts.cuda.set_memory_cap(-1)


def test_cross_device_arithmetic_is_an_error_not_a_copy():
    # A second device without a GPU: the test plugin's device when it is built, else cuda on a GPU.
    if GPU:
        a, b = ts.ones(3), ts.ones(3, device="cuda")
    else:
        pytest.skip("needs a CUDA GPU (the C++ test CrossDevice.OpsRefuseOperandsOnTwoDevices covers it on the CPU)")
    for f in (lambda: a + b, lambda: ts.mul(b, a), lambda: ts.maximum(a, b), lambda: ts.matmul(a[None], b[:, None])):
        with pytest.raises(ValueError, match="device"):
            f()


@pytest.mark.skipif(not COMPILED, reason="built without CUDA (TESSEL_WITH_CUDA=OFF)")
def test_registry_lists_the_cuda_kernels():
    have = {}
    for op, dev, dt, src in ts.registry():
        if dev == "cuda":
            assert src == "builtin"
            have.setdefault(op, set()).add(dt)
    want = {"all": ALL, "num": NUMS, "float": FLOATS, "num_bool": NUMS | {ts.bool}, "f32_64": {ts.float32, ts.float64},
            "int_f32_64": {ts.int32, ts.int64, ts.float32, ts.float64}, "all_c": ALL | {ts.complex64, ts.complex128},
            "every": ALL | {ts.complex64, ts.complex128, ts.uint16, ts.uint32, ts.uint64},
            "ints": {ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64},
            "ints_bool": {ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64}}
    for op, kind in KERNELS.items():
        assert have.get(op, set()) == want[kind], op


# ---- on a GPU

def _np(t):
    return np.asarray(t.to(ts.float64).cpu().tolist(), dtype=np.float64) if t.dtype != ts.bool else np.asarray(
        t.cpu().tolist())


def _tol(dt):
    return {ts.float16: 2e-3, ts.bfloat16: 1.6e-2, ts.float32: 1e-5, ts.float64: 1e-12}.get(dt, 0)


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(ALL, key=str), ids=str)
def test_round_trip_and_casts(dtype):
    rng = np.random.default_rng(0)
    x = ts.tensor(rng.integers(0, 5, (3, 5)).astype(np.float64)).to(dtype)
    g = x.cuda()
    assert g.device == "cuda:0" and g.dtype == dtype
    assert g.cpu().tolist() == x.tolist()
    for other in ALL:
        assert g.to(other).cpu().tolist() == x.to(other).tolist(), other
    assert g.t().contiguous().cpu().tolist() == x.t().contiguous().tolist()
    assert g[:, ::2].cpu().tolist() == x[:, ::2].tolist()


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_binary_matches_numpy_with_broadcasting(op, dtype):
    if op == "div" and dtype not in FLOATS:
        pytest.skip("div of integers promotes to float: covered by the float dtypes")
    rng = np.random.default_rng(1)
    a = rng.uniform(1, 3, (4, 1, 70)).round(1)
    b = rng.uniform(1, 3, (5, 1)).round(1)
    ta, tb = ts.tensor(a).to(dtype), ts.tensor(b).to(dtype)
    ref = getattr(ts, op)(ta, tb)
    out = getattr(ts, op)(ta.cuda(), tb.cuda())
    assert out.device == "cuda:0" and out.dtype == ref.dtype
    np.testing.assert_allclose(_np(out), _np(ref), rtol=_tol(dtype) * 4, atol=_tol(dtype))
    big = ts.tensor(rng.uniform(1, 2, 100003)).to(dtype)  # the vectorized path and its tail
    np.testing.assert_allclose(_np(getattr(ts, op)(big.cuda(), big.cuda())), _np(getattr(ts, op)(big, big)),
                               rtol=_tol(dtype) * 4, atol=_tol(dtype))
    t = ts.tensor(rng.uniform(1, 2, (6, 9))).to(dtype)  # transposed views
    np.testing.assert_allclose(_np(getattr(ts, op)(t.cuda().t(), t.cuda().t())), _np(getattr(ts, op)(t.t(), t.t())),
                               rtol=_tol(dtype) * 4, atol=_tol(dtype))


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(FLOATS, key=str), ids=str)
@pytest.mark.parametrize("op", ["neg", "exp", "log", "relu", "tanh", "sigmoid", "sqrt", "rsqrt", "abs", "erf", "gelu"])
def test_unary_matches_numpy(op, dtype):
    a = np.linspace(0.05, 3, 999).reshape(27, 37) * np.where(np.arange(999) % 3 == 0, -1, 1).reshape(27, 37)
    if op in ("log", "sqrt", "rsqrt"):
        a = np.abs(a)
    ref = {"neg": np.negative, "exp": np.exp, "log": np.log, "relu": lambda x: np.maximum(x, 0), "tanh": np.tanh,
           "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
           "abs": np.abs, "erf": np.vectorize(math.erf),
           "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))}[op](_np(ts.tensor(a).to(dtype)))
    t = ts.tensor(a).to(dtype).cuda()
    np.testing.assert_allclose(_np(getattr(ts, op)(t)), ref, rtol=_tol(dtype) * 4, atol=_tol(dtype))
    np.testing.assert_allclose(_np(getattr(ts, op)(t.t())), ref.T, rtol=_tol(dtype) * 4, atol=_tol(dtype))


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
@pytest.mark.parametrize("op", ["remainder", "floor_divide"])
def test_floor_division_and_remainder_take_the_divisors_sign_as_the_cpu(op, dtype):
    a = np.array([-7, -6, -1, 0, 1, 5, 6, 7, 9, -9] * 3, dtype=np.float64).reshape(3, 10)
    b = np.array([3, -3, 4, -4, 2, -2, 5, -5, 3, -3], dtype=np.float64)
    if dtype in FLOATS:
        a = a + 0.5
    ta, tb = ts.tensor(a).to(dtype), ts.tensor(b).to(dtype)
    ref = getattr(ts, op)(ta, tb)
    out = getattr(ts, op)(ta.cuda(), tb.cuda())
    np.testing.assert_allclose(_np(out), _np(ref), rtol=_tol(dtype) * 4, atol=_tol(dtype))
    np.testing.assert_allclose(_np(getattr(ts, op)(ta.cuda(), 4)), _np(getattr(ts, op)(ta, 4)), rtol=_tol(dtype) * 4,
                               atol=_tol(dtype))


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(ALL, key=str), ids=str)
def test_logical_ops_and_predicates_match_numpy(dtype):
    a = np.array([[0, 1, -2, 3], [0, 0, 5, -1]], dtype=np.float64)
    b = np.array([[1, 0, 0, 2], [0, 7, 1, 0]], dtype=np.float64)
    ta, tb = ts.tensor(a).to(dtype), ts.tensor(b).to(dtype)
    a, b = _np(ta), _np(tb)  # the values in `dtype` (unsigned types saturate the negatives to 0)
    for op, ref in [("logical_and", np.logical_and), ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)]:
        out = getattr(ts, op)(ta.cuda(), tb.cuda())
        assert out.dtype == ts.bool
        np.testing.assert_array_equal(_np(out), ref(a != 0, b != 0))
        np.testing.assert_array_equal(_np(getattr(ts, op)(ta.cuda().t(), tb.cuda().t())), ref(a != 0, b != 0).T)
    np.testing.assert_array_equal(_np(ts.logical_not(ta.cuda())), a == 0)
    if dtype in FLOATS:
        s = np.array([1.0, np.nan, np.inf, -np.inf, -0.0, 3.5])
        ts_ = ts.tensor(s).to(dtype).cuda()
        for op, ref in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
            np.testing.assert_array_equal(_np(getattr(ts, op)(ts_)), ref(s))
        np.testing.assert_array_equal(_np(ts.logical_and(ts_, ts_)), s != 0)  # NaN is true


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
def test_topk_and_scans_equal_the_cpus(dtype):
    rng = np.random.default_rng(6)
    a = rng.integers(-4, 5, (6, 37)).astype(np.float64)  # many ties
    if dtype in FLOATS:
        a[1, 3] = a[4, 0] = np.nan
    x = ts.tensor(a).to(dtype)
    for dim, k, largest in [(1, 5, True), (1, 7, False), (0, 2, True), (1, 37, True)]:
        gv, gi = ts.topk(x.cuda(), k, dim=dim, largest=largest)
        cv, ci = ts.topk(x, k, dim=dim, largest=largest)
        np.testing.assert_array_equal(_np(gv), _np(cv))
        np.testing.assert_array_equal(_np(gi), _np(ci))  # ties: the lower index first on both
    small = ts.tensor(rng.uniform(0.5, 1.5, (5, 40))).to(dtype)
    for op in ("cumsum", "cumprod"):
        for dim in (0, 1):
            src = small if op == "cumprod" else x
            g, c = getattr(ts, op)(src.cuda(), dim), getattr(ts, op)(src, dim)
            assert g.dtype == c.dtype
            np.testing.assert_allclose(_np(g), _np(c), rtol=_tol(dtype) * 8, atol=_tol(dtype) * 8)
            np.testing.assert_allclose(_np(getattr(ts, op)(src.cuda().t(), 1 - dim)), _np(getattr(ts, op)(src.t(), 1 - dim)),
                                       rtol=_tol(dtype) * 8, atol=_tol(dtype) * 8)
    flags = ts.tensor(rng.random((4, 9)) > 0.5)
    np.testing.assert_array_equal(_np(ts.cumsum(flags.cuda(), 1)), _np(ts.cumsum(flags, 1)))


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64], ids=str)
def test_bitwise_ops_equal_the_cpus(dtype):
    rng = np.random.default_rng(12)
    a = ts.tensor(rng.integers(-100, 100, (5, 33))).to(dtype)
    b = ts.tensor(rng.integers(-100, 100, (33,))).to(dtype)
    for op in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        np.testing.assert_array_equal(_np(getattr(ts, op)(a.cuda(), b.cuda())), _np(getattr(ts, op)(a, b)))
    np.testing.assert_array_equal(_np(ts.bitwise_not(a.cuda())), _np(ts.bitwise_not(a)))
    if dtype != ts.bool:
        counts = ts.tensor(np.array([-1, 0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 70] * 3)[:33]).to(dtype)
        for op in ("bitwise_left_shift", "bitwise_right_shift"):  # every count defined, as on the CPU
            np.testing.assert_array_equal(_np(getattr(ts, op)(a.cuda(), counts.cuda())), _np(getattr(ts, op)(a, counts)))


_MATH = {  # op: (NumPy, low, high) over the function's domain
    "sin": (np.sin, -6, 6), "cos": (np.cos, -6, 6), "tan": (np.tan, -1.4, 1.4), "asin": (np.arcsin, -0.99, 0.99),
    "acos": (np.arccos, -0.99, 0.99), "atan": (np.arctan, -9, 9), "sinh": (np.sinh, -4, 4), "cosh": (np.cosh, -4, 4),
    "asinh": (np.arcsinh, -9, 9), "acosh": (np.arccosh, 1.01, 9), "atanh": (np.arctanh, -0.99, 0.99),
    "log2": (np.log2, 0.01, 9), "log10": (np.log10, 0.01, 9), "log1p": (np.log1p, -0.9, 9),
    "expm1": (np.expm1, -4, 4), "exp2": (np.exp2, -9, 9), "erfc": (np.vectorize(math.erfc), -3, 3),
    "erfinv": (None, -0.99, 0.99),  # checked against the CPU's erfinv (NumPy has none)
    "floor": (np.floor, -9, 9), "ceil": (np.ceil, -9, 9), "trunc": (np.trunc, -9, 9),
    "silu": (lambda x: x / (1 + np.exp(-x)), -9, 9),
}


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
def test_parameterized_unary_ops_equal_the_cpus(dtype):
    a = np.concatenate([np.linspace(-7, 7, 57), [0.5, 1.5, 2.5, -2.5]])
    if dtype in FLOATS:
        a = np.concatenate([a, [np.nan, np.inf, -np.inf]])
    x = ts.tensor(a).to(dtype)
    F = ts.nn.functional
    calls = [lambda t: ts.sign(t), lambda t: ts.clamp(t, -3, 4), lambda t: ts.clamp(t, min=-2),
             lambda t: ts.clamp(t, max=1)]
    if dtype in FLOATS:
        calls += [lambda t: F.leaky_relu(t, 0.2), lambda t: F.elu(t, 1.3), lambda t: F.softplus(t, 2.0, 5.0),
                  lambda t: F.hardsigmoid(t), lambda t: F.hardswish(t), lambda t: ts.round(t),
                  lambda t: ts.round(t, decimals=1), lambda t: ts.nan_to_num(t, 0.0, 100.0, -100.0)]
    tol = {ts.float16: 4e-3, ts.bfloat16: 3e-2, ts.float32: 1e-6, ts.float64: 1e-12}.get(dtype, 0)
    for f in calls:
        g, c = f(x.cuda()), f(x)
        assert g.dtype == c.dtype
        np.testing.assert_allclose(_np(g), _np(c), rtol=tol, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(FLOATS, key=str), ids=str)
@pytest.mark.parametrize("op", ["pow", "atan2", "hypot", "copysign"])
def test_binary_math_matches_numpy(op, dtype):
    rng = np.random.default_rng(9)
    a = rng.uniform(0.1, 3, (9, 1, 31)) * (1 if op == "pow" else rng.choice([-1, 1], (9, 1, 31)))
    b = rng.uniform(-2, 2, (5, 31))
    ta, tb = ts.tensor(a).to(dtype), ts.tensor(b).to(dtype)
    ref = {"pow": np.power, "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign}[op](_np(ta), _np(tb))
    tol = {ts.float16: 4e-3, ts.bfloat16: 3e-2, ts.float32: 1e-5, ts.float64: 1e-12}[dtype]
    np.testing.assert_allclose(_np(getattr(ts, op)(ta.cuda(), tb.cuda())), ref, rtol=tol, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(FLOATS, key=str), ids=str)
@pytest.mark.parametrize("op", sorted(_MATH))
def test_math_functions_match_numpy(op, dtype):
    fn, lo, hi = _MATH[op]
    a = np.linspace(lo, hi, 1001).reshape(7, 143)
    x = ts.tensor(a).to(dtype)
    ref = fn(_np(x)) if fn is not None else _np(getattr(ts, op)(x.to(ts.float64)))
    tol = {ts.float16: 4e-3, ts.bfloat16: 3e-2, ts.float32: 1e-5, ts.float64: 1e-12}[dtype]
    np.testing.assert_allclose(_np(getattr(ts, op)(x.cuda())), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(_np(getattr(ts, op)(x.cuda().t())), ref.T, rtol=tol, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64], ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_its_gradient_match_the_cpu(approximate, dtype):
    a = np.random.default_rng(3).normal(0, 2, (33, 65))
    out = []
    for dev in ("cuda", "cpu"):
        x = ts.tensor(a).to(dtype).to(dev).requires_grad_()
        y = ts.nn.functional.gelu(x, approximate=approximate)
        (y * ts.tensor(a[::-1].copy()).to(dtype).to(dev)).sum().backward()
        out.append((_np(y), _np(x.grad)))
    tol = {ts.float32: 1e-5, ts.float64: 1e-12}[dtype]
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64], ids=str)
@pytest.mark.parametrize("shape", [(3, 5, 7), (300, 768), (2, 1, 1500)], ids=str)
def test_layer_norm_and_its_gradients_match_the_cpu(shape, dtype):
    rng = np.random.default_rng(4)
    a, g = rng.normal(1, 3, shape), rng.normal(0, 1, shape)
    w, b = rng.normal(1, 0.2, shape[-1]), rng.normal(0, 0.5, shape[-1])
    out = []
    for dev in ("cuda", "cpu"):
        x = ts.tensor(a).to(dtype).to(dev).requires_grad_()
        tw, tb = (ts.tensor(v).to(dtype).to(dev).requires_grad_() for v in (w, b))
        y = ts.nn.functional.layer_norm(x, (shape[-1],), tw, tb, eps=1e-5)
        (y * ts.tensor(g).to(dtype).to(dev)).sum().backward()
        out.append([_np(t) for t in (y, x.grad, tw.grad, tb.grad)])
    tol = {ts.float32: 2e-4, ts.float64: 1e-10}[dtype]
    for got, want in zip(*out):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, float(np.abs(want).max())))


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
def test_reductions_match_numpy(dtype):
    rng = np.random.default_rng(2)
    a = rng.integers(-4, 5, (33, 65, 17)).astype(np.float64)
    t = ts.tensor(a).to(dtype).cuda()
    for dims in [None, 0, 1, 2, (0, 2), (1, 2)]:
        d = () if dims is None else dims
        s = t.sum() if dims is None else t.sum(dims)
        np.testing.assert_allclose(_np(s), a.sum(axis=dims), rtol=_tol(dtype) * 8, atol=_tol(dtype) * 64)
        np.testing.assert_allclose(_np(ts.amax(t, d)), a.max(axis=dims))
        np.testing.assert_allclose(_np(ts.amin(t, d)), a.min(axis=dims))
        if dtype in FLOATS:
            m = t.mean() if dims is None else t.mean(dims)
            np.testing.assert_allclose(_np(m), a.mean(axis=dims), rtol=_tol(dtype) * 8, atol=_tol(dtype) * 8)
    # The two-pass full reduction: small integers keep every partial sum exact in float32, so the result is
    # the exact sum rounded once to the output dtype.
    ints = rng.integers(-1, 2, 1 << 22).astype(np.float64)
    big = ts.tensor(ints).to(dtype)
    want = ts.tensor(ints.sum()).to(ts.int64 if dtype in (ts.int32, ts.int64) else dtype)
    assert big.cuda().sum().cpu().tolist() == want.tolist()
    np.testing.assert_allclose(_np(ts.amax(big.cuda()[1:], ())), _np(big)[1:].max())  # unaligned: the scalar path
    # prod: values near 1 (floats) or small integers, so the products stay in range; integers answer in int64.
    p = rng.choice([-1.0, 1.0, 1.0, 2.0], (5, 7, 3)) if dtype not in FLOATS else rng.uniform(0.9, 1.1, (5, 7, 3))
    tp = ts.tensor(p).to(dtype)
    for dims in [None, 0, 1, 2, (0, 2)]:
        g = tp.cuda().prod() if dims is None else ts.prod(tp.cuda(), dims)
        c = tp.prod() if dims is None else ts.prod(tp, dims)
        assert g.dtype == c.dtype
        np.testing.assert_allclose(_np(g), _np(c), rtol=_tol(dtype) * 16, atol=_tol(dtype) * 16)


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(NUMS, key=str), ids=str)
def test_comparisons_and_where(dtype):
    rng = np.random.default_rng(4)
    a, b = rng.integers(-3, 4, (7, 1, 9)), rng.integers(-3, 4, (5, 1))
    ta, tb = ts.tensor(a.astype(np.float64)).to(dtype), ts.tensor(b.astype(np.float64)).to(dtype)
    for op, f in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                  ("gt", np.greater), ("ge", np.greater_equal)]:
        out = getattr(ts, op)(ta.cuda(), tb.cuda())
        assert out.dtype == ts.bool and out.cpu().tolist() == f(a, b).tolist(), op
    cond = ts.gt(ta.cuda(), tb.cuda())
    got = ts.where(cond, ta.cuda(), tb.cuda())
    assert got.cpu().tolist() == ts.tensor(np.where(a > b, a, b).astype(np.float64)).to(dtype).tolist()


@needs_gpu
def test_max_propagates_nan():
    t = ts.tensor([1.0, float("nan"), 3.0]).cuda()
    assert np.isnan(ts.amax(t, ()).item()) and np.isnan(ts.maximum(t, ts.zeros(3).cuda())[1].item())


@needs_gpu
@pytest.mark.parametrize("dtype", sorted(FLOATS, key=str), ids=str)
def test_matmul_matches_numpy(dtype):
    rng = np.random.default_rng(3)
    for (m, k, n) in [(64, 48, 80), (1, 7, 1), (129, 1, 3)]:
        a, b = rng.uniform(-1, 1, (m, k)), rng.uniform(-1, 1, (k, n))
        ta, tb = ts.tensor(a).to(dtype), ts.tensor(b).to(dtype)
        ref = _np(ta) @ _np(tb)
        tol = {ts.float16: 1e-2, ts.bfloat16: 5e-2, ts.float32: 1e-4, ts.float64: 1e-12}[dtype] * max(1, k ** 0.5)
        for x, y in [(ta.cuda(), tb.cuda()), (ta.t().contiguous().cuda().t(), tb.cuda()),
                     (ta.cuda(), tb.t().contiguous().cuda().t())]:
            np.testing.assert_allclose(_np(x @ y), ref, atol=tol)
    batch = rng.uniform(-1, 1, (3, 5, 6)), rng.uniform(-1, 1, (6, 4))
    tb0, tb1 = ts.tensor(batch[0]).to(dtype), ts.tensor(batch[1]).to(dtype)
    np.testing.assert_allclose(_np(tb0.cuda() @ tb1.cuda()), _np(tb0) @ _np(tb1), atol=5e-2)


@needs_gpu
def test_tf32_flags_change_float32_matmul_and_conv_precision():
    """Off (the default): float32 products are float32 (~1e-6 relative); on: TF32's 10-bit mantissa
    (~1e-4 to 1e-3 relative), as PyTorch's flags."""
    rng = np.random.default_rng(8)
    a, b = rng.normal(0, 1, (256, 512)), rng.normal(0, 1, (512, 256))
    x, w = rng.normal(0, 1, (4, 32, 12, 12)), rng.normal(0, 0.2, (16, 32, 3, 3))

    def errors():
        mm = _np(ts.tensor(a).float().cuda() @ ts.tensor(b).float().cuda())
        ref = a @ b
        cv = _np(ts.nn.functional.conv2d(ts.tensor(x).float().cuda(), ts.tensor(w).float().cuda(), padding=1))
        cref = _np(ts.nn.functional.conv2d(ts.tensor(x), ts.tensor(w), padding=1))
        return (np.linalg.norm(mm - ref) / np.linalg.norm(ref), np.linalg.norm(cv - cref) / np.linalg.norm(cref))

    assert ts.backends.cuda.matmul.allow_tf32 is False and ts.backends.cudnn.allow_tf32 is False
    full = errors()
    try:
        ts.backends.cuda.matmul.allow_tf32 = True
        ts.backends.cudnn.allow_tf32 = True
        tf32 = errors()
    finally:
        ts.backends.cuda.matmul.allow_tf32 = False
        ts.backends.cudnn.allow_tf32 = False
    assert full[0] < 1e-5 and full[1] < 1e-5, full
    assert 1e-5 < tf32[0] < 5e-3, tf32  # TF32 rounding shows, bounded
    assert tf32[1] < 5e-3, tf32  # cuDNN may still pick a non-tensor-core algorithm: bounded either way
    assert max(errors()) < 1e-5  # back to float32


@needs_gpu
def test_memory_statistics_follow_tensors():
    ts.cuda.synchronize()
    ts.cuda.empty_cache()
    base = ts.cuda.memory_allocated()
    x = ts.zeros(1 << 20, device="cuda")  # 4 MiB
    assert ts.cuda.memory_allocated() == base + 4 * 2**20
    assert ts.cuda.max_memory_allocated() >= base + 4 * 2**20
    assert ts.cuda.memory_reserved() >= ts.cuda.memory_allocated()
    del x
    assert ts.cuda.memory_allocated() == base
    reserved = ts.cuda.memory_reserved()
    y = ts.zeros(1 << 20, device="cuda")  # the cached block comes back
    assert ts.cuda.memory_reserved() == reserved
    del y
    ts.cuda.empty_cache()
    assert ts.cuda.memory_reserved() == reserved - 4 * 2**20
    ts.cuda.reset_peak_memory_stats()
    assert ts.cuda.max_memory_allocated() == ts.cuda.memory_allocated()


@needs_gpu
def test_memory_cap_raises_a_clear_error():
    ts.cuda.set_memory_cap(ts.cuda.memory_reserved() + 8 * 2**20)
    try:
        with pytest.raises(RuntimeError, match="out of memory.*cap"):
            ts.zeros(16 * 2**20, device="cuda")
    finally:
        ts.cuda.set_memory_cap(0)


@needs_gpu
def test_device_management():
    assert ts.cuda.device_count() >= 1
    ts.cuda.set_device(0)
    assert ts.cuda.current_device() == 0
    assert isinstance(ts.cuda.get_device_name(), str)
    with pytest.raises(ValueError, match="invalid CUDA device index"):
        ts.cuda.set_device(ts.cuda.device_count())


@needs_gpu
def test_autograd_through_cuda_tensors():
    x = ts.tensor([[1.0, -2.0], [3.0, 0.5]]).cuda().requires_grad_()
    y = (x * x + x).relu().sum()
    y.backward()
    ref = np.where(np.array([[1.0, -2.0], [3.0, 0.5]]) ** 2 + np.array([[1.0, -2.0], [3.0, 0.5]]) > 0,
                   2 * np.array([[1.0, -2.0], [3.0, 0.5]]) + 1, 0)
    np.testing.assert_allclose(_np(x.grad), ref)
    assert x.grad.device == "cuda:0"


@needs_gpu
def test_streams_order_work_and_the_context_restores_the_stream():
    s = ts.cuda.Stream()
    assert ts.cuda.current_stream() == ts.cuda.default_stream()
    x = ts.rand(512, 512).cuda()
    with ts.cuda.stream(s):
        assert ts.cuda.current_stream() == s
        s.wait_stream(ts.cuda.default_stream())  # x was written on the default stream
        y = x @ x
        y.record_stream(s)
    assert ts.cuda.current_stream() == ts.cuda.default_stream()
    ts.cuda.current_stream().wait_stream(s)
    np.testing.assert_allclose(_np(y), _np(x).astype(np.float64) @ _np(x).astype(np.float64), rtol=1e-4, atol=1e-3)
    s.synchronize()
    assert s.query()


@needs_gpu
def test_event_timing_and_wait():
    start, end = ts.cuda.Event(enable_timing=True), ts.cuda.Event(enable_timing=True)
    start.record()
    x = ts.ones(1 << 22, device="cuda")
    for _ in range(10):
        x = x + 1
    end.record()
    end.synchronize()
    assert end.query()
    assert start.elapsed_time(end) > 0
    other = ts.cuda.Stream()
    end.wait(other)
    with ts.cuda.stream(other):
        z = x * 2
    other.synchronize()
    assert float(z[0].item()) == 22.0


@needs_gpu
def test_record_stream_delays_reuse_until_that_streams_work_is_done():
    s = ts.cuda.Stream()
    x = ts.empty(1 << 20, device="cuda")
    ptr = x.data_ptr()
    x.record_stream(s)
    del x  # an event is recorded on s; the block waits for it
    s.synchronize()
    y = ts.empty(1 << 20, device="cuda")  # the event is done: the block is reused
    assert y.data_ptr() == ptr


@needs_gpu
def test_pinned_memory_round_trip():
    a = ts.arange(0, 1000, dtype=ts.float32).reshape(10, 100)
    p = a.pin_memory()
    assert p.is_pinned() and not a.is_pinned()
    np.testing.assert_array_equal(_np(p), _np(a))
    g = p.to("cuda", non_blocking=True)
    np.testing.assert_array_equal(_np(g.cpu()), _np(a))


@needs_gpu
def test_dlpack_round_trip_shares_cuda_memory():
    g = ts.arange(0, 12, dtype=ts.float32).reshape(3, 4).cuda()
    assert g.__dlpack_device__() == (2, 0)
    h = ts.from_dlpack(g)  # through __dlpack__ with our current stream
    assert h.device == g.device and h.data_ptr() == g.data_ptr()
    h.add_(1)
    np.testing.assert_array_equal(_np(g), np.arange(12, dtype=np.float32).reshape(3, 4) + 1)
    t = g.t()  # strided views keep their strides
    np.testing.assert_array_equal(_np(ts.from_dlpack(t)), _np(g).T)
    c = ts.from_dlpack(g.__dlpack__(dl_device=(1, 0), max_version=(1, 0)))  # a copy to the host
    assert c.device.type == "cpu"
    np.testing.assert_array_equal(_np(c), _np(g))
    with pytest.raises(ValueError, match="stream=0"):
        g.__dlpack__(stream=0)


@needs_gpu
def test_cuda_array_interface():
    g = ts.arange(0, 12, dtype=ts.float32).reshape(3, 4).cuda()
    a = g.__cuda_array_interface__
    assert a["version"] == 3 and a["shape"] == (3, 4) and a["typestr"] == "<f4"
    assert a["data"] == (g.data_ptr(), False) and a["strides"] is None
    assert g.t().__cuda_array_interface__["strides"] == (4, 16)
    with pytest.raises(TypeError, match="bfloat16"):
        g.to(ts.bfloat16).__cuda_array_interface__


# ---- kernels for an MLP's training step (kernels/cuda/nn.cu): each against the CPU backend

def _both(a):
    """The same values on the CPU and on cuda."""
    t = ts.tensor(a)
    return t, t.cuda()


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64, ts.float16], ids=str)
def test_softmax_and_log_softmax_match_the_cpu(dtype):
    rng = np.random.default_rng(5)
    tol = {ts.float16: 2e-3, ts.float32: 1e-6, ts.float64: 1e-13}[dtype]
    for shape, dim in [((4, 37), -1), ((4, 37), 0), ((3, 5, 1100), 1), ((2, 3000), -1), ((1, 1), 0)]:
        c, g = (t.to(dtype) for t in _both(rng.normal(0, 3, shape)))
        for f in (ts.softmax, ts.log_softmax):
            np.testing.assert_allclose(_np(f(g, dim)), _np(f(c, dim)), rtol=tol, atol=tol)
            np.testing.assert_allclose(_np(f(g.transpose(0, -1), dim)), _np(f(c.transpose(0, -1), dim)),
                                       rtol=tol, atol=tol)
    c, g = _both(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]))
    for f in (ts.softmax, ts.log_softmax):
        np.testing.assert_array_equal(_np(f(g, 1)), _np(f(c, 1)))


@needs_gpu
def test_log_softmax_and_cross_entropy_gradients_match_the_cpu():
    rng = np.random.default_rng(6)
    x, y = rng.normal(0, 2, (16, 10)), rng.integers(0, 10, 16)
    grads = []
    for dev in ("cpu", "cuda"):
        t = ts.tensor(x, device=dev, requires_grad=True)
        loss = ts.nn.functional.cross_entropy(t, ts.tensor(y, device=dev)) + ts.log_softmax(t, 0).sum() * 0.01
        loss.backward()
        grads.append((float(loss.item()), _np(t.grad)))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-10, atol=1e-12)


@needs_gpu
def test_indexing_gathers_and_scatters_match_the_cpu():
    rng = np.random.default_rng(7)
    src = rng.normal(0, 1, (20, 6))
    idx = rng.integers(0, 20, 50)
    (c, g), (ci, gi) = _both(src), _both(idx)
    np.testing.assert_array_equal(_np(g[gi]), _np(c[ci]))
    np.testing.assert_array_equal(_np(ts.index_select(g, 1, gi[:4] % 6)), _np(ts.index_select(c, 1, ci[:4] % 6)))
    np.testing.assert_array_equal(_np(ts.gather(g, 1, (gi % 6).reshape(10, 5)[:, :3])),
                                  _np(ts.gather(c, 1, (ci % 6).reshape(10, 5)[:, :3])))
    g2, c2 = g.clone(), c.clone()
    g2[gi[:5]] = ts.ones(5, 6, device="cuda")  # put_offsets, offsets distinct below
    c2[ci[:5]] = ts.ones(5, 6)
    np.testing.assert_array_equal(_np(g2), _np(c2))
    for dtype in (ts.float32, ts.float64, ts.int64):  # put_offsets_add: repeated indices accumulate
        a, b = ts.zeros(20, dtype=dtype), ts.zeros(20, dtype=dtype, device="cuda")
        v = ts.tensor(rng.integers(-5, 5, 50)).to(dtype)
        a.index_add_(0, ci, v)
        b.index_add_(0, gi, v.cuda())
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-6)
    emb_c, emb_g = ts.nn.Embedding(20, 4), ts.nn.Embedding(20, 4)
    emb_g.load_state_dict(emb_c.state_dict())
    emb_g.to("cuda")
    emb_c(ci).sum().backward()
    emb_g(gi).sum().backward()
    np.testing.assert_allclose(_np(emb_g.weight.grad), _np(emb_c.weight.grad), rtol=1e-6)


@needs_gpu
@pytest.mark.parametrize("make", [
    lambda p: ts.optim.SGD(p, lr=0.1),
    lambda p: ts.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda p: ts.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, maximize=True),
    lambda p: ts.optim.Adam(p, lr=0.01),
    lambda p: ts.optim.Adam(p, lr=0.01, amsgrad=True, weight_decay=0.1),
    lambda p: ts.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    lambda p: ts.optim.RMSprop(p, lr=0.01),
    lambda p: ts.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01),
    lambda p: ts.optim.RMSprop(p, lr=0.01, momentum=0.5, maximize=True),
], ids=["sgd", "sgd-nesterov-wd", "sgd-dampening-maximize", "adam", "adam-amsgrad-wd", "adamw", "rmsprop",
        "rmsprop-centered-momentum-wd", "rmsprop-momentum-maximize"])
def test_fused_optimizer_steps_match_the_cpu(make):
    rng = np.random.default_rng(8)
    w0, grads = rng.normal(0, 1, (33, 7)), [rng.normal(0, 1, (33, 7)) for _ in range(4)]
    out = []
    for dev in ("cpu", "cuda"):
        p = ts.tensor(w0, dtype=ts.float32, device=dev, requires_grad=True)
        opt = make([p])
        for gr in grads:
            p.grad = ts.tensor(gr, dtype=ts.float32, device=dev)
            opt.step()
        out.append(_np(p.detach()))
    np.testing.assert_allclose(out[1], out[0], rtol=2e-6, atol=2e-6)


@needs_gpu
def test_mlp_training_step_matches_the_cpu():
    # An MLP trained a few steps with cross entropy and Adam through autograd, unchanged, on both devices.
    rng = np.random.default_rng(9)
    x, y = rng.normal(0, 1, (64, 20)).astype(np.float32), rng.integers(0, 5, 64)
    ts.manual_seed(0)
    nets = [ts.nn.Sequential(ts.nn.Linear(20, 32), ts.nn.ReLU(), ts.nn.Linear(32, 5)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    nets[1].to("cuda")
    losses = []
    for net, dev in zip(nets, ("cpu", "cuda")):
        opt = ts.optim.Adam(net.parameters(), lr=0.01)
        xs, ys, run = ts.tensor(x, device=dev), ts.tensor(y, device=dev), []
        for _ in range(5):
            opt.zero_grad()
            loss = ts.nn.functional.cross_entropy(net(xs), ys)
            loss.backward()
            opt.step()
            run.append(float(loss.item()))
        losses.append(run)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert losses[0][-1] < losses[0][0]
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_allclose(_np(b.detach()), _np(a.detach()), rtol=1e-4, atol=1e-5)


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64, ts.float16], ids=str)
def test_random_streams_equal_the_cpus_for_a_seed(dtype):
    # One counter-based generator for every device: the same seed gives the CPU's uniform bits and normal
    # values up to the last bits of log/cos (SLEEF on the CPU, CUDA's libdevice here).
    out = {}
    for dev in ("cpu", "cuda"):
        ts.manual_seed(123)
        u = ts.rand(10007, dtype=dtype, device=dev)
        v = ts.empty(3, 500, dtype=dtype, device=dev).uniform_(-2, 5)
        n = ts.randn(10007, dtype=dtype, device=dev)
        i = ts.randint(-7, 1000, (4096,), device=dev)
        out[dev] = (_np(u), _np(v), _np(n), _np(i))
    for k in (0, 1, 3):
        np.testing.assert_array_equal(out["cuda"][k], out["cpu"][k])
    tol = {ts.float16: 1e-3, ts.float32: 1e-6, ts.float64: 1e-13}[dtype]
    np.testing.assert_allclose(out["cuda"][2], out["cpu"][2], rtol=tol, atol=tol)
    assert out["cpu"][0].min() >= 0 and out["cpu"][0].max() < 1


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64, ts.int64, ts.float16], ids=str)
def test_max_min_dim_argmax_and_counting_match_the_cpu(dtype):
    rng = np.random.default_rng(10)
    a = rng.integers(-3, 4, (33, 10)).astype(np.float64)  # ties: the first index wins
    if dtype.is_floating_point:
        a[3, 4] = a[5, 0] = a[5, 7] = np.nan  # NaN wins, the first NaN stays
    c, g = (t.to(dtype) for t in _both(a))
    for dim in (0, 1, -1):
        for f in (ts.max, ts.min):
            (cv, ci), (gv, gi) = f(c, dim), f(g, dim)
            np.testing.assert_array_equal(_np(gv), _np(cv))
            np.testing.assert_array_equal(_np(gi), _np(ci))
    for big in (c.t().contiguous(), c.repeat(1, 300)):  # strided rows; rows of 3000 over many threads
        np.testing.assert_array_equal(_np(big.cuda().argmax(1)), _np(big.argmax(1)))
    y = ts.tensor(rng.integers(0, 10, 33))
    assert (g.argmax(1) == y.cuda()).sum().item() == (c.argmax(1) == y).sum().item()
    assert (g > 0).sum().dtype == ts.int64


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64, ts.int64, ts.float16], ids=str)
def test_sort_and_randperm_match_the_cpu(dtype):
    rng = np.random.default_rng(11)
    a = rng.integers(-5, 6, (7, 1000)).astype(np.float64)  # many ties: the CPU's sort is stable
    if dtype.is_floating_point:
        a[2, ::7] = np.nan
    c, g = (t.to(dtype) for t in _both(a))
    for dim in (1, 0):
        for desc in (False, True):
            (cv, ci), (gv, gi) = ts.sort(c, dim, descending=desc), ts.sort(g, dim, descending=desc)
            np.testing.assert_array_equal(_np(gv), _np(cv))
            np.testing.assert_array_equal(_np(gi), _np(ci))
    np.testing.assert_array_equal(_np(ts.argsort(g[0, :3])), _np(ts.argsort(c[0, :3])))  # a row of 3: padded to 4
    for n in (1, 2, 1000, 4099):  # randperm off the CPU is the CPU's Fisher-Yates permutation, copied
        ts.manual_seed(5)
        pc = ts.randperm(n)
        ts.manual_seed(5)
        pg = ts.randperm(n, device="cuda")
        np.testing.assert_array_equal(_np(pg), _np(pc))


# ---- cuDNN (kernels/cuda/cudnn.cpp): conv2d and batch_norm; max_pool2d (kernels/cuda/pool.cu)

def _conv_case(device, dtype, stride, padding, dilation, groups, bias, kernel=(3, 2), rounded_to=None):
    """Output and the three gradients of one conv2d on `device`, as NumPy (inputs first rounded to
    `rounded_to` when given, so a float32 run sees a 16-bit run's values)."""
    rng = np.random.default_rng(21)

    def t(a):
        v = ts.tensor(a)
        return (v.to(rounded_to) if rounded_to is not None else v).to(dtype).to(device)
    x = t(rng.normal(0, 1, (2, 4, 9, 8))).requires_grad_()
    w = t(rng.normal(0, 0.5, (6, 4 // groups) + kernel)).requires_grad_()
    b = t(rng.normal(0, 1, 6)).requires_grad_() if bias else None
    y = ts.nn.functional.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = t(rng.normal(0, 1, tuple(y.shape)))
    (y * g).sum().backward()
    return [_np(t) for t in (y, x.grad, w.grad) + ((b.grad,) if bias else ())]


CONV_CASES = [((1, 1), (0, 0), (1, 1), 1, True), ((2, 1), (1, 2), (1, 1), 1, False),
              ((1, 2), (2, 1), (2, 1), 2, True), ((1, 1), "same", (1, 1), 2, True),  # "same" with a 3x2 kernel: asymmetric padding
              ((1, 1), (0, 0), (1, 1), 1, True, (1, 1)), ((1, 1), (0, 0), (1, 1), 1, False, (1, 1)),  # 1x1: cuBLAS
              ((2, 2), (0, 0), (1, 1), 1, True, (1, 1)), ((1, 1), (0, 0), (1, 1), 2, False, (1, 1))]  # 1x1 through cuDNN


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64], ids=str)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_and_its_gradients_match_the_cpu(dtype, case):
    tol = {ts.float32: 1e-4, ts.float64: 1e-11}[dtype]
    for got, want in zip(_conv_case("cuda", dtype, *case), _conv_case("cpu", dtype, *case)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float16, ts.bfloat16], ids=str)
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_in_16_bits_matches_the_cpu_in_float32(dtype, case):
    """float16/bfloat16 convolutions (cuDNN on tensor cores, float32 accumulation; 1x1 through cuBLAS)
    against the CPU in float32 on the same rounded inputs: within 16-bit output rounding."""
    got = _conv_case("cuda", dtype, *case)
    want = _conv_case("cpu", ts.float32, *case, rounded_to=dtype)
    rtol = {ts.float16: 4e-3, ts.bfloat16: 3e-2}[dtype]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * max(1.0, float(np.abs(w).max())))


@needs_gpu
def test_autocast_cuda_trains_a_cnn_in_float16():
    """ts.autocast("cuda"): convolutions and linear layers in float16, batch norm and the loss in float32,
    the parameters and their gradients float32; the loss goes down."""
    ts.manual_seed(0)
    model = ts.nn.Sequential(ts.nn.Conv2d(3, 8, 3, padding=1), ts.nn.BatchNorm2d(8), ts.nn.ReLU(), ts.nn.MaxPool2d(2),
                             ts.nn.Flatten(), ts.nn.Linear(8 * 4 * 4, 5)).cuda()
    opt = ts.optim.SGD(model.parameters(), lr=0.1)
    x, y = ts.randn(16, 3, 8, 8).cuda(), ts.randint(0, 5, (16,)).cuda()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        with ts.autocast("cuda"):
            h = model[0](x)
            assert h.dtype == ts.float16
            logits = model[1:](h)
            assert logits.dtype == ts.float16
            loss = ts.nn.functional.cross_entropy(logits, y)
        assert loss.dtype == ts.float32
        loss.backward()
        assert all(p.grad.dtype == ts.float32 for p in model.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses


@needs_gpu
def test_grad_scaler_on_cuda_scales_unscales_and_skips_non_finite_steps():
    lin = ts.nn.Linear(4, 3).cuda()
    opt = ts.optim.SGD(lin.parameters(), lr=0.1)
    scaler = ts.amp.GradScaler("cuda", init_scale=1024.0, growth_interval=1)
    assert scaler.is_enabled()
    x = ts.randn(8, 4).cuda()
    w0 = lin.weight.detach().cpu().numpy().copy()
    with ts.autocast("cuda"):
        loss = lin(x).float().square().mean()
    scaler.scale(loss).backward()
    scaled = lin.weight.grad.cpu().numpy().copy()
    scaler.unscale_(opt)
    np.testing.assert_allclose(lin.weight.grad.cpu().numpy() * 1024.0, scaled, rtol=1e-6)
    scaler.step(opt)
    scaler.update()
    assert not np.array_equal(lin.weight.detach().cpu().numpy(), w0) and scaler.get_scale() == 2048.0
    opt.zero_grad()
    w1 = lin.weight.detach().cpu().numpy().copy()
    with ts.autocast("cuda"):
        loss = lin(x).float().square().mean()
    scaler.scale(loss).backward()
    lin.bias.grad.fill_(float("inf"))  # an overflow: the step is skipped and the scale backs off
    assert scaler.step(opt) is None
    scaler.update()
    np.testing.assert_array_equal(lin.weight.detach().cpu().numpy(), w1)
    assert scaler.get_scale() == 1024.0


def _norm_pool_case(device, dtype):
    """batch_norm in training (running statistics updated) then relu and max_pool2d, with gradients."""
    rng = np.random.default_rng(22)
    x = ts.tensor(rng.normal(1, 2, (4, 3, 7, 6))).to(dtype).to(device).requires_grad_()
    w = ts.tensor(rng.normal(1, 0.3, 3)).to(dtype).to(device).requires_grad_()
    b = ts.tensor(rng.normal(0, 1, 3)).to(dtype).to(device).requires_grad_()
    rm, rv = ts.zeros(3, dtype=dtype).to(device), ts.ones(3, dtype=dtype).to(device)
    h = ts.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.2, eps=1e-4)
    y = ts.nn.functional.max_pool2d(ts.relu(h), 3, stride=2, padding=1)
    g = ts.tensor(rng.normal(0, 1, tuple(y.shape))).to(dtype).to(device)
    (y * g).sum().backward()
    return [_np(t) for t in (h, y, rm, rv, x.grad, w.grad, b.grad)]


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64], ids=str)
def test_batch_norm_and_max_pool_match_the_cpu(dtype):
    tol = {ts.float32: 1e-4, ts.float64: 1e-11}[dtype]
    for got, want in zip(_norm_pool_case("cuda", dtype), _norm_pool_case("cpu", dtype)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _pool_case(device, dtype):
    """max_pool2d values, indices and gradient over ties, NaN, padding, dilation and overlapping windows."""
    a = np.random.default_rng(23).integers(-3, 4, (2, 3, 9, 8)).astype(np.float64)  # many ties
    a[0, 1, 2:5, 3] = np.nan
    out = []
    for k, st, pad, dil in [(2, 2, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2), ((2, 3), (1, 2), (1, 0), (2, 1))]:
        x = ts.tensor(a).to(dtype).to(device).requires_grad_()
        v, i = ts.nn.functional.max_pool2d(x, k, st, pad, dil, return_indices=True)
        v.sum().backward()
        out += [_np(v), _np(i), _np(x.grad), _np(ts.nn.functional.max_pool2d(x.detach(), k, st, pad, dil))]
    return out


@needs_gpu
@pytest.mark.parametrize("dtype", [ts.float32, ts.float64], ids=str)
def test_max_pool2d_indices_and_gradient_equal_the_cpus(dtype):
    for got, want in zip(_pool_case("cuda", dtype), _pool_case("cpu", dtype)):
        np.testing.assert_array_equal(got, want)


def _cnn_losses(device):
    """Four SGD steps of a small CNN (conv, batch_norm, relu, max_pool, linear, cross-entropy)."""
    ts.manual_seed(3)
    model = ts.nn.Sequential(ts.nn.Conv2d(3, 8, 3, padding=1), ts.nn.BatchNorm2d(8), ts.nn.ReLU(),
                             ts.nn.MaxPool2d(2), ts.nn.Flatten(), ts.nn.Linear(8 * 4 * 4, 5)).to(device)
    opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(4)
    x = ts.tensor(rng.normal(0, 1, (16, 3, 8, 8)), dtype=ts.float32).to(device)
    y = ts.tensor(rng.integers(0, 5, 16)).to(device)
    losses = []
    for _ in range(4):
        loss = ts.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


@needs_gpu
def test_cnn_training_step_matches_the_cpu():
    cpu = _cnn_losses("cpu")
    np.testing.assert_allclose(_cnn_losses("cuda"), cpu, rtol=1e-4)
    assert cpu[-1] < cpu[0]
