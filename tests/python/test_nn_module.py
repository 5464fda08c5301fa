"""ts.nn: Module registration, state_dict, repr, containers, hooks, dtype
conversion, init, and layer forwards against NumPy re-implementations of
PyTorch's definitions (no torch needed)."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import tessel as ts
from tessel import nn
from tessel.nn import init


def npy(t):
    """A tensor or Parameter as a float64 NumPy array (a copy)."""
    return np.array(t.detach().tolist(), dtype=np.float64)


def tensor64(a):
    return ts.tensor(np.asarray(a, dtype=np.float64))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2, bias=False)
        self.scale = nn.Parameter(ts.ones(1))
        self.register_buffer("steps", ts.zeros(1))
        self.register_buffer("cache", ts.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc2(self.bn(self.fc1(x))) * self.scale


# ----- registration ------------------------------------------------------------

def test_registration_by_assignment():
    m = Net()
    assert list(m._parameters) == ["scale"]
    assert list(m._modules) == ["fc1", "bn", "fc2"]
    assert list(m._buffers) == ["steps", "cache"]
    # attribute access is the instance dict, kept in sync with the registries
    assert m.__dict__["fc1"] is m._modules["fc1"] is m.fc1
    assert m.__dict__["scale"] is m._parameters["scale"]
    assert m.fc2.bias is None and "bias" in m.fc2._parameters
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight"]
    assert [n for n, _ in m.named_buffers()] == [
        "steps", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in m.named_children()] == ["fc1", "bn", "fc2"]
    assert [n for n, _ in m.named_modules()] == ["", "fc1", "bn", "fc2"]
    assert [n for n, _ in m.named_parameters(prefix="net", recurse=False)] == ["net.scale"]
    assert len(list(m.parameters())) == 6 and len(list(m.modules())) == 4


def test_reassign_and_delete_keep_registries_in_sync():
    m = Net()
    new = nn.Linear(4, 3)
    m.fc1 = new
    assert m._modules["fc1"] is new and m.fc1 is new
    m.fc1 = None
    assert m._modules["fc1"] is None and m.fc1 is None
    p = nn.Parameter(ts.zeros(2))
    m.scale = p
    assert m._parameters["scale"] is p
    m.scale = None
    assert m._parameters["scale"] is None and m.scale is None
    with pytest.raises(TypeError, match="cannot assign"):
        m.scale = ts.zeros(2)  # a plain tensor can't replace a parameter
    buf = ts.ones(1)
    m.steps = buf
    assert m._buffers["steps"] is buf and m.steps is buf
    with pytest.raises(TypeError):
        m.steps = 3
    with pytest.raises(TypeError):
        m.scale = nn.Identity()  # as PyTorch: only a Parameter or None over a parameter
    del m.fc2
    assert "fc2" not in m._modules and not hasattr(m, "fc2")
    m.steps = nn.Identity()  # a module over a buffer name moves it between registries
    assert "steps" not in m._buffers and m._modules["steps"] is m.steps
    del m.steps
    assert "steps" not in m._modules and not hasattr(m, "steps")
    m.plain = 3
    assert m.plain == 3 and "plain" not in m._parameters
    del m.plain
    assert not hasattr(m, "plain")


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError):
        m.register_buffer("", ts.zeros(1))
    with pytest.raises(TypeError):
        m.register_parameter("w", ts.zeros(1))
    with pytest.raises(TypeError):
        m.register_buffer("b", [1, 2])
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", ts.zeros(1))
    with pytest.raises(TypeError):
        m.add_module("c", 3)

    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ts.zeros(1))

    with pytest.raises(AttributeError, match="__init__"):
        NoInit()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_attribute_access_is_a_plain_lookup():
    # no Module.__getattr__: CPython keeps attribute loads on modules specialized
    assert "__getattr__" not in vars(nn.Module)
    m = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope


def test_instance_forward_override_is_called():
    m = nn.Identity()
    x = ts.tensor([1.0])
    m.forward = lambda t: t + 1
    assert npy(m(x)).tolist() == [2.0]
    h = m.register_forward_hook(lambda mod, args, out: out * 10)
    assert npy(m(x)).tolist() == [20.0]
    h.remove()
    assert npy(m(x)).tolist() == [2.0]
    del m.forward
    assert m(x) is x

    class Triple:
        def forward(self, t):
            return t * 3

    class Mixed(Triple, nn.Module):
        pass

    assert npy(Mixed()(x)).tolist() == [3.0]  # a mixin's forward is found through the MRO


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(m.parameters())) == 2
    assert len(list(m.modules())) == 3
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 4


def test_get_submodule_and_parameter():
    m = nn.Sequential(OrderedDict(enc=nn.Sequential(nn.Linear(2, 2)), head=nn.Linear(2, 1)))
    assert m.get_submodule("enc.0") is m.enc[0]
    assert m.get_parameter("head.bias") is m.head.bias
    with pytest.raises(AttributeError):
        m.get_submodule("enc.5")


# ----- train / eval, requires_grad_, zero_grad, apply ------------------------

def test_train_eval_propagate():
    m = Net()
    assert m.training and m.bn.training
    assert m.eval() is m
    assert not m.training and not m.bn.training and not m.fc1.training
    m.train()
    assert all(mod.training for mod in m.modules())
    with pytest.raises(ValueError):
        m.train("yes")


def test_requires_grad_and_zero_grad():
    m = nn.Linear(3, 2)
    assert all(p.requires_grad for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    for p in m.parameters():
        p.grad = ts.ones(*p.shape)
    m.zero_grad(set_to_none=False)
    assert all(npy(p.grad).sum() == 0 for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_apply_visits_children_first():
    m = Net()
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen == ["Linear", "BatchNorm1d", "Linear", "Net"]


# ----- dtype conversion --------------------------------------------------------

def test_to_dtype_converts_floating_tensors_and_keeps_identity():
    m = Net()
    w = m.fc1.weight
    before = npy(w)
    assert m.double() is m
    assert m.fc1.weight is w and w.dtype == ts.float64
    np.testing.assert_allclose(npy(w), before)
    assert m.bn.running_mean.dtype == ts.float64 and m.steps.dtype == ts.float64
    assert m.bn.num_batches_tracked.dtype == ts.int64  # integer buffers keep their dtype
    assert m._buffers["steps"] is m.steps  # buffers replaced in both places
    m.to(ts.float32)
    assert all(p.dtype == ts.float32 for p in m.parameters())
    m.to(dtype=ts.float64)
    assert m.fc2.weight.dtype == ts.float64
    m.float()
    assert m.fc2.weight.dtype == ts.float32
    with pytest.raises(TypeError, match="floating point"):
        m.to(ts.int32)


# ----- state_dict --------------------------------------------------------------

def test_state_dict_keys_and_aliasing():
    m = Net()
    sd = m.state_dict()
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "bn.running_mean",
                        "bn.running_var", "bn.num_batches_tracked", "fc2.weight"]
    assert "cache" not in sd  # non-persistent buffer
    assert not isinstance(sd["fc1.weight"], nn.Parameter)
    init.constant_(m.fc1.weight, 2.0)
    assert npy(sd["fc1.weight"]).max() == 2.0  # detached aliases share memory
    assert isinstance(m.state_dict(keep_vars=True)["fc1.weight"], nn.Parameter)


def test_load_state_dict_roundtrip():
    a, b = Net(), Net()
    sd = {k: v.clone() for k, v in a.state_dict().items()}
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert str(result) == "<All keys matched successfully>"
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(npy(v), npy(sd[k]))
    # loading copies: changing the source afterwards leaves the model alone
    init.zeros_(sd["fc1.weight"])
    assert np.abs(npy(b.fc1.weight)).sum() > 0


def test_load_state_dict_strict_errors():
    m = Net()
    sd = m.state_dict()
    del sd["fc1.bias"]
    sd["extra"] = ts.zeros(1)
    sd["fc1.other"] = ts.zeros(1)
    with pytest.raises(RuntimeError) as err:
        m.load_state_dict(sd)
    msg = str(err.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "fc1.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "extra", "fc1.other".' in msg
    missing, unexpected = m.load_state_dict(sd, strict=False)
    assert missing == ["fc1.bias"] and unexpected == ["extra", "fc1.other"]


def test_load_state_dict_shape_mismatch_raises_even_when_not_strict():
    m = nn.Linear(3, 2)
    sd = {"weight": ts.zeros(2, 4), "bias": ts.zeros(2)}
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with shape \(2, 4\) "
                                               r"from checkpoint, the shape in current model is \(2, 3\)"):
            m.load_state_dict(sd, strict=strict)
    with pytest.raises(TypeError):
        m.load_state_dict([("weight", ts.zeros(2, 3))])


def test_load_state_dict_without_num_batches_tracked():
    bn = nn.BatchNorm1d(3)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    assert bn.load_state_dict(sd).missing_keys == []  # as PyTorch, for old checkpoints


def test_load_state_dict_casts_to_the_model_dtype():
    m = nn.Linear(2, 2)
    sd = {"weight": tensor64([[1, 2], [3, 4]]), "bias": tensor64([5, 6])}
    m.load_state_dict(sd)
    assert m.weight.dtype == ts.float32
    np.testing.assert_array_equal(npy(m.weight), [[1, 2], [3, 4]])


def test_deepcopy_clones_parameters_and_buffers():
    m = Net()
    c = copy.deepcopy(m)
    assert c.fc1.weight is not m.fc1.weight and isinstance(c.fc1.weight, nn.Parameter)
    assert c.fc1._parameters["weight"] is c.fc1.weight  # registries and __dict__ stay one object
    assert c.bn.running_mean is not m.bn.running_mean
    np.testing.assert_array_equal(npy(c.fc1.weight), npy(m.fc1.weight))
    init.zeros_(c.fc1.weight)
    assert np.abs(npy(m.fc1.weight)).sum() > 0


# ----- repr ---------------------------------------------------------------------

@pytest.mark.parametrize("make, expected", [
    (lambda: nn.Linear(64, 128), "Linear(in_features=64, out_features=128, bias=True)"),
    (lambda: nn.Linear(3, 4, bias=False), "Linear(in_features=3, out_features=4, bias=False)"),
    (lambda: nn.Conv2d(3, 16, 3), "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1))"),
    (lambda: nn.Conv2d(3, 16, (3, 5), stride=2, padding=1, bias=False),
     "Conv2d(3, 16, kernel_size=(3, 5), stride=(2, 2), padding=(1, 1), bias=False)"),
    (lambda: nn.Conv2d(4, 8, 3, padding="same", dilation=2, groups=2),
     "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), groups=2)"),
    (lambda: nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
     "Conv2d(1, 1, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), padding_mode=reflect)"),
    (lambda: nn.Conv1d(2, 4, 5), "Conv1d(2, 4, kernel_size=(5,), stride=(1,))"),
    (lambda: nn.ConvTranspose2d(8, 4, 2, stride=2, output_padding=1),
     "ConvTranspose2d(8, 4, kernel_size=(2, 2), stride=(2, 2), output_padding=(1, 1))"),
    (lambda: nn.BatchNorm2d(16), "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"),
    (lambda: nn.BatchNorm1d(4, affine=False, momentum=None),
     "BatchNorm1d(4, eps=1e-05, momentum=None, affine=False, track_running_stats=True)"),
    (lambda: nn.LayerNorm(64), "LayerNorm((64,), eps=1e-05, elementwise_affine=True)"),
    (lambda: nn.GroupNorm(2, 8), "GroupNorm(2, 8, eps=1e-05, affine=True)"),
    (lambda: nn.Dropout(), "Dropout(p=0.5, inplace=False)"),
    (lambda: nn.Embedding(10, 3, padding_idx=0), "Embedding(10, 3, padding_idx=0)"),
    (lambda: nn.Embedding(10, 3), "Embedding(10, 3)"),
    (lambda: nn.MaxPool2d(2), "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"),
    (lambda: nn.AvgPool2d(3, 2, 1), "AvgPool2d(kernel_size=3, stride=2, padding=1)"),
    (lambda: nn.AdaptiveAvgPool2d((1, 1)), "AdaptiveAvgPool2d(output_size=(1, 1))"),
    (lambda: nn.Flatten(), "Flatten(start_dim=1, end_dim=-1)"),
    (lambda: nn.Unflatten(1, (2, 5)), "Unflatten(dim=1, unflattened_size=(2, 5))"),
    (lambda: nn.Identity(), "Identity()"),
    (lambda: nn.ReLU(), "ReLU()"),
    (lambda: nn.ReLU(inplace=True), "ReLU(inplace=True)"),
    (lambda: nn.GELU(), "GELU(approximate='none')"),
    (lambda: nn.GELU("tanh"), "GELU(approximate='tanh')"),
    (lambda: nn.SiLU(), "SiLU()"),
    (lambda: nn.Sigmoid(), "Sigmoid()"),
    (lambda: nn.Tanh(), "Tanh()"),
    (lambda: nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)"),
    (lambda: nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda: nn.ELU(), "ELU(alpha=1.0)"),
    (lambda: nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)"),
    (lambda: nn.Softmax(dim=-1), "Softmax(dim=-1)"),
    (lambda: nn.LogSoftmax(1), "LogSoftmax(dim=1)"),
    (lambda: nn.CrossEntropyLoss(), "CrossEntropyLoss()"),
    (lambda: nn.MSELoss(), "MSELoss()"),
    (lambda: nn.LSTM(10, 20), "LSTM(10, 20)"),
    (lambda: nn.LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.5, bidirectional=True),
     "LSTM(10, 20, num_layers=2, batch_first=True, dropout=0.5, bidirectional=True)"),
    (lambda: nn.GRU(3, 4, bias=False), "GRU(3, 4, bias=False)"),
    (lambda: nn.Sequential(), "Sequential()"),
    (lambda: nn.ModuleList(), "ModuleList()"),
])
def test_repr(make, expected):
    assert repr(make()) == expected


def test_repr_nested():
    m = nn.Sequential(nn.Linear(2, 4), nn.Sequential(nn.ReLU(), nn.Dropout(0.1)), nn.Linear(4, 1))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        "  (2): Linear(in_features=4, out_features=1, bias=True)\n"
        ")")


def test_repr_custom_module_and_module_list_runs():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(3)] + [nn.ReLU()])

        def extra_repr(self):
            return "depth=3"

    assert repr(Block()) == (
        "Block(\n"
        "  depth=3\n"
        "  (layers): ModuleList(\n"
        "    (0-2): 3 x Linear(in_features=8, out_features=8, bias=True)\n"
        "    (3): ReLU()\n"
        "  )\n"
        ")")


def test_repr_multihead_attention_and_encoder():
    mha = nn.MultiheadAttention(8, 2)
    assert repr(mha) == (
        "MultiheadAttention(\n"
        "  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
        ")")
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, dim_feedforward=16), 2)
    text = repr(enc)
    assert text.startswith("TransformerEncoder(\n  (layers): ModuleList(\n    (0-1): 2 x TransformerEncoderLayer(\n")
    assert "(linear1): Linear(in_features=8, out_features=16, bias=True)" in text
    assert "(norm2): LayerNorm((8,), eps=1e-05, elementwise_affine=True)" in text


# ----- containers --------------------------------------------------------------

def test_sequential_indexing_slicing_and_editing():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    m = nn.Sequential(*layers)
    assert len(m) == 3 and m[0] is layers[0] and m[-1] is layers[2]
    assert list(m) == layers
    head = m[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    with pytest.raises(IndexError):
        m[3]
    m.append(nn.Sigmoid())
    assert len(m) == 4 and isinstance(m[3], nn.Sigmoid) and m._modules["3"] is m[3]
    del m[1]
    assert [type(x).__name__ for x in m] == ["Linear", "Linear", "Sigmoid"]
    assert list(m._modules) == ["0", "1", "2"] and m.__dict__["1"] is m[1]
    m.insert(1, nn.Tanh())
    assert [type(x).__name__ for x in m] == ["Linear", "Tanh", "Linear", "Sigmoid"]
    m[1] = nn.ReLU()
    assert isinstance(m[1], nn.ReLU)
    assert isinstance(m.pop(-1), nn.Sigmoid) and len(m) == 3
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert named.enc is named[0] and list(named._modules) == ["enc", "act"]
    assert len(m + named) == 5


def test_sequential_forward_chains():
    m = nn.Sequential(nn.Flatten(), nn.Identity(), nn.Unflatten(1, (3, 2)))
    out = m(ts.zeros(4, 2, 3))
    assert tuple(out.shape) == (4, 3, 2)


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert len(ml) == 6 and isinstance(ml[-1], nn.Sigmoid)
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    del ml[0]
    assert list(ml._modules) == [str(i) for i in range(5)]
    owner = nn.Module()
    owner.blocks = ml
    assert [n for n, _ in owner.named_parameters()] == ["blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                                         "blocks.1.bias"]
    md = nn.ModuleDict({"a": nn.Linear(1, 2), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert md["a"] is md.a
    del md["b"]
    assert "b" not in md and not hasattr(md, "b")
    assert isinstance(md.pop("c"), nn.Tanh)
    md.update([("d", nn.Identity())])
    assert list(md) == ["a", "d"]
    with pytest.raises(KeyError):
        md["keys"] = nn.ReLU()  # would shadow the method, as PyTorch refuses


# ----- hooks -------------------------------------------------------------------

def test_forward_hooks():
    m = nn.Identity()
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
    h3 = m.register_forward_hook(lambda mod, args, out: calls.append(npy(out).tolist()))
    x = ts.tensor([1.0, 2.0])
    assert npy(m(x)).tolist() == [3.0, 5.0]
    assert calls == [[3.0, 5.0]]
    h1.remove()
    assert npy(m(x)).tolist() == [2.0, 3.0]
    h2.remove()
    h3.remove()
    assert "_call" not in m.__dict__  # back on the hook-free path
    assert m(x) is x
    h = m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 0,), kwargs), with_kwargs=True)
    assert npy(m(x)).tolist() == [0.0, 0.0]
    h.remove()
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    m(x)
    assert order == ["b", "a"]


# ----- Parameter (needs ts.Tensor(t) from the C++ side) -------------------------------

def test_parameter():
    t = ts.zeros(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, ts.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad is None
    assert tuple(p.shape) == (2, 3) and p.dtype == ts.float32
    t.fill_(1.0)
    assert npy(p).sum() == 6.0  # shares memory with data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([[1., 1., 1.],")
    assert tuple(nn.Parameter().shape) == (0,)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q is not p and q.requires_grad


# ----- default initialization -------------------------------------------------------

def check_uniform(t, bound, tol=0.03):
    a = npy(t).ravel()
    assert a.min() >= -bound - 1e-7 and a.max() <= bound + 1e-7
    assert abs(a.mean()) < tol * bound * 3
    assert abs(a.std() - bound / math.sqrt(3)) < tol * bound


def test_linear_and_conv_default_init():
    ts.manual_seed(0)
    lin = nn.Linear(400, 300)
    check_uniform(lin.weight, 1 / math.sqrt(400))
    check_uniform(lin.bias, 1 / math.sqrt(400), tol=0.1)
    conv = nn.Conv2d(16, 64, 5)
    assert tuple(conv.weight.shape) == (64, 16, 5, 5)
    check_uniform(conv.weight, 1 / math.sqrt(16 * 25))
    convt = nn.ConvTranspose2d(16, 32, 3, groups=2)
    assert tuple(convt.weight.shape) == (16, 16, 3, 3)
    # PyTorch's fan_in of a transposed conv weight is its dim 1 times the kernel
    check_uniform(convt.weight, 1 / math.sqrt(16 * 9))
    assert tuple(nn.Conv1d(4, 6, 3, groups=2).weight.shape) == (6, 2, 3)


def test_other_default_inits():
    ts.manual_seed(0)
    emb = nn.Embedding(1000, 64, padding_idx=3)
    w = npy(emb.weight)
    assert np.all(w[3] == 0)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4
    lstm = nn.LSTM(30, 50, num_layers=2, bidirectional=True)
    for p in lstm.parameters():
        assert np.abs(npy(p)).max() <= 1 / math.sqrt(50) + 1e-7
    check_uniform(lstm.weight_hh_l1_reverse, 1 / math.sqrt(50))
    bn = nn.BatchNorm2d(5)
    assert npy(bn.weight).tolist() == [1] * 5 and npy(bn.bias).tolist() == [0] * 5
    assert npy(bn.running_var).tolist() == [1] * 5 and int(bn.num_batches_tracked.item()) == 0
    ln = nn.LayerNorm((2, 3))
    assert tuple(ln.weight.shape) == (2, 3) and npy(ln.weight).min() == 1
    assert nn.LayerNorm(4, bias=False).bias is None
    mha = nn.MultiheadAttention(64, 4)
    assert tuple(mha.in_proj_weight.shape) == (192, 64) and np.all(npy(mha.in_proj_bias) == 0)
    assert np.all(npy(mha.out_proj.bias) == 0)
    check_uniform(mha.in_proj_weight, math.sqrt(6 / (64 + 192)))  # xavier_uniform on (3E, E)


def test_layer_argument_errors():
    with pytest.raises(ValueError):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        nn.Conv2d(3, 3, 3, padding="full")
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
    with pytest.raises(ValueError):
        nn.GroupNorm(3, 8)
    with pytest.raises(ValueError):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")


# ----- init -------------------------------------------------------------------------

def test_fan_in_and_fan_out():
    assert init._calculate_fan_in_and_fan_out(ts.empty(5, 3)) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(ts.empty(16, 3, 5, 5)) == (75, 400)
    assert init._calculate_fan_in_and_fan_out(ts.empty(8, 4, 7)) == (28, 56)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(ts.empty(5))
    with pytest.raises(ValueError):
        init.kaiming_uniform_(ts.empty(3, 3), mode="fan_avg")


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError):
        init.calculate_gain("swish")
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", True)


def test_init_distributions():
    ts.manual_seed(1)
    t = ts.empty(500, 400)
    assert init.uniform_(t, -2, 3) is t
    a = npy(t)
    assert a.min() >= -2 and a.max() <= 3 and abs(a.mean() - 0.5) < 0.02
    a = npy(init.normal_(t, 1.0, 2.0))
    assert abs(a.mean() - 1) < 0.02 and abs(a.std() - 2) < 0.02
    std = math.sqrt(2 / 900)
    a = npy(init.xavier_uniform_(t, gain=2.0))
    assert np.abs(a).max() <= 2 * math.sqrt(3) * std + 1e-6 and abs(a.std() - 2 * std) < 0.02 * std
    a = npy(init.xavier_normal_(t))
    assert abs(a.std() - std) < 0.02 * std
    a = npy(init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    assert abs(a.std() - math.sqrt(2 / 500)) < 0.02 * math.sqrt(2 / 500)
    a = npy(init.kaiming_uniform_(t, nonlinearity="relu"))
    bound = math.sqrt(3) * math.sqrt(2 / 400)
    assert np.abs(a).max() <= bound + 1e-6 and abs(a.std() - bound / math.sqrt(3)) < 0.02 * bound
    a = npy(init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=2.0))
    assert a.min() >= -1.0 and a.max() <= 2.0
    # the truncated normal's mean: mu + sigma (phi(alpha) - phi(beta)) / Z, with alpha=-1.5, beta=1.5: 0.5
    assert abs(a.mean() - 0.5) < 0.01
    # its variance: 1 + (alpha phi(alpha) - beta phi(beta)) / Z
    phi = math.exp(-1.5 ** 2 / 2) / math.sqrt(2 * math.pi)
    z = math.erf(1.5 / math.sqrt(2))
    assert abs(a.var() - (1 - 2 * 1.5 * phi / z)) < 0.01
    assert npy(init.constant_(t, 0.25)).min() == 0.25
    assert npy(init.zeros_(t)).max() == 0 and npy(init.ones_(t)).min() == 1
    e = ts.empty(3, 4)
    np.testing.assert_array_equal(npy(init.eye_(e)), np.eye(3, 4))
    with pytest.raises(ValueError):
        init.eye_(ts.empty(2, 2, 2))


def test_orthogonal_init():
    ts.manual_seed(2)
    for shape in [(6, 4), (4, 6), (3, 2, 2)]:
        t = init.orthogonal_(ts.empty(*shape), gain=2.0)
        a = npy(t).reshape(shape[0], -1)
        gram = a.T @ a if shape[0] >= a.shape[1] else a @ a.T
        np.testing.assert_allclose(gram, 4 * np.eye(gram.shape[0]), atol=1e-5)


def test_init_on_parameters_does_not_need_grad_mode():
    lin = nn.Linear(3, 3)
    init.xavier_uniform_(lin.weight)
    init.zeros_(lin.bias)
    assert lin.weight.requires_grad and lin.weight.is_leaf


# ----- recurrent layers against NumPy -------------------------------------------------

def np_rnn(mode, x, P, num_layers, bidirectional, hidden, h0, c0):
    """Stacked (bi)directional RNN/LSTM/GRU on (L, N, F) input, written from PyTorch's equations."""
    D = 2 if bidirectional else 1
    L = x.shape[0]
    inp, hs, cs = x, [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            sfx = "_reverse" if d else ""
            w_ih, w_hh = P[f"weight_ih_l{layer}{sfx}"], P[f"weight_hh_l{layer}{sfx}"]
            b_ih = P.get(f"bias_ih_l{layer}{sfx}", 0.0)
            b_hh = P.get(f"bias_hh_l{layer}{sfx}", 0.0)
            h, c = h0[layer * D + d], c0[layer * D + d]
            out = np.zeros((L, x.shape[1], hidden))
            for t in (range(L - 1, -1, -1) if d else range(L)):
                gi = inp[t] @ w_ih.T + b_ih
                gh = h @ w_hh.T + b_hh
                if mode == "LSTM":
                    i, f, g, o = np.split(gi + gh, 4, axis=1)
                    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
                    h = sigmoid(o) * np.tanh(c)
                elif mode == "GRU":
                    ir, iz, in_ = np.split(gi, 3, axis=1)
                    hr, hz, hn = np.split(gh, 3, axis=1)
                    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
                    n = np.tanh(in_ + r * hn)
                    h = (1 - z) * n + z * h
                else:
                    h = np.tanh(gi + gh)
                out[t] = h
            outs.append(out)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hs), np.stack(cs)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("num_layers, bidirectional, batch_first, bias, with_state", [
    (1, False, False, True, False),
    (2, False, True, True, True),
    (1, True, False, True, True),
    (2, True, True, False, False),
])
def test_recurrent_forward_matches_numpy(mode, num_layers, bidirectional, batch_first, bias, with_state):
    ts.manual_seed(3)
    L, N, F_, H = 5, 3, 4, 6
    cls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN": nn.RNN}[mode]
    m = cls(F_, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias,
            dtype=ts.float64)
    expected_names = []
    for layer in range(num_layers):
        for sfx in (["", "_reverse"] if bidirectional else [""]):
            expected_names += [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}"]
            if bias:
                expected_names += [f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
    assert [n for n, _ in m.named_parameters()] == expected_names
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode]
    assert tuple(m.weight_ih_l0.shape) == (gates * H, F_)
    if num_layers > 1:
        assert tuple(m.weight_ih_l1.shape) == (gates * H, H * (2 if bidirectional else 1))
    P = {n: npy(p) for n, p in m.named_parameters()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((L, N, F_))
    D = 2 if bidirectional else 1
    h0 = rng.standard_normal((num_layers * D, N, H)) if with_state else np.zeros((num_layers * D, N, H))
    c0 = rng.standard_normal((num_layers * D, N, H)) if with_state else np.zeros((num_layers * D, N, H))
    ref_out, ref_h, ref_c = np_rnn("RNN_TANH" if mode == "RNN" else mode, x, P, num_layers, bidirectional, H,
                                   h0, c0)
    xin = x.transpose(1, 0, 2) if batch_first else x
    hx = None
    if with_state:
        hx = (tensor64(h0), tensor64(c0)) if mode == "LSTM" else tensor64(h0)
    out, state = m(tensor64(xin), hx)
    got = npy(out)
    if batch_first:
        got = got.transpose(1, 0, 2)
    np.testing.assert_allclose(got, ref_out, rtol=1e-10, atol=1e-12)
    if mode == "LSTM":
        h_n, c_n = state
        np.testing.assert_allclose(npy(c_n), ref_c, rtol=1e-10, atol=1e-12)
    else:
        h_n = state
    np.testing.assert_allclose(npy(h_n), ref_h, rtol=1e-10, atol=1e-12)


def test_recurrent_unbatched_input_and_errors():
    ts.manual_seed(4)
    m = nn.GRU(3, 2, dtype=ts.float64)
    x = np.random.default_rng(1).standard_normal((4, 3))
    out, h = m(tensor64(x))
    assert tuple(out.shape) == (4, 2) and tuple(h.shape) == (1, 2)
    ref, ref_h, _ = np_rnn("GRU", x[:, None, :], {n: npy(p) for n, p in m.named_parameters()}, 1, False, 2,
                           np.zeros((1, 1, 2)), np.zeros((1, 1, 2)))
    np.testing.assert_allclose(npy(out), ref[:, 0], rtol=1e-10)
    np.testing.assert_allclose(npy(h), ref_h[:, 0], rtol=1e-10)
    with pytest.raises(RuntimeError, match="input_size"):
        m(ts.zeros(4, 1, 5, dtype=ts.float64))
    with pytest.raises(RuntimeError, match="hidden size"):
        m(ts.zeros(4, 1, 3, dtype=ts.float64), ts.zeros(2, 1, 2, dtype=ts.float64))
    lstm = nn.LSTM(3, 2)
    assert len(lstm.all_weights) == 1 and len(lstm.all_weights[0]) == 4
    with pytest.warns(UserWarning, match="dropout"):
        nn.LSTM(3, 2, dropout=0.5)


# ----- attention against NumPy ------------------------------------------------------------

def np_mha(q, k, v, P, H, mask=None, kdim_split=False):
    """Batch-first (N, L, E) multi-head attention from PyTorch's definition; mask is additive (N|1, H|1, L, S)."""
    E = q.shape[-1]
    hd = E // H
    if kdim_split:
        wq, wk, wv = P["q_proj_weight"], P["k_proj_weight"], P["v_proj_weight"]
    else:
        wq, wk, wv = np.split(P["in_proj_weight"], 3)
    bq, bk, bv = np.split(P["in_proj_bias"], 3)

    def heads(t):
        return t.reshape(t.shape[0], t.shape[1], H, hd).transpose(0, 2, 1, 3)

    Q, K, V = heads(q @ wq.T + bq), heads(k @ wk.T + bk), heads(v @ wv.T + bv)
    scores = Q @ K.transpose(0, 1, 3, 2) / math.sqrt(hd)
    if mask is not None:
        scores = scores + mask
    w = softmax(scores)
    out = (w @ V).transpose(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], E)
    return out @ P["out_proj.weight"].T + P["out_proj.bias"], w


