"""safetensors serialization: round trips, byte compatibility with the reference
`safetensors` package in both directions, and errors on malformed files."""
import io
import json
import os
import pathlib
import re
import struct
import threading

import numpy as np
import pytest

import tessel as ts
from conftest import NP, from_numpy

# tessel dtypes that safetensors can hold (complex128 cannot).
DTYPES = [ts.bool, ts.uint8, ts.int8, ts.int16, ts.int32, ts.int64, ts.float16, ts.bfloat16, ts.float32,
          ts.float64, ts.complex64]
NUMPY_DTYPES = [d for d in DTYPES if d != ts.bfloat16]  # what safetensors.numpy can write
SHAPES = [(), (0,), (2, 0, 3), (5,), (3, 4), (2, 3, 4)]


@pytest.fixture(scope="module")
def st():
    return pytest.importorskip("safetensors", reason="the reference safetensors package is a test dependency")


def random_array(dtype, shape, rng):
    return np.asarray(_random_values(dtype, shape, rng))


def _random_values(dtype, shape, rng):
    np_dtype = NP.get(dtype, np.float32)  # bfloat16: float32 values rounded on the way in
    if dtype == ts.bool:
        return rng.random(shape) > 0.5
    if np.issubdtype(np_dtype, np.integer):
        info = np.iinfo(np_dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=np_dtype, endpoint=True)
    if np.issubdtype(np_dtype, np.complexfloating):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np_dtype)
    a = np.asarray(rng.standard_normal(shape).astype(np_dtype))
    if a.size >= 4:  # the values that must survive bit for bit
        a.flat[:4] = [np.nan, np.inf, -0.0, -np.inf]
    return a


def as_numpy(t):
    """A tessel tensor's values as a NumPy array (bfloat16 -> float32, exact)."""
    return np.asarray(t.float() if t.dtype == ts.bfloat16 else t)


def assert_same(t, expected, dtype=None):
    assert t.dtype == (dtype or t.dtype)
    got = as_numpy(t)
    expected = np.asarray(expected)
    if t.dtype == ts.bfloat16:  # the expected float32 values, rounded to bfloat16
        expected = as_numpy(from_numpy(expected, ts.bfloat16))
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()


def header_of(data):
    n = struct.unpack("<Q", data[:8])[0]
    return data[8:8 + n]


def file_of(header, data=b""):
    h = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(h)) + h + data


# ---- round trips ----

@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_round_trip_every_dtype_and_shape(tmp_path, dtype, shape):
    a = random_array(dtype, shape, np.random.default_rng(0))
    t = from_numpy(a, dtype)
    ts.save({"x": t}, tmp_path / "x.safetensors")
    out = ts.load(tmp_path / "x.safetensors")
    assert list(out) == ["x"]
    assert_same(out["x"], a, dtype)


def test_non_contiguous_views_are_written_as_their_values(tmp_path):
    base = ts.arange(24).reshape(2, 3, 4).double()
    views = {
        "transposed": base.transpose(0, 2),
        "strided": base[:, ::2, 1::2],
        "selected": base[1, :, 2],
        "expanded": ts.tensor([1.0, 2.0]).expand(3, 2),
        "bf16_t": base.to(ts.bfloat16).mT,
    }
    ts.save(views, tmp_path / "v.safetensors")
    out = ts.load(tmp_path / "v.safetensors")
    for name, v in views.items():
        assert out[name].is_contiguous()
        assert_same(out[name], as_numpy(v.contiguous()), v.dtype)


def test_file_objects_paths_and_a_single_tensor(tmp_path):
    t = ts.arange(5).float()
    buf = io.BytesIO()
    ts.save(t, buf)  # a lone tensor is stored under "tensor"
    buf.seek(0)
    out = ts.load(buf)
    assert list(out) == ["tensor"] and out["tensor"].tolist() == t.tolist()
    ts.save({"t": t}, str(tmp_path / "s.safetensors"))
    ts.save_file({"t": t}, pathlib.Path(tmp_path / "p.safetensors"))
    assert (tmp_path / "s.safetensors").read_bytes() == (tmp_path / "p.safetensors").read_bytes() == \
        ts._C._io.save({"t": t})
    assert ts.load_file(tmp_path / "p.safetensors", device="cpu")["t"].tolist() == t.tolist()
    assert ts.io.load is ts.load and ts.io.save_file is ts.save_file


