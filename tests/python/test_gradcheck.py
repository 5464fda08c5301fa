"""Every differentiable op against finite differences (first and second order, float64).

The kernel-level ops of the registry must each be covered by a case here or be
listed as not differentiable, so a new kernel cannot land without a gradient check.
"""
import numpy as np
import pytest

import tessel as ts
from tessel.autograd import gradcheck, gradgradcheck

ts.manual_seed(0)


def R(*s, pos=False):
    t = ts.randn(*s, dtype=ts.float64)
    if pos:
        t = t.abs() + 0.5
    return t.requires_grad_()


CASES = {
 'add': (lambda a,b: a+b, [R(3,4), R(4)]),
 'sub': (lambda a,b: a-b, [R(3,4), R(3,1)]),
 'mul': (lambda a,b: a*b, [R(3,4), R(4)]),
 'div': (lambda a,b: a/b, [R(3,4), R(4,pos=True)]),
 'pow': (lambda a,b: a**b, [R(3,pos=True), R(3)]),
 'pow_s': (lambda a: a**3, [R(3)]),
 'rpow': (lambda a: 2**a, [R(3)]),
 'atan2': (lambda a,b: ts.atan2(a,b), [R(3), R(3)]),
 'maximum': (lambda a,b: ts.maximum(a,b), [R(5), R(5)]),
 'where': (lambda a,b: ts.where(a>0, a, b), [R(5), R(5)]),
 'lerp': (lambda a,b,w: ts.lerp(a,b,w), [R(4), R(4), R(4)]),
 'clamp': (lambda a: ts.clamp(a, -0.5, 0.5), [R(6)]),
 'sum': (lambda a: a.sum(1), [R(3,4)]),
 'mean': (lambda a: a.mean((0,)), [R(3,4)]),
 'amax': (lambda a: ts.amax(a, 1), [R(3,4)]),
 'max_dim': (lambda a: ts.max(a, 1)[0], [R(3,4)]),
 'prod': (lambda a: ts.prod(a, (1,)), [R(3,4)]),
 'var': (lambda a: ts.var(a, 1), [R(3,4)]),
 'std': (lambda a: ts.std(a), [R(3,4)]),
 'norm': (lambda a: ts.norm(a), [R(3,4)]),
 'logsumexp': (lambda a: ts.logsumexp(a, 1), [R(3,4)]),
 'cumsum': (lambda a: ts.cumsum(a, 1), [R(3,4)]),
 'cumprod': (lambda a: ts.cumprod(a, 1), [R(3,4)]),
 'softmax': (lambda a: ts.softmax(a, 1), [R(3,4)]),
 'log_softmax': (lambda a: ts.log_softmax(a, 0), [R(3,4)]),
 'matmul': (lambda a,b: a@b, [R(2,3,4), R(4,5)]),
 'mv': (lambda a,b: ts.mv(a,b), [R(3,4), R(4)]),
 'dot': (lambda a,b: ts.dot(a,b), [R(4), R(4)]),
 'linear': (lambda x,w,b: ts.linear(x,w,b), [R(2,4), R(3,4), R(3)]),
 'einsum': (lambda a,b: ts.einsum('bij,bjk->bik', a, b), [R(2,3,4), R(2,4,2)]),
 'cat': (lambda a,b: ts.cat([a,b],1), [R(2,3), R(2,2)]),
 'stack': (lambda a,b: ts.stack([a,b],0), [R(2,3), R(2,3)]),
 'flip': (lambda a: ts.flip(a,(0,)), [R(3,2)]),
 'roll': (lambda a: ts.roll(a,1,0), [R(3,2)]),
 'repeat': (lambda a: a.repeat(2,3), [R(2,2)]),
 'pad': (lambda a: ts.pad(a,(1,2)), [R(2,3)]),
 'pad_reflect': (lambda a: ts.pad(a,(1,1),mode='reflect'), [R(2,3)]),
 'tril': (lambda a: ts.tril(a), [R(3,3)]),
 'permute': (lambda a: a.permute(2,0,1)*1, [R(2,3,4)]),
 'transpose': (lambda a: a.transpose(0,1)@a, [R(3,3)]),
 'slice': (lambda a: a[1:, ::2], [R(3,4)]),
 'select': (lambda a: a[1], [R(3,4)]),
 'diagonal': (lambda a: a.diagonal(), [R(3,3)]),
 'unfold': (lambda a: a.unfold(0, 3, 1), [R(5)]),
 'expand': (lambda a: a.expand(3,4), [R(1,4)]),
 'adv_index': (lambda a: a[ts.tensor([0,2,0])], [R(3,4)]),
 'mask_index': (lambda a: a[a>0], [R(3,4)]),
 'gather': (lambda a: ts.gather(a, 1, ts.tensor([[0,0],[1,0],[3,2]])), [R(3,4)]),
 'scatter': (lambda a,b: ts.scatter(a, 1, ts.tensor([[0],[1],[3]]), b), [R(3,4), R(3,1)]),
 'scatter_add': (lambda a,b: ts.scatter_add(a, 1, ts.tensor([[0,0],[1,1],[3,3]]), b), [R(3,4), R(3,2)]),
 'index_select': (lambda a: ts.index_select(a, 1, ts.tensor([0,3,3])), [R(3,4)]),
 'index_add': (lambda a,b: ts.index_add(a, 0, ts.tensor([0,2]), b), [R(3,4), R(2,4)]),
 'masked_fill': (lambda a: ts.masked_fill(a, a>0, 2.0), [R(3,4)]),
 'take': (lambda a: ts.take(a, ts.tensor([0,5,5])), [R(3,4)]),
 'sort': (lambda a: ts.sort(a, 1)[0], [R(3,4)]),
 'topk': (lambda a: ts.topk(a, 2)[0], [R(3,4)]),
 'kthvalue': (lambda a: ts.kthvalue(a, 2)[0], [R(3,4)]),
 'reshape': (lambda a: a.t().reshape(-1), [R(3,4)]),
 'clone': (lambda a: a.clone()*a, [R(3)]),
 'split': (lambda a: ts.split(a, 2, 1)[1], [R(3,4)]),
 'tensordot': (lambda a,b: ts.tensordot(a,b,1), [R(2,3), R(3,2)]),
 'addmm': (lambda c,a,b: ts.addmm(c,a,b,beta=0.5,alpha=2.0), [R(2,2), R(2,3), R(3,2)]),
 'outer': (lambda a,b: ts.outer(a,b), [R(3), R(2)]),
 'dropout_eval': (lambda a: ts.dropout(a, 0.5, False), [R(3)]),
}
for name in ['exp','log','sqrt','exp2','expm1','log2','log10','log1p','rsqrt','reciprocal','sin','cos','tan','asin','acos','atan','sinh','cosh','tanh','asinh','acosh','atanh','sigmoid','erf','erfc','erfinv','neg','abs','square','relu','silu']:
    dom = {'log','sqrt','log2','log10','rsqrt','log1p'}
    if name in dom: x = R(5, pos=True)
    elif name in ('asin','acos','atanh','erfinv'): x = (ts.rand(5, dtype=ts.float64)*1.6-0.8).requires_grad_()
    elif name == 'acosh': x = (ts.rand(5, dtype=ts.float64)+1.5).requires_grad_()
    else: x = R(5)
    CASES[name] = (getattr(ts, name), [x])