def randomized_mha(*args, **kwargs):
    m = nn.MultiheadAttention(*args, dtype=ts.float64, **kwargs)
    for p in m.parameters():  # non-zero biases so that every term is checked
        init.uniform_(p, -0.5, 0.5)
    return m, {n: npy(p) for n, p in m.named_parameters()}


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_self_attention_matches_numpy(batch_first, need_weights):
    ts.manual_seed(5)
    m, P = randomized_mha(8, 2, batch_first=batch_first)
    assert [n for n, _ in m.named_parameters()] == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                                    "out_proj.bias"]
    x = np.random.default_rng(2).standard_normal((3, 5, 8))
    ref, w = np_mha(x, x, x, P, 2)
    t = tensor64(x if batch_first else x.transpose(1, 0, 2))
    out, weights = m(t, t, t, need_weights=need_weights)
    got = npy(out) if batch_first else npy(out).transpose(1, 0, 2)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    if need_weights:
        np.testing.assert_allclose(npy(weights), w.mean(1), rtol=1e-9, atol=1e-12)
    else:
        assert weights is None


def test_multihead_attention_masks_and_per_head_weights():
    ts.manual_seed(6)
    m, P = randomized_mha(6, 3, batch_first=True)
    rng = np.random.default_rng(3)
    N, L, S = 2, 4, 5
    q, k, v = rng.standard_normal((N, L, 6)), rng.standard_normal((N, S, 6)), rng.standard_normal((N, S, 6))
    attn_bool = np.zeros((L, S), dtype=bool)
    attn_bool[0, 3:] = True
    kpm = np.zeros((N, S), dtype=bool)
    kpm[1, 0] = True
    add = np.where(attn_bool, -np.inf, 0.0)[None, None] + np.where(kpm, -np.inf, 0.0)[:, None, None, :]
    ref, w = np_mha(q, k, v, P, 3, add)
    for need_weights in (True, False):
        out, weights = m(tensor64(q), tensor64(k), tensor64(v), key_padding_mask=ts.tensor(kpm),
                         attn_mask=ts.tensor(attn_bool), need_weights=need_weights, average_attn_weights=False)
        np.testing.assert_allclose(npy(out), ref, rtol=1e-9, atol=1e-12)
        if need_weights:
            assert tuple(weights.shape) == (N, 3, L, S)
            np.testing.assert_allclose(npy(weights), w, rtol=1e-9, atol=1e-12)
        else:
            assert weights is None
    # a float mask is added as is; 3-D masks are per (batch * head)
    fmask = rng.standard_normal((N * 3, L, S))
    ref, w = np_mha(q, k, v, P, 3, fmask.reshape(N, 3, L, S))
    out, weights = m(tensor64(q), tensor64(k), tensor64(v), attn_mask=tensor64(fmask))
    np.testing.assert_allclose(npy(out), ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(npy(weights), w.mean(1), rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError, match="attn_mask"):
        m(tensor64(q), tensor64(k), tensor64(v), attn_mask=ts.zeros(L, L, dtype=ts.float64))


def test_multihead_attention_causal_kdim_and_unbatched():
    ts.manual_seed(7)
    m, P = randomized_mha(4, 2, kdim=3, vdim=5, batch_first=True)
    assert m.in_proj_weight is None and tuple(m.k_proj_weight.shape) == (4, 3)
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 5))
    causal = np.triu(np.full((3, 3), -np.inf), 1)
    ref, _ = np_mha(q, k, v, P, 2, causal[None, None], kdim_split=True)
    mask = tensor64(causal)
    for need_weights in (True, False):
        out, _ = m(tensor64(q), tensor64(k), tensor64(v), attn_mask=mask, is_causal=True, need_weights=need_weights)
        np.testing.assert_allclose(npy(out), ref, rtol=1e-9, atol=1e-12)
    with pytest.raises(RuntimeError, match="attn_mask"):
        m(tensor64(q), tensor64(k), tensor64(v), is_causal=True)
    # unbatched (L, E) input
    m2, P2 = randomized_mha(4, 1)
    x = rng.standard_normal((3, 4))
    ref, w = np_mha(x[None], x[None], x[None], P2, 1)
    out, weights = m2(tensor64(x), tensor64(x), tensor64(x))
    np.testing.assert_allclose(npy(out), ref[0], rtol=1e-9, atol=1e-12)
    assert tuple(weights.shape) == (3, 3)