def test_load_keeps_header_order_and_tensors_are_independent(tmp_path):
    header = ('{"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},'
              '"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')
    path = tmp_path / "o.safetensors"
    path.write_bytes(file_of(header, np.arange(4, dtype=np.float32).tobytes()))
    out = ts.load(path)
    assert list(out) == ["b", "a"]
    assert out["a"].tolist() == [0.0, 1.0] and out["b"].tolist() == [2.0, 3.0]
    out["a"].fill_(7)
    assert out["b"].tolist() == [2.0, 3.0]
    b = out.pop("b")
    del out
    path.unlink()
    assert b.tolist() == [2.0, 3.0]  # the tensor owns its memory, not the file


def test_metadata_round_trips(tmp_path):
    metadata = {"format": "pt", "é ünï": "quote \" backslash \\ newline \n tab \t nul \x00 \x1f \x7f", "": ""}
    ts.save({"x": ts.ones(2)}, tmp_path / "m.safetensors", metadata=metadata)
    tensors, md = ts.load(tmp_path / "m.safetensors", return_metadata=True)
    assert md == metadata and list(tensors) == ["x"]
    # None and {} both mean no metadata: no "__metadata__" entry is written.
    for none in (None, {}):
        data = ts._C._io.save({"x": ts.ones(2)}, none)
        assert b"__metadata__" not in header_of(data)
        assert ts._C._io.load(data, return_metadata=True)[1] == {}


def test_tensors_that_require_grad_save_their_values():
    w = ts.ones(2, 3, requires_grad=True)
    out = ts._C._io.load(ts._C._io.save({"w": w.t(), "y": w * 2}))
    assert not out["w"].requires_grad and out["w"].grad_fn is None
    assert out["y"].tolist() == [[2.0] * 3] * 2


def test_large_tensor_round_trip(tmp_path):
    t = ts.arange(3_000_000).float()  # > 4 MiB: the huge-page allocation path
    ts.save({"big": t, "small": ts.ones(3, dtype=ts.int8)}, tmp_path / "big.safetensors")
    out = ts.load(tmp_path / "big.safetensors")
    assert np.array_equal(np.asarray(out["big"]), np.asarray(t))


def test_threads_save_and_load_concurrently(tmp_path):
    errors = []

    def work(i):
        try:
            for k in range(20):
                t = ts.full((1000,), float(i * 100 + k))
                p = tmp_path / f"t{i}.safetensors"
                ts.save({"t": t}, p)
                assert ts.load(p)["t"][999].item() == i * 100 + k
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


# ---- compatibility with the reference package ----

SPECIAL_NAMES = ["é/ünï", "q\"uote\\", "ctl\n\x01\t\x7f", "emoji 😀"]


def reference_dict(rng, pad=0):
    """One array of every dtype safetensors.numpy writes, in several shapes, under names that sort
    differently from the dtype order or need escaping; `pad` lengthens one name by that many bytes."""
    d = {}
    for i, dtype in enumerate(NUMPY_DTYPES):
        d[chr(ord("z") - i)] = random_array(dtype, SHAPES[i % len(SHAPES)], rng)
        d[f"{chr(ord('a') + i)}.{i}"] = random_array(dtype, (2, 1 + i), rng)
    for i, name in enumerate(SPECIAL_NAMES):
        d[name] = random_array(NUMPY_DTYPES[i], (3,), rng)
    d["p" + "_" * pad] = random_array(ts.float32, (2,), rng)
    return d


@pytest.mark.parametrize("pad", range(8))
@pytest.mark.parametrize("metadata", [None, {"format": "np"}, {"ключ": "значение \"1\"\n\x02"}], ids=range(3))
def test_files_are_byte_identical_to_the_reference(st, tmp_path, pad, metadata):
    from safetensors.numpy import save_file

    arrays = reference_dict(np.random.default_rng(1), pad)
    save_file(arrays, tmp_path / "ref.safetensors", metadata=metadata)
    ts.save({k: ts.tensor(v) for k, v in arrays.items()}, tmp_path / "ts.safetensors", metadata=metadata)
    ref = (tmp_path / "ref.safetensors").read_bytes()
    assert (tmp_path / "ts.safetensors").read_bytes() == ref
    assert len(header_of(ref)) % 8 == 0


