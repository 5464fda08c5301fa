"""Checkpoints (ts.save/ts.load of nested structures), torch.save files, pickling
and copying tensors and modules, RNG state and ts.Generator, and an exact
training resume from a checkpoint."""
import copy
import io
import json
import math
import pickle
import re
import struct
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import tessel as ts
from tessel._checkpoint import CHECKPOINT_KEY


def header(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n])


def save_bytes(obj, **kw):
    buf = io.BytesIO()
    ts.save(obj, buf, **kw)
    return buf.getvalue()


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tolist() == b.tolist()


# ---- checkpoints ----

def test_nested_structure_round_trips_with_types(tmp_path):
    w = ts.arange(6, dtype=ts.float32).reshape(2, 3)
    obj = {
        "model": OrderedDict(weight=w, bias=ts.zeros(3, dtype=ts.bfloat16)),
        "state": {0: {"step": ts.tensor(3.0), "buf": ts.ones(2, dtype=ts.float64)}, 7: {}},
        "groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "foreach": None, "params": [0, 7]}],
        "epoch": 12,
        "big": 2**70,
        "floats": (math.inf, -math.inf, 1e-300, -0.0, 2.5),
        "name": "résumé \"quoted\"\n",
        "empty": ([], (), {}),
        "keys": {(1, "a"): 1, None: 2, True: 3, 2.5: 4, "s": 5},
        "misc": [ts.int16, ts.device("cpu"), 1 - 2j],
        "ints": [np.int64(4), np.float32(0.5)],
    }
    path = tmp_path / "ckpt.safetensors"
    ts.save(obj, path)
    out = ts.load(path)
    assert list(out) == list(obj)
    assert same(out["model"]["weight"], w) and out["model"]["bias"].dtype == ts.bfloat16
    assert list(out["state"]) == [0, 7] and out["state"][7] == {}
    assert same(out["state"][0]["step"], ts.tensor(3.0)) and out["state"][0]["buf"].dtype == ts.float64
    g = out["groups"][0]
    assert g == {"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "foreach": None, "params": [0, 7]}
    assert type(g["betas"]) is tuple and type(g["nesterov"]) is bool
    assert out["epoch"] == 12 and type(out["epoch"]) is int and out["big"] == 2**70
    f = out["floats"]
    assert type(f) is tuple and f[:2] == (math.inf, -math.inf) and f[2] == 1e-300
    assert math.copysign(1, f[3]) == -1 and f[4] == 2.5
    assert out["name"] == obj["name"]
    assert out["empty"] == ([], (), {}) and type(out["empty"]) is tuple
    assert out["keys"] == obj["keys"] and list(out["keys"]) == list(obj["keys"])
    assert out["misc"] == [ts.int16, ts.device("cpu"), 1 - 2j]
    assert out["ints"] == [4, 0.5] and type(out["ints"][0]) is int
    nan = ts.load(io.BytesIO(save_bytes([math.nan])))
    assert math.isnan(nan[0])


def test_top_level_list_tuple_scalar_and_none():
    for obj in ([ts.ones(2), 3], (ts.ones(1),), 5, "s", None, 1.5, [[[]]]):
        out = ts.load(io.BytesIO(save_bytes(obj)))
        assert type(out) is type(obj)
        if not isinstance(obj, (list, tuple)):
            assert out == obj


def test_shared_tensors_are_stored_once_and_stay_shared():
    t = ts.ones(3)
    data = save_bytes({"a": t, "b": [t, t], "c": ts.ones(3)})
    tensors = [k for k in header(data) if k != "__metadata__"]
    assert sorted(tensors) == ["a", "c"]
    out = ts.load(io.BytesIO(data))
    assert out["a"] is out["b"][0] is out["b"][1] and out["a"] is not out["c"]


def test_requires_grad_survives_and_values_are_detached():
    p = ts.nn.Parameter(ts.ones(2))
    out = ts.load(io.BytesIO(save_bytes({"p": p, "n": [ts.ones(2)]})))
    assert out["p"].requires_grad and out["p"].is_leaf and not out["n"][0].requires_grad


def test_flat_dicts_stay_plain_safetensors_files():
    pytest.importorskip("safetensors")
    from safetensors.numpy import load, save

    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, dtype=np.int64)}
    flat = save_bytes({k: ts.tensor(v) for k, v in arrays.items()}, metadata={"m": "1"})
    assert flat == save(arrays, metadata={"m": "1"})  # byte-identical to the reference writer
    out, md = ts.load(io.BytesIO(flat), return_metadata=True)
    assert isinstance(out, dict) and set(out) == {"w", "b"} and md == {"m": "1"}
    assert CHECKPOINT_KEY not in header(save_bytes({}))