def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) * w + b


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_matches_numpy(norm_first):
    ts.manual_seed(8)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True,
                                       norm_first=norm_first, dtype=ts.float64)
    for p in layer.parameters():
        init.uniform_(p, -0.5, 0.5)
    layer.eval()  # dropout off
    P = {n: npy(p) for n, p in layer.named_parameters()}
    attn = {k[len("self_attn."):]: v for k, v in P.items() if k.startswith("self_attn.")}
    x = np.random.default_rng(5).standard_normal((2, 4, 8))

    def sa(t):
        return np_mha(t, t, t, attn, 2)[0]

    def ff(t):
        return np.maximum(t @ P["linear1.weight"].T + P["linear1.bias"], 0) @ P["linear2.weight"].T + P["linear2.bias"]

    def norm(i, t):
        return np_layer_norm(t, P[f"norm{i}.weight"], P[f"norm{i}.bias"])

    if norm_first:
        y = x + sa(norm(1, x))
        ref = y + ff(norm(2, y))
    else:
        y = norm(1, x + sa(x))
        ref = norm(2, y + ff(y))
    np.testing.assert_allclose(npy(layer(tensor64(x))), ref, rtol=1e-9, atol=1e-10)
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8, dtype=ts.float64))
    assert enc.layers[0] is not layer and enc.layers[0].linear1.weight is not layer.linear1.weight
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters())) + 2
    enc.eval()
    out = enc(tensor64(x))
    np.testing.assert_allclose(npy(out), np_layer_norm(np_ref_stack(layer, x, 2), 1.0, 0.0), rtol=1e-8, atol=1e-9)