def test_the_pads_above_cover_every_header_padding(st):
    from safetensors.numpy import save

    unpadded = {len(header_of(save(reference_dict(np.random.default_rng(1), pad))).rstrip(b" ")) % 8
                for pad in range(8)}
    assert unpadded == set(range(8))


def test_bfloat16_is_byte_identical_to_the_reference(st):
    rng = np.random.default_rng(2)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    bits = (f32.view(np.uint32) >> 16).astype(np.uint16)  # values exactly representable in bfloat16
    exact = (bits.astype(np.uint32) << 16).view(np.float32)
    other = rng.standard_normal(4).astype(np.float32)
    specs = {"w": st.TensorSpec(dtype="bfloat16", shape=list(bits.shape), data_ptr=bits.ctypes.data,
                                data_len=bits.nbytes),
             "o": st.TensorSpec(dtype="float32", shape=[4], data_ptr=other.ctypes.data, data_len=other.nbytes)}
    ref = bytes(st.serialize(specs, metadata={"m": "1"}))
    ours = ts._C._io.save({"w": ts.tensor(exact).to(ts.bfloat16), "o": ts.tensor(other)}, {"m": "1"})
    assert ours == ref
    loaded = ts._C._io.load(ref)
    assert loaded["w"].dtype == ts.bfloat16
    assert np.asarray(loaded["w"].float()).tobytes() == exact.tobytes()
    raw = dict(st.deserialize(ours))
    assert raw["w"]["dtype"] == "BF16" and bytes(raw["w"]["data"]) == bits.tobytes()


def test_multi_key_metadata_matches_the_reference_up_to_key_order(st):
    # The reference keeps metadata in a Rust HashMap, so its key order changes from run to run;
    # tessel writes keys sorted. The rest of the file is identical.
    from safetensors.numpy import save

    arrays = reference_dict(np.random.default_rng(3))
    metadata = {f"k{i}": str(i) for i in range(10)}
    ref = save(arrays, metadata=metadata)
    ours = ts._C._io.save({k: ts.tensor(v) for k, v in arrays.items()}, metadata)
    assert len(ours) == len(ref)
    assert json.loads(header_of(ours)) == json.loads(header_of(ref))
    assert list(json.loads(header_of(ours))["__metadata__"]) == sorted(metadata)
    assert ours[8 + len(header_of(ours)):] == ref[8 + len(header_of(ref)):]


def test_reference_files_load_in_tessel(st, tmp_path):
    from safetensors.numpy import save_file

    arrays = reference_dict(np.random.default_rng(4))
    save_file(arrays, tmp_path / "ref.safetensors", metadata={"a": "b"})
    tensors, metadata = ts.load(tmp_path / "ref.safetensors", return_metadata=True)
    assert metadata == {"a": "b"}
    assert set(tensors) == set(arrays)
    for name, a in arrays.items():
        assert_same(tensors[name], a)