def test_checkpoint_tensors_load_in_the_safetensors_package(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.numpy import load_file

    ts.save({"model": {"w": ts.arange(4.0)}, "epoch": 3}, tmp_path / "c.safetensors", metadata={"run": "a"})
    arrays = load_file(tmp_path / "c.safetensors")
    assert list(arrays) == ["model.w"] and arrays["model.w"].tolist() == [0, 1, 2, 3]
    obj, md = ts.load(tmp_path / "c.safetensors", return_metadata=True)
    assert md == {"run": "a"} and obj["epoch"] == 3


def test_tensor_names_never_collide():
    out = ts.load(io.BytesIO(save_bytes({"a.b": ts.ones(1), "a": {"b": ts.zeros(1)}, "__metadata__": [ts.ones(2)],
                                         "\ud800": ts.full((1,), 5.0)})))
    assert out["a.b"].tolist() == [1] and out["a"]["b"].tolist() == [0] and out["__metadata__"][0].shape == (2,)
    assert out["\ud800"].tolist() == [5.0]


def test_load_device_and_torch_style_arguments():
    data = save_bytes({"x": [ts.ones(2)]})
    assert ts.load(io.BytesIO(data), map_location="cpu", weights_only=True)["x"][0].device == ts.device("cpu")
    assert ts.load(io.BytesIO(data), device="cpu")["x"][0].tolist() == [1, 1]
    with pytest.raises(TypeError, match="map_location must be a device"):
        ts.load(io.BytesIO(data), map_location=lambda s, loc: s)
    with pytest.raises(TypeError, match="both device and map_location"):
        ts.load(io.BytesIO(data), device="cpu", map_location="cpu")


def test_save_errors():
    with pytest.raises(TypeError, match=r"cannot save a ndarray at obj\['a'\]\[0\]"):
        save_bytes({"a": [np.zeros(2)]})
    with pytest.raises(TypeError, match="cannot save a object at obj"):
        save_bytes([object()])
    with pytest.raises(TypeError, match="cannot save the dict key"):
        save_bytes({ts.ones(1): 1})
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested deeper than"):
        save_bytes(loop)
    for obj in ([1], {"a": ts.ones(1)}):
        with pytest.raises(ValueError, match="is reserved"):
            save_bytes(obj, metadata={CHECKPOINT_KEY: "x"})
    with pytest.raises(TypeError, match="metadata must be a dict"):
        save_bytes([1], metadata=[("k", "v")])
    with pytest.raises(TypeError, match="complex128"):
        save_bytes([ts.zeros(1, dtype=ts.complex128)])


def checkpoint_file(structure, tensors=None):
    """A safetensors file whose checkpoint structure is `structure` (a str, written as is)."""
    return ts._C._io.save(tensors or {}, {CHECKPOINT_KEY: structure})


MALFORMED = {
    "bad json": ('{"format":1,"root":', "not valid JSON"),
    "not an object": ("[1]", '"format"'),
    "no root": ('{"format":1}', '"format"'),
    "bad format": ('{"format":"1","root":null}', "bad format"),
    "newer format": ('{"format":99,"root":null}', "checkpoint format 99 is newer"),
    "missing tensor": ('{"format":1,"root":{"tensor":"w"}}', "tensor 'w' is not in the file"),
    "unknown node": ('{"format":1,"root":{"pickle":"os.system"}}', "unknown node type 'pickle'"),
    "two tags": ('{"format":1,"root":{"tuple":[],"dict":[]}}', "several tags"),
    "empty object": ('{"format":1,"root":{}}', "unexpected value"),
    "bad pair": ('{"format":1,"root":{"dict":[[1]]}}', "[key, value] pairs"),
    "list key": ('{"format":1,"root":{"dict":[[[1],2]]}}', "cannot be a key"),
    "tensor key": ('{"format":1,"root":{"dict":[[{"tensor":"t"},2]]}}', "holds a tensor"),
    "bad float": ('{"format":1,"root":{"float":"1e999"}}', "bad float"),
    "bad dtype": ('{"format":1,"root":{"dtype":"float128"}}', "unknown dtype"),
    "bad device": ('{"format":1,"root":{"device":"tpu"}}', "bad device"),
    "bad complex": ('{"format":1,"root":{"complex":["a",1]}}', "two numbers"),
    "bad grad flag": ('{"format":1,"root":{"tensor":"t","requires_grad":1}}', "requires_grad"),
    "int grad": ('{"format":1,"root":{"tensor":"i","requires_grad":true}}', "cannot require grad"),
    "unreferenced": ('{"format":1,"root":[{"tensor":"t"}]}', "tensor 'i' is in the file but not in the structure"),
    "deep": ('{"format":1,"root":' + "[" * 300 + "]" * 300 + "}", "nested deeper"),
    "very deep": ('{"format":1,"root":' + "[" * 100000 + "]" * 100000 + "}", "not valid JSON"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_checkpoints_raise_value_error_naming_the_file(tmp_path, name):
    structure, message = MALFORMED[name]
    tensors = {"t": ts.ones(1)} if "tensor" in structure else {}
    if name in ("int grad", "unreferenced"):
        tensors = {"t": ts.ones(1), "i": ts.ones(1, dtype=ts.int32)} if name == "unreferenced" else \
            {"i": ts.ones(1, dtype=ts.int32)}
    path = tmp_path / "bad.safetensors"
    path.write_bytes(checkpoint_file(structure, tensors))
    with pytest.raises(ValueError) as e:
        ts.load(path)
    assert str(e.value).startswith(f"[load] '{path}'") and message in str(e.value)


def test_mutated_structures_load_or_raise_value_error():
    doc = {"format": 1, "root": {"dict": [["a", {"tuple": [1, 2.5, None, True, "s"]}], [3, {"tensor": "t"}],
                                           ["f", {"float": "nan"}], ["c", {"complex": [1, 2]}],
                                           ["d", {"dtype": "int8"}], ["v", {"device": "cpu"}]]}}
    text = json.dumps(doc)
    rng = np.random.default_rng(0)
    replacements = ['[', ']', '{', '}', '"', '1', '-1', '[]', '{}', 'null', 'true', '"x"', '["nan"]', '[[1]]', ',']
    for _ in range(400):
        i = int(rng.integers(len(text)))
        bad = text[:i] + replacements[int(rng.integers(len(replacements)))] + text[i + int(rng.integers(0, 3)):]
        try:
            ts.load(io.BytesIO(checkpoint_file(bad, {"t": ts.ones(1)})))
        except ValueError as e:
            assert str(e).startswith("[load] <file object>")


def test_truncated_checkpoints_raise_value_error_naming_the_file(tmp_path):
    data = save_bytes({"model": {"w": ts.ones(3)}, "epoch": 1})
    path = tmp_path / "t.safetensors"
    for n in range(0, len(data), 7):
        path.write_bytes(data[:n])
        with pytest.raises(ValueError, match=re.escape(f"'{path}'")):
            ts.load(path)


# ---- files from PyTorch ----

def test_torch_zip_files_say_how_to_convert(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/version", b"3\n")
    for src in (path, io.BytesIO(path.read_bytes())):
        with pytest.raises(ValueError) as e:
            ts.load(src)
        msg = str(e.value)
        assert "torch.save" in msg and "never unpickles" in msg and "save_file" in msg and "ts.load" in msg
    assert str(path) in str(pytest.raises(ValueError, ts.load, path).value)


def test_pickle_files_say_how_to_convert(tmp_path):
    path = tmp_path / "legacy.pt"
    path.write_bytes(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")
    with pytest.raises(ValueError, match=r"(?s)is a pickle file .*torch\.save.*save_file") as e:
        ts.load(path)
    assert f"'{path}'" in str(e.value)
    with pytest.raises(ValueError, match="pickle file"):
        ts.load(io.BytesIO(pickle.dumps({"a": 1}, protocol=4)))


def test_numpy_and_other_zip_files_are_named(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(2))
    np.savez(tmp_path / "b.npz", x=np.ones(2))
    with pytest.raises(ValueError, match=r"NumPy \.npy file"):
        ts.load(tmp_path / "a.npy")
    with pytest.raises(ValueError, match=r"NumPy \.npz archive"):
        ts.load(tmp_path / "b.npz")
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="is a zip archive"):
        ts.load(tmp_path / "c.zip")


# ---- pickle and copy ----

PICKLE_CASES = {
    "float32": lambda: ts.arange(12, dtype=ts.float32).reshape(3, 4),
    "transposed": lambda: ts.arange(12, dtype=ts.float64).reshape(3, 4).t(),
    "sliced": lambda: ts.arange(20).reshape(4, 5)[1:, ::2],
    "bfloat16": lambda: ts.tensor([1.5, -2.25, 3.0]).to(ts.bfloat16),
    "float16": lambda: ts.tensor([0.5, 65504.0]).to(ts.float16),
    "complex128": lambda: ts.tensor([1 + 2j, -3j], dtype=ts.complex128),
    "bool": lambda: ts.tensor([True, False]),
    "scalar": lambda: ts.tensor(7, dtype=ts.int8),
    "empty": lambda: ts.zeros(0, 3),
    "requires_grad": lambda: ts.ones(2, 2, requires_grad=True),
}


@pytest.mark.parametrize("name", list(PICKLE_CASES))
def test_pickle_and_deepcopy_preserve_tensors(name):
    t = PICKLE_CASES[name]()
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        u = pickle.loads(pickle.dumps(t, protocol=protocol))
        assert type(u) is ts.Tensor and same(u, t) and u.requires_grad == t.requires_grad and u.is_leaf
    d = copy.deepcopy(t)
    assert same(d, t) and d.requires_grad == t.requires_grad
    before = t.tolist()
    with ts.no_grad():
        d.fill_(5)
    assert t.tolist() == before  # a copy, not a view


def test_pickle_of_a_non_leaf_gives_a_leaf_and_deepcopy_refuses_it():
    x = ts.ones(2, requires_grad=True) * 2
    u = pickle.loads(pickle.dumps(x))
    assert u.is_leaf and u.requires_grad and u.tolist() == [2.0, 2.0]
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x)


def test_deepcopy_copies_grad_and_keeps_shared_references():
    w = ts.ones(2, requires_grad=True)
    w.grad = ts.full((2,), 3.0)
    a, b = copy.deepcopy([w, w])
    assert a is b and a is not w and a.grad.tolist() == [3.0, 3.0] and a.grad is not w.grad


def test_copy_copy_shares_memory_as_pytorch():
    t = ts.zeros(3)
    c = copy.copy(t)
    c[0] = 5  # reference: torch's copy.copy(t) shares t's storage
    assert c is not t and t.tolist() == [5.0, 0.0, 0.0]


class TinyNet(ts.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = ts.nn.Linear(3, 2)
        self.register_buffer("count", ts.tensor([4]))
        self.tag = ("tiny", 1)

    def forward(self, x):
        return self.fc(x) * 2


def test_modules_pickle_and_deepcopy():
    m = TinyNet()
    x = ts.ones(1, 3)
    for new in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert type(new) is TinyNet and new.tag == ("tiny", 1)
        assert isinstance(new.fc.weight, ts.nn.Parameter) and new.fc.weight.requires_grad
        assert new(x).tolist() == m(x).tolist() and new.count.tolist() == [4]
        with ts.no_grad():
            new.fc.weight.fill_(0)
        assert m.fc.weight.abs().sum().item() > 0
        assert [n for n, _ in new.named_parameters()] == ["fc.weight", "fc.bias"]


def test_tied_parameters_stay_tied_through_deepcopy_and_pickle():
    m = ts.nn.Sequential(ts.nn.Linear(2, 2), ts.nn.Linear(2, 2))
    m[1].weight = m[0].weight
    for new in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert new[1].weight is new[0].weight


# ---- random state ----

def test_rng_state_round_trip_and_format():
    ts.manual_seed(123)
    ts.rand(5)
    state = ts.get_rng_state()
    assert state.dtype == ts.uint8 and state.shape == (16,)
    seed, offset = struct.unpack("<QQ", bytes(state.tolist()))
    assert seed == 123 and offset == 5
    a = ts.randn(4)
    ts.set_rng_state(state)
    assert ts.randn(4).tolist() == a.tolist()
    with pytest.raises(TypeError, match="uint8"):
        ts.set_rng_state(state.float())
    with pytest.raises(ValueError, match="16 bytes"):
        ts.set_rng_state(ts.zeros(3, dtype=ts.uint8))
    with pytest.raises(TypeError, match="tessel.Tensor"):
        ts.set_rng_state([0] * 16)


def test_seeding_functions():
    assert ts.manual_seed(7) is ts.default_generator and ts.initial_seed() == 7
    ts.manual_seed(-1)  # reference: torch.manual_seed(-1); torch.initial_seed() == 2**64 - 1
    assert ts.initial_seed() == 2**64 - 1
    ts.manual_seed(2**64 - 1)
    with pytest.raises(ValueError, match=r"\[-2\*\*63, 2\*\*64\)"):
        ts.manual_seed(2**64)
    with pytest.raises(TypeError, match="seed must be an int"):
        ts.manual_seed(1.5)
    s = ts.seed()
    assert isinstance(s, int) and ts.initial_seed() == s
    ts.manual_seed(np.int64(3))
    assert ts.initial_seed() == 3


def test_same_seed_same_numbers_across_ops():
    def draw(g=None):
        kw = {} if g is None else {"generator": g}
        return [ts.rand(3, **kw).tolist(), ts.randn(2, 2, **kw).tolist(), ts.randint(0, 100, (4,), **kw).tolist(),
                ts.randint(10, (2,), **kw).tolist(), ts.randperm(6, **kw).tolist(),
                ts.empty(3).uniform_(-1, 1, **kw).tolist(), ts.empty(3).normal_(2, 0.5, **kw).tolist(),
                ts.bernoulli(ts.full((5,), 0.5), **kw).tolist(), ts.full((4,), 0.3).bernoulli_(0.5, **kw).tolist(),
                ts.multinomial(ts.ones(5), 3, **kw).tolist(), ts.normal(0.0, 1.0, (2,), **kw).tolist(),
                ts.normal(ts.zeros(2), ts.ones(2), **kw).tolist(), ts.uniform_(ts.empty(2), **kw).tolist(),
                ts.rand_like(ts.ones(2), **kw).tolist(), ts.randn_like(ts.ones(2), **kw).tolist()]

    ts.manual_seed(5)
    ref = draw()
    g = ts.Generator().manual_seed(5)
    ts.manual_seed(99)
    before = ts.get_rng_state()
    assert draw(g) == ref  # a Generator seeded alike draws alike ...
    assert ts.get_rng_state().tolist() == before.tolist()  # ... without touching the default stream
    g.manual_seed(5)
    assert draw(g) == ref
    assert draw(g) != ref


def test_generator_api():
    g = ts.Generator()
    assert g.device == ts.device("cpu") and g.initial_seed() == ts.Generator().initial_seed()
    assert g.manual_seed(11) is g and g.initial_seed() == 11
    ts.rand(2, generator=g)
    state = g.get_state()
    a = ts.rand(3, generator=g)
    assert g.set_state(state) is g and ts.rand(3, generator=g).tolist() == a.tolist()
    s = g.seed()
    assert g.initial_seed() == s
    for make in (copy.deepcopy, lambda g: pickle.loads(pickle.dumps(g))):
        clone = make(g)
        assert clone is not g and clone.get_state().tolist() == g.get_state().tolist()
        assert ts.rand(2, generator=clone).tolist() == ts.rand(2, generator=g).tolist()
    assert ts.Generator("cuda:1").device == ts.device("cuda:1")
    with pytest.raises(TypeError, match=r"rand\(\): generator must be a tessel.Generator"):
        ts.rand(2, generator=5)
    with pytest.raises(ValueError, match="16 bytes"):
        g.set_state(ts.zeros(4, dtype=ts.uint8))


def test_normal_forms():
    ts.manual_seed(0)
    out = ts.normal(ts.full((2, 1), 10.0), ts.full((3,), 0.001))
    assert out.shape == (2, 3) and abs(out.mean().item() - 10) < 0.01
    assert ts.normal(3.0, ts.ones(4)).shape == (4,) and ts.normal(ts.ones(4), 2.0).shape == (4,)
    assert ts.normal(0.0, 1.0, (2, 5), dtype=ts.float64).dtype == ts.float64
    mean = ts.zeros(3, requires_grad=True)
    ts.normal(mean, 1.0).sum().backward()
    assert mean.grad.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(TypeError, match="size is required"):
        ts.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="std must be >= 0"):
        ts.normal(ts.zeros(2), -1.0)


def test_fork_rng_restores_the_default_stream():
    ts.manual_seed(1)
    with ts.random.fork_rng():
        ts.rand(10)
    after = ts.rand(2).tolist()
    ts.manual_seed(1)
    assert ts.rand(2).tolist() == after


def test_nn_init_takes_a_generator():
    g = ts.Generator()
    init = ts.nn.init
    fns = [lambda t, g: init.uniform_(t, -1, 1, generator=g), lambda t, g: init.normal_(t, generator=g),
           lambda t, g: init.xavier_uniform_(t, generator=g), lambda t, g: init.xavier_normal_(t, generator=g),
           lambda t, g: init.kaiming_uniform_(t, generator=g), lambda t, g: init.kaiming_normal_(t, generator=g),
           lambda t, g: init.trunc_normal_(t, generator=g), lambda t, g: init.orthogonal_(t, generator=g)]
    for fn in fns:
        g.manual_seed(4)
        a = fn(ts.empty(3, 4), g).tolist()
        ts.manual_seed(0)
        g.manual_seed(4)
        assert fn(ts.empty(3, 4), g).tolist() == a


# ---- optimizer and scheduler state through a checkpoint ----

def make_optimizers(params):
    O = ts.optim
    return [O.SGD(params, lr=0.1, momentum=0.9, nesterov=True), O.Adam(params, lr=0.01, amsgrad=True),
            O.AdamW(params, lr=0.01), O.RMSprop(params, lr=0.01, momentum=0.5, centered=True)]


@pytest.mark.parametrize("index", range(4))
def test_optimizer_state_round_trips_through_a_checkpoint(index):
    def run(steps, resume_from=None):
        ts.manual_seed(0)
        m = ts.nn.Linear(4, 3)
        opt = make_optimizers(list(m.parameters()))[index]
        if resume_from is not None:
            ckpt = ts.load(io.BytesIO(resume_from))
            m.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optim"])
        x = ts.arange(8.0).reshape(2, 4) / 8
        for _ in range(steps):
            opt.zero_grad()
            (m(x) ** 2).sum().backward()
            opt.step()
        return m, opt

    full, _ = run(6)
    m, opt = run(3)
    sd = opt.state_dict()
    back = ts.load(io.BytesIO(save_bytes({"model": m.state_dict(), "optim": sd})))["optim"]
    assert back["param_groups"] == sd["param_groups"] and list(back["state"]) == list(sd["state"])
    resumed, _ = run(3, save_bytes({"model": m.state_dict(), "optim": sd}))
    assert resumed.weight.tolist() == full.weight.tolist() and resumed.bias.tolist() == full.bias.tolist()


SCHEDULERS = {
    "StepLR": lambda o: ts.optim.lr_scheduler.StepLR(o, 2, gamma=0.5),
    "MultiStepLR": lambda o: ts.optim.lr_scheduler.MultiStepLR(o, [2, 2, 5]),
    "CosineAnnealingLR": lambda o: ts.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7),
    "ExponentialLR": lambda o: ts.optim.lr_scheduler.ExponentialLR(o, 0.9),
    "ReduceLROnPlateau": lambda o: ts.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_state_round_trips_through_a_checkpoint(name):
    def fresh():
        return SCHEDULERS[name](ts.optim.SGD([ts.zeros(1, requires_grad=True)], lr=1.0))

    def step(s, i):
        s.step(float(10 - i % 3)) if name == "ReduceLROnPlateau" else s.step()

    ref = fresh()
    lrs = []
    for i in range(8):
        step(ref, i)
        lrs.append(ref.optimizer.param_groups[0]["lr"])
    s = fresh()
    for i in range(4):
        step(s, i)
    ckpt = ts.load(io.BytesIO(save_bytes({"sched": s.state_dict(), "optim": s.optimizer.state_dict()})))
    t = fresh()
    t.optimizer.load_state_dict(ckpt["optim"])
    t.load_state_dict(ckpt["sched"])
    assert t.state_dict() == s.state_dict()
    if name == "MultiStepLR":
        assert isinstance(t.milestones, Counter)
    for i in range(4, 8):
        step(t, i)
        assert t.optimizer.param_groups[0]["lr"] == lrs[i]


# ---- the resume test ----

class MLP(ts.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = ts.nn.Linear(6, 16)
        self.drop = ts.nn.Dropout(0.3)
        self.fc2 = ts.nn.Linear(16, 2)

    def forward(self, x):
        return self.fc2(self.drop(ts.relu(self.fc1(x))))


def build():
    m = MLP()
    opt = ts.optim.Adam(m.parameters(), lr=0.01)
    sched = ts.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    step = ts.optim.lr_scheduler.StepLR(opt, 3, gamma=0.5)
    return m, opt, sched, step


def train(m, opt, scheds, epochs, data):
    x, y = data
    for _ in range(epochs):
        for i in range(0, 32, 8):
            opt.zero_grad()
            noise = ts.randn(8, 6) * 0.01  # the RNG matters beyond dropout too
            loss = ts.nn.functional.mse_loss(m(x[i:i + 8] + noise), y[i:i + 8])
            loss.backward()
            opt.step()
        for s in scheds:
            s.step()


@pytest.mark.parametrize("k", [1, 4])
def test_training_resumes_exactly_from_a_checkpoint(tmp_path, k):
    n = 6
    ts.manual_seed(2024)
    data = (ts.randn(32, 6), ts.randn(32, 2))

    ts.manual_seed(0)
    m, opt, sched, step = build()
    train(m, opt, (sched, step), n, data)

    ts.manual_seed(0)
    a, opt_a, sched_a, step_a = build()
    train(a, opt_a, (sched_a, step_a), k, data)
    path = tmp_path / "ckpt.safetensors"
    ts.save({"model": a.state_dict(), "optim": opt_a.state_dict(), "sched": sched_a.state_dict(),
             "step": step_a.state_dict(), "epoch": k, "rng": ts.get_rng_state()}, path)
    del a, opt_a, sched_a, step_a

    ts.manual_seed(777)  # the fresh objects start from other weights and another RNG state
    b, opt_b, sched_b, step_b = build()
    ckpt = ts.load(path)
    b.load_state_dict(ckpt["model"])
    opt_b.load_state_dict(ckpt["optim"])
    sched_b.load_state_dict(ckpt["sched"])
    step_b.load_state_dict(ckpt["step"])
    ts.set_rng_state(ckpt["rng"])
    train(b, opt_b, (sched_b, step_b), n - ckpt["epoch"], data)

    for (name, p), (_, q) in zip(m.state_dict().items(), b.state_dict().items()):
        assert np.asarray(p).tobytes() == np.asarray(q).tobytes(), name
    assert opt_b.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert sched_b.state_dict() == sched.state_dict()