def np_ref_stack(layer, x, n):
    out = tensor64(x)
    for _ in range(n):
        out = layer(out)  # the copies start equal to the original layer
    return npy(out)


# ----- other layer forwards against NumPy (need the C++ nn ops) ------------------------------

def test_linear_bilinear_embedding_forward():
    ts.manual_seed(9)
    lin = nn.Linear(4, 3, dtype=ts.float64)
    x = np.random.default_rng(6).standard_normal((2, 5, 4))
    np.testing.assert_allclose(npy(lin(tensor64(x))), x @ npy(lin.weight).T + npy(lin.bias), rtol=1e-12)
    bil = nn.Bilinear(4, 2, 3, dtype=ts.float64)
    x2 = np.random.default_rng(7).standard_normal((2, 5, 2))
    ref = np.einsum("...i,kij,...j->...k", x, npy(bil.weight), x2) + npy(bil.bias)
    np.testing.assert_allclose(npy(bil(tensor64(x), tensor64(x2))), ref, rtol=1e-12)
    emb = nn.Embedding(6, 3, padding_idx=0)
    idx = np.array([[0, 5], [2, 2]])
    np.testing.assert_allclose(npy(emb(ts.tensor(idx))), npy(emb.weight)[idx], rtol=1e-7)
    pre = ts.tensor(np.arange(6.0).reshape(3, 2))
    frozen = nn.Embedding.from_pretrained(pre)
    assert not frozen.weight.requires_grad and npy(frozen(ts.tensor([2])))[0].tolist() == [4.0, 5.0]