CASES['leaky_relu'] = (lambda a: ts.leaky_relu(a, 0.1), [R(5)])
CASES['elu'] = (lambda a: ts.elu(a), [R(5)])
CASES['gelu'] = (lambda a: ts.gelu(a), [R(5)])
CASES['gelu_tanh'] = (lambda a: ts.gelu(a, approximate='tanh'), [R(5)])
CASES['softplus'] = (lambda a: ts.softplus(a, 2.0), [R(5)])
CASES['floor_divide'] = (lambda a, b: ts.floor_divide(a, b) + a, [R(4), R(4, pos=True)])
CASES['remainder'] = (lambda a, b: ts.remainder(a, b), [R(4), R(4, pos=True)])
CASES['round'] = (lambda a: ts.round(a) + a, [R(4)])
CASES['sign'] = (lambda a: ts.sign(a) * a, [R(4)])
CASES['floor'] = (lambda a: ts.floor(a) + a, [R(4)])
CASES['ceil'] = (lambda a: ts.ceil(a) + a, [R(4)])
CASES['trunc'] = (lambda a: ts.trunc(a) + a, [R(4)])
CASES['nan_to_num'] = (lambda a: ts.nan_to_num(a), [R(4)])
CASES['amin'] = (lambda a: ts.amin(a, 0), [R(3, 4)])
CASES['min_dim'] = (lambda a: ts.min(a, 0)[0], [R(3, 4)])
CASES['minimum'] = (lambda a, b: ts.minimum(a, b), [R(5), R(5)])
CASES['sum_all'] = (lambda a: a.sum(), [R(3, 4)])
CASES['mean_all'] = (lambda a: a.mean(), [R(3, 4)])


def _index_put(a, v):
    b = a * 1
    b[ts.tensor([0, 2])] = v
    return b


CASES['index_put'] = (_index_put, [R(3, 4), R(4)])
CASES['setitem_slice_base'] = (lambda a, v: _setitem(a, v), [R(3, 4), R(2, 4)])


def _setitem(a, v):
    b = a * 2
    b[1:] = v
    return b


# Which case checks the gradient of each registry kernel.
COVERS = {
    "copy": "clone", "take_offsets": "adv_index", "put_offsets": "index_put", "put_offsets_add": "scatter_add",
    "sum": "sum", "max_dim": "max_dim", "min_dim": "min_dim",
}
NOT_DIFFERENTIABLE = {
    "arange", "fill", "nonzero", "normal", "uniform", "randint", "searchsorted", "isfinite", "isinf", "isnan",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
    "conj",  # complex tensors cannot require grad yet
    "sgd_step", "adam_step", "rmsprop_step",  # optimizer updates run under no_grad
}


def test_every_differentiable_kernel_has_a_case():
    kernels = {op for op, dev, dt, src in ts.registry() if src == "builtin"}
    missing = sorted(op for op in kernels if op not in NOT_DIFFERENTIABLE and COVERS.get(op, op) not in CASES)
    assert not missing, f"kernels without a gradient check: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    f, xs = CASES[name]
    assert gradcheck(f, xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name):
    f, xs = CASES[name]
    assert gradgradcheck(f, xs)


def test_gradcheck_catches_a_wrong_rule():
    class Wrong(ts.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, [R(3)])