def test_tessel_files_load_in_the_reference(st, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    arrays = reference_dict(np.random.default_rng(5))
    tensors = {k: ts.tensor(v) for k, v in arrays.items()}
    tensors["view"] = ts.arange(12).reshape(3, 4).t()
    ts.save(tensors, tmp_path / "ts.safetensors", metadata={"x": "y"})
    loaded = load_file(tmp_path / "ts.safetensors")
    assert set(loaded) == set(tensors)
    for name, t in tensors.items():
        assert loaded[name].dtype == np.asarray(t).dtype
        assert loaded[name].tobytes() == np.ascontiguousarray(np.asarray(t)).tobytes()
    with safe_open(tmp_path / "ts.safetensors", framework="np") as f:
        assert f.metadata() == {"x": "y"}


def test_dtypes_tessel_lacks_raise_type_error(tmp_path):
    # packed float4 from a file written by hand (NumPy has no such type for the reference writer)
    header = b'{"f":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}'
    (tmp_path / "f4.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\x00")
    with pytest.raises(TypeError, match=r"tensor 'f' has dtype F4, which tessel does not support"):
        ts.load(tmp_path / "f4.safetensors")
    with pytest.raises(TypeError, match="cannot store"):
        ts.save({"i": ts.zeros(2, dtype=ts.int4)}, tmp_path / "i4.safetensors")


def test_float8_round_trips_under_safetensors_names(tmp_path):
    import json
    x = ts.tensor([0.5, -3.0, 448.0])
    tensors = {"a": x.to(ts.float8_e4m3fn), "b": x.to(ts.float8_e5m2), "c": x.abs().to(ts.float8_e8m0fnu)}
    ts.save(tensors, tmp_path / "f8.safetensors")
    raw = (tmp_path / "f8.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert {k: header[k]["dtype"] for k in tensors} == {"a": "F8_E4M3", "b": "F8_E5M2", "c": "F8_E8M0"}
    back = ts.load(tmp_path / "f8.safetensors")
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].view(ts.uint8).tolist() == t.view(ts.uint8).tolist()


@pytest.mark.parametrize("npd", [np.uint16, np.uint32, np.uint64])
def test_unsigned_dtypes_both_ways(st, tmp_path, npd):
    from safetensors.numpy import load_file, save_file

    a = np.array([0, 1, np.iinfo(npd).max, 12345], dtype=npd)
    save_file({"u": a}, tmp_path / "ref.safetensors")
    got = ts.load(tmp_path / "ref.safetensors")["u"]
    assert got.dtype == getattr(ts, np.dtype(npd).name) and np.array_equal(got.numpy(), a)
    ts.save({"u": got, "f": ts.ones(2)}, tmp_path / "ours.safetensors")
    assert np.array_equal(load_file(tmp_path / "ours.safetensors")["u"], a)
    # the reference writer's byte layout (tensors ordered by its dtype rank)
    save_file({"u": a, "f": np.ones(2, np.float32)}, tmp_path / "ref2.safetensors")
    assert (tmp_path / "ours.safetensors").read_bytes() == (tmp_path / "ref2.safetensors").read_bytes()


# ---- errors ----

GOOD_HEADER = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
CORRUPT = {
    "short": (b"\x01\x02", "too short"),
    "length past the end": (struct.pack("<Q", 1000) + b"{}", "header length 1000 is larger than the 2 bytes"),
    "huge length": (struct.pack("<Q", 2**64 - 1) + b"{}", "exceeds the limit"),
    "not json": (file_of("{nope}"), "invalid JSON"),
    "trailing comma": (file_of('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},}', bytes(8)), "invalid JSON"),
    "not an object": (file_of("[]"), "not a JSON object"),
    "invalid utf-8": (file_of(b'{"\xff":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\0"), "UTF-8"),
    "bad escape": (file_of('{"\\q":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\0"), "invalid escape"),
    "lone surrogate": (file_of('{"\\ud800":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}', b"\0"), "surrogate"),
    "unknown dtype": (file_of('{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', bytes(8)),
                      "tensor 'a': unknown dtype 'F33'"),
    "missing field": (file_of('{"a":{"dtype":"F32","data_offsets":[0,8]}}', bytes(8)), "missing field 'shape'"),
    "duplicate field": (file_of('{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8)),
                        "duplicate field 'dtype'"),
    "negative dim": (file_of('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', bytes(8)), "non-negative"),
    "float dim": (file_of('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', bytes(8)), "non-negative"),
    "dim overflow": (file_of('{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,8]}}', bytes(8)),
                     "non-negative"),
    "numel overflow": (file_of('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}',
                               bytes(8)), "overflows int64"),
    "size mismatch": (file_of('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8)),
                      "hold 8 bytes, but F32 of shape [3] needs 12"),
    "three offsets": (file_of('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}', bytes(8)),
                      "two non-negative integers"),
    "end before begin": (file_of('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', bytes(8)),
                         "end before they begin"),
    "gap": (file_of('{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12)), "leave a gap"),
    "overlap": (file_of('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                        '"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)), "overlap"),
    "trailing data": (file_of(GOOD_HEADER, bytes(9)), "cover 8 bytes, but 9 bytes follow"),
    "missing data": (file_of(GOOD_HEADER, bytes(7)), "cover 8 bytes, but 7 bytes follow"),
    "duplicate name": (file_of('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                               '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)),
                       "duplicate tensor name 'a'"),
    "metadata not strings": (file_of('{"__metadata__":{"k":1}}'), "metadata value of 'k' is not a string"),
    "two metadata": (file_of('{"__metadata__":{},"__metadata__":{}}'), "duplicate \"__metadata__\""),
    "deep nesting": (file_of('{"a":' + "[" * 500 + "]" * 500 + "}"), "nesting too deep"),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_files_raise_value_error_naming_the_file(tmp_path, name):
    data, message = CORRUPT[name]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError) as e:
        ts.load(path)
    assert str(e.value).startswith(f"[load_safetensors] '{path}': ")
    assert message in str(e.value)
    with pytest.raises(ValueError, match=r"^\[deserialize_safetensors\] "):
        ts.load(io.BytesIO(data))


def test_the_reference_quirks_tessel_accepts(tmp_path):
    # Valid JSON the reference also reads: whitespace around the header, unknown fields, null metadata.
    data = file_of(' \n{"__metadata__":null,"a":{"x":[1.5,true,null,{}],"dtype":"I8","shape":[1],'
                   '"data_offsets":[0,1]}}\t ', b"\x07")
    tensors, metadata = ts._C._io.load(data, return_metadata=True)
    assert tensors["a"].tolist() == [7] and metadata == {}


def valid_file():
    t = {"w": ts.arange(6).reshape(2, 3).float(), "i": ts.tensor([1, 2, 3]), "b": ts.tensor([True, False]),
         "h": ts.ones(2, dtype=ts.bfloat16), "s": ts.tensor(3.5), "e": ts.zeros(0, 2)}
    return ts._C._io.save(t, {"k": "v"})


def test_every_truncation_raises_value_error(tmp_path):
    data = valid_file()
    path = tmp_path / "t.safetensors"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError, match=re.escape(str(path))):
            ts.load(path)


def test_flipped_bytes_load_or_raise_tessel_errors():
    data = valid_file()
    rng = np.random.default_rng(6)
    for pos in range(len(data)):
        for mask in (0x01, 0x20, 0x80, int(rng.integers(1, 256))):
            bad = bytearray(data)
            bad[pos] ^= mask
            try:
                out = ts._C._io.load(bytes(bad))
            except (ValueError, TypeError):
                continue
            for t in out.values():
                t.contiguous()


def test_complex128_raises_type_error_naming_the_tensor(tmp_path):
    path = tmp_path / "c.safetensors"
    with pytest.raises(TypeError, match=r"tensor 'z' is complex128, which safetensors cannot store"):
        ts.save({"ok": ts.ones(2), "z": ts.zeros(2, dtype=ts.complex128)}, path)
    assert not path.exists()
    ts.save({"z": ts.zeros(2, dtype=ts.complex128).to(ts.complex64)}, path)  # complex64 is C64
    assert ts.load(path)["z"].dtype == ts.complex64


def test_invalid_arguments():
    # Anything but a dict of str -> Tensor is a checkpoint (test_checkpoint.py): its values must be storable.
    with pytest.raises(TypeError, match=r"cannot save a ndarray at obj\['a'\]"):
        ts.save({"a": np.zeros(2)}, io.BytesIO())
    with pytest.raises(TypeError, match="tensor names must be str"):
        ts._C._io.save({1: ts.ones(1)})
    with pytest.raises(TypeError, match="metadata values must be str"):
        ts.save({"a": ts.ones(1)}, io.BytesIO(), metadata={"k": 1})
    with pytest.raises(TypeError, match="metadata values must be str"):
        ts.save([ts.ones(1)], io.BytesIO(), metadata={"k": 1})
    with pytest.raises(TypeError, match="expects a dict"):
        ts.save_file(ts.ones(1), "unused.safetensors")
    with pytest.raises(ValueError, match="'__metadata__' is reserved"):
        ts.save({"__metadata__": ts.ones(1)}, io.BytesIO())
    with pytest.raises(UnicodeEncodeError):
        ts.save({"\ud800": ts.ones(1)}, io.BytesIO())
    with pytest.raises(TypeError):
        ts._C._io.load("a str is not bytes")


def test_operating_system_errors_are_oserrors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"\[load_safetensors\] cannot open '.*missing.safetensors'"):
        ts.load(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError):
        ts.load(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"\[save_safetensors\] cannot open"):
        ts.save({"a": ts.ones(1)}, tmp_path / "no" / "dir.safetensors")
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError, match="cannot write '/dev/full'"):
            ts.save({"a": ts.ones(1)}, "/dev/full")
        assert os.path.exists("/dev/full")