def test_activation_and_loss_modules_forward():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3))
    t = tensor64(x)
    checks = [
        (nn.ReLU(), np.maximum(x, 0)), (nn.Sigmoid(), sigmoid(x)), (nn.Tanh(), np.tanh(x)),
        (nn.SiLU(), x * sigmoid(x)), (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x)),
        (nn.ELU(), np.where(x > 0, x, np.expm1(x))), (nn.Softplus(), np.log1p(np.exp(x))),
        (nn.Softmax(dim=1), softmax(x, 1)), (nn.LogSoftmax(dim=1), np.log(softmax(x, 1))),
        (nn.GELU(), x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ]
    for module, ref in checks:
        np.testing.assert_allclose(npy(module(t)), ref, rtol=1e-7, atol=1e-10, err_msg=repr(module))
    target = np.array([0, 2, 1, 2])
    logp = np.log(softmax(x, 1))
    ce = -logp[np.arange(4), target]
    np.testing.assert_allclose(float(nn.CrossEntropyLoss()(t, ts.tensor(target))), ce.mean(), rtol=1e-10)
    np.testing.assert_allclose(npy(nn.CrossEntropyLoss(reduction="none")(t, ts.tensor(target))), ce, rtol=1e-10)
    np.testing.assert_allclose(float(nn.NLLLoss(reduction="sum")(tensor64(logp), ts.tensor(target))), ce.sum(),
                               rtol=1e-10)
    y = rng.standard_normal((4, 3))
    np.testing.assert_allclose(float(nn.MSELoss()(t, tensor64(y))), ((x - y) ** 2).mean(), rtol=1e-10)
    np.testing.assert_allclose(float(nn.L1Loss()(t, tensor64(y))), np.abs(x - y).mean(), rtol=1e-10)
    d = np.abs(x - y)
    np.testing.assert_allclose(float(nn.SmoothL1Loss(beta=0.5)(t, tensor64(y))),
                               np.where(d < 0.5, 0.5 * d * d / 0.5, d - 0.25).mean(), rtol=1e-10)
    p, b = sigmoid(x), (y > 0).astype(np.float64)
    bce = -(b * np.log(p) + (1 - b) * np.log(1 - p))
    np.testing.assert_allclose(float(nn.BCELoss()(tensor64(p), tensor64(b))), bce.mean(), rtol=1e-9)
    np.testing.assert_allclose(float(nn.BCEWithLogitsLoss()(t, tensor64(b))), bce.mean(), rtol=1e-9)


def test_weighted_losses_forward():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 3))
    target = np.array([0, 1, 2, 1, 0])
    w = np.array([0.2, 1.0, 3.0])
    logp = np.log(softmax(x, 1))
    ref = (-logp[np.arange(5), target] * w[target]).sum() / w[target].sum()
    loss = nn.CrossEntropyLoss(weight=tensor64(w))
    assert "weight" in loss.state_dict()
    np.testing.assert_allclose(float(loss(tensor64(x), ts.tensor(target))), ref, rtol=1e-10)
    b = (rng.standard_normal((5, 3)) > 0).astype(np.float64)
    pw = np.array([1.0, 2.0, 0.5])
    ref = -(pw * b * np.log(sigmoid(x)) + (1 - b) * np.log(1 - sigmoid(x))).mean()
    np.testing.assert_allclose(float(nn.BCEWithLogitsLoss(pos_weight=tensor64(pw))(tensor64(x), tensor64(b))), ref,
                               rtol=1e-9)


def np_conv2d(x, w, b, stride, padding, dilation=(1, 1), groups=1):
    x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    N, C, Hh, Ww = x.shape
    O, Cg, kh, kw = w.shape
    oh = (Hh - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (Ww - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((N, O, oh, ow))
    og = O // groups
    for o in range(O):
        g = o // og
        for i in range(oh):
            for j in range(ow):
                patch = x[:, g * Cg:(g + 1) * Cg, i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                          j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return out + (b[None, :, None, None] if b is not None else 0)


def test_conv_and_pooling_forward():
    ts.manual_seed(10)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 4, 7, 6))
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=ts.float64)
    ref = np_conv2d(x, npy(conv.weight), npy(conv.bias), (2, 2), (1, 1), groups=2)
    np.testing.assert_allclose(npy(conv(tensor64(x))), ref, rtol=1e-10, atol=1e-12)
    same = nn.Conv2d(4, 2, (3, 4), padding="same", dtype=ts.float64)
    out = same(tensor64(x))
    assert tuple(out.shape) == (2, 2, 7, 6)
    # 'same' with an even kernel puts the extra padding element on the right
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 2)))
    ref = np_conv2d(xp, npy(same.weight), npy(same.bias), (1, 1), (0, 0))
    np.testing.assert_allclose(npy(out), ref, rtol=1e-10, atol=1e-12)
    refl = nn.Conv2d(4, 2, 3, padding=1, padding_mode="reflect", dtype=ts.float64)
    xr = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    np.testing.assert_allclose(npy(refl(tensor64(x))),
                               np_conv2d(xr, npy(refl.weight), npy(refl.bias), (1, 1), (0, 0)), rtol=1e-10)
    mp = nn.MaxPool2d(2)(tensor64(x))
    np.testing.assert_allclose(npy(mp), x[:, :, :6, :6].reshape(2, 4, 3, 2, 3, 2).max(axis=(3, 5)))
    ap = nn.AvgPool2d(2)(tensor64(x))
    np.testing.assert_allclose(npy(ap), x[:, :, :6, :6].reshape(2, 4, 3, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-12)
    gap = nn.AdaptiveAvgPool2d(1)(tensor64(x))
    np.testing.assert_allclose(npy(gap), x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    convt = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, dtype=ts.float64)
    assert tuple(convt(tensor64(x)).shape) == (2, 3, 13, 11)
    assert tuple(convt(tensor64(x), output_size=(14, 12)).shape) == (2, 3, 14, 12)
    with pytest.raises(ValueError):
        convt(tensor64(x), output_size=(20, 12))
    c1 = nn.Conv1d(4, 2, 3, dtype=ts.float64)
    x1 = x[:, :, 0, :]
    ref = np_conv2d(x1[:, :, None], npy(c1.weight)[:, :, None], npy(c1.bias), (1, 1), (0, 0))[:, :, 0]
    np.testing.assert_allclose(npy(c1(tensor64(x1))), ref, rtol=1e-10)


def test_batch_norm_training_and_eval():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 3, 2, 2)) * 2 + 1
    bn = nn.BatchNorm2d(3, dtype=ts.float64)
    out = bn(tensor64(x))
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    ref = (x - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(npy(out), ref, rtol=1e-9, atol=1e-12)
    n = 8 * 4
    np.testing.assert_allclose(npy(bn.running_mean), 0.1 * mu, rtol=1e-10)
    np.testing.assert_allclose(npy(bn.running_var), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-10)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    ref = (x - npy(bn.running_mean)[None, :, None, None]) / np.sqrt(npy(bn.running_var)[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(npy(bn(tensor64(x))), ref, rtol=1e-9)
    assert int(bn.num_batches_tracked.item()) == 1
    cma = nn.BatchNorm1d(3, momentum=None, dtype=ts.float64)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    cma(tensor64(a))
    cma(tensor64(b))
    np.testing.assert_allclose(npy(cma.running_mean), (a.mean(0) + b.mean(0)) / 2, rtol=1e-10)
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(ts.zeros(2, 3))
    ln = nn.LayerNorm(3, dtype=ts.float64)
    np.testing.assert_allclose(npy(ln(tensor64(a))), np_layer_norm(a, 1.0, 0.0), rtol=1e-9)
    gn = nn.GroupNorm(1, 3, dtype=ts.float64)
    g = x.reshape(8, -1)
    ref = ((g - g.mean(1, keepdims=True)) / np.sqrt(g.var(1, keepdims=True) + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(npy(gn(tensor64(x))), ref, rtol=1e-9, atol=1e-12)


def test_dropout_train_and_eval():
    ts.manual_seed(11)
    d = nn.Dropout(0.5)
    x = ts.ones(10000)
    y = npy(d(x))
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.45 < (y == 0).mean() < 0.55
    d.eval()
    assert d(x) is x


# ----- utils -------------------------------------------------------------------------------

def test_clip_grad_norm_and_value():
    m = nn.Linear(3, 2)
    g_w = np.array([[3.0, 0, 0], [0, 0, 0]])
    g_b = np.array([0.0, 4.0])
    m.weight.grad = ts.tensor(g_w, dtype=ts.float32)
    m.bias.grad = ts.tensor(g_b, dtype=ts.float32)
    total = nn.utils.clip_grad_norm_(m.parameters(), max_norm=1.0)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(npy(m.weight.grad), g_w / (5 + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(npy(m.bias.grad), g_b / (5 + 1e-6), rtol=1e-6)
    # under the limit nothing changes
    before = npy(m.weight.grad)
    assert float(nn.utils.clip_grad_norm_(list(m.parameters()), 10.0)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(npy(m.weight.grad), before)
    m.weight.grad = ts.tensor(g_w, dtype=ts.float32)
    m.bias.grad = ts.tensor(g_b, dtype=ts.float32)
    assert float(nn.utils.clip_grad_norm_(m.parameters(), 2.0, norm_type=math.inf)) == pytest.approx(4.0)
    np.testing.assert_allclose(npy(m.bias.grad), g_b * 2 / (4 + 1e-6), rtol=1e-6)
    assert float(nn.utils.clip_grad_norm_([nn.Parameter(ts.zeros(1))], 1.0)) == 0.0  # no grads
    m.weight.grad = ts.tensor(g_w, dtype=ts.float32)
    nn.utils.clip_grad_value_(m.parameters(), 0.5)
    assert npy(m.weight.grad).max() == 0.5
    m.weight.grad = ts.tensor(np.full((2, 3), np.inf), dtype=ts.float32)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(m.parameters(), 1.0, error_if_nonfinite=True)


def test_parameters_to_vector_and_back():
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    np.testing.assert_array_equal(npy(vec), np.concatenate([npy(m.weight).ravel(), npy(m.bias)]))
    nn.utils.vector_to_parameters(ts.arange(8, dtype=ts.float32), m.parameters())
    np.testing.assert_array_equal(npy(m.weight), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(npy(m.bias), [6.0, 7.0])


# ----- autograd through modules (needs the C++ autograd) ------------------------------------

def test_backward_fills_parameter_grads():
    ts.manual_seed(12)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    loss = nn.CrossEntropyLoss()(m(ts.randn(5, 4)), ts.tensor([0, 1, 2, 1, 0]))
    loss.backward()
    for p in m.parameters():
        assert p.grad is not None and tuple(p.grad.shape) == tuple(p.shape)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_lstm_and_attention_are_differentiable():
    ts.manual_seed(13)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    out, (h, c) = lstm(ts.randn(2, 5, 3))
    (out.sum() + h.sum() + c.sum()).backward()
    assert all(p.grad is not None for p in lstm.parameters())
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    layer(ts.randn(2, 3, 8)).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_embedding_padding_row_gets_no_gradient():
    emb = nn.Embedding(4, 2, padding_idx=1)
    emb(ts.tensor([1, 2, 1])).sum().backward()
    g = npy(emb.weight.grad)
    assert np.all(g[1] == 0) and np.all(g[2] == 1)
