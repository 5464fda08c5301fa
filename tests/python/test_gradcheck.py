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
 # LSTM and GRU over a whole sequence in one kernel (xp: the input projection [L, N, G*H])
 'lstm_fused': (lambda xp, h, c, w, b: ts._C._nn._rnn_fused(False, xp, h, c, w, b, False)[0],
                [R(3, 2, 8), R(2, 2), R(2, 2), R(8, 2), R(8)]),
 'gru_fused': (lambda xp, h, w, b: ts._C._nn._rnn_fused(True, xp, h, None, w, b, True)[0],
               [R(3, 2, 6), R(2, 2), R(6, 2), R(6)]),
 'logsumexp': (lambda a: ts.logsumexp(a, 1), [R(3,4)]),
 'logsumexp_dims': (lambda a: ts.logsumexp(a, (0, 2), keepdim=True), [R(2, 3, 4)]),
 'cumsum': (lambda a: ts.cumsum(a, 1), [R(3,4)]),
 'cumprod': (lambda a: ts.cumprod(a, 1), [R(3,4)]),
 'softmax': (lambda a: ts.softmax(a, 1), [R(3,4)]),
 'softmax_dim0': (lambda a: ts.softmax(a, 0), [R(3,4)]),
 'softmax_odd_rows': (lambda a: ts.softmax(a, -1), [R(2,3,11)]),
 'log_softmax': (lambda a: ts.log_softmax(a, 0), [R(3,4)]),
 'matmul': (lambda a,b: a@b, [R(2,3,4), R(4,5)]),
 'mv': (lambda a,b: ts.mv(a,b), [R(3,4), R(4)]),
 'dot': (lambda a,b: ts.dot(a,b), [R(4), R(4)]),
 'linear': (lambda x,w,b: ts.linear(x,w,b), [R(2,4), R(3,4), R(3)]),
 'linear_1d_batched': (lambda x,y,w: ts.linear(x,w) + ts.linear(y,w).sum(0), [R(4), R(2,3,4), R(3,4)]),
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
 'rfft_real': (lambda a: ts.fft.rfft_real(a, 7, norm='ortho'), [R(2,6)]),
 'irfft_real': (lambda a: ts.fft.irfft_real(a, 6), [R(2,4,2)]),
 'irfft_real_odd': (lambda a: ts.fft.irfft_real(a, 5, norm='forward'), [R(3,2)]),
 'fft_c2c': (lambda a: ts.fft.ifft_real(a, 7, dim=0, norm='ortho'), [R(5,3,2)]),
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
for name in ['exp','log','sqrt','exp2','expm1','log2','log10','log1p','rsqrt','reciprocal','sin','cos','tan','asin','acos','atan','sinh','cosh','tanh','asinh','acosh','atanh','sigmoid','erf','erfc','erfinv','neg','abs','square','relu','silu','hardsigmoid','hardswish']:
    dom = {'log','sqrt','log2','log10','rsqrt','log1p'}
    if name in dom: x = R(5, pos=True)
    elif name in ('asin','acos','atanh','erfinv'): x = (ts.rand(5, dtype=ts.float64)*1.6-0.8).requires_grad_()
    elif name == 'acosh': x = (ts.rand(5, dtype=ts.float64)+1.5).requires_grad_()
    else: x = R(5)
    CASES[name] = (getattr(ts, name), [x])
CASES['leaky_relu'] = (lambda a: ts.leaky_relu(a, 0.1), [R(5)])
# every piece of the piecewise ones: below -3, inside, above 3 (away from the kinks)
_WIDE = [-5.5, -3.4, -2.6, -0.7, 0.4, 2.2, 2.9, 3.3, 6.0]
CASES['hardsigmoid_wide'] = (ts.hardsigmoid, [ts.tensor(_WIDE, dtype=ts.float64).requires_grad_()])
CASES['hardswish_wide'] = (ts.hardswish, [ts.tensor(_WIDE, dtype=ts.float64).requires_grad_()])
CASES['elu'] = (lambda a: ts.elu(a), [R(5)])
CASES['gelu'] = (lambda a: ts.gelu(a), [R(5)])
CASES['gelu_tanh'] = (lambda a: ts.gelu(a, approximate='tanh'), [R(5)])
CASES['softplus'] = (lambda a: ts.softplus(a, 2.0), [R(5)])
CASES['softplus_threshold'] = (lambda a: ts.softplus(a * 6, 1.5, 4.0), [R(3, 4)])  # some lanes past the threshold
CASES['logsigmoid_t'] = (lambda a: ts.nn.functional.logsigmoid(a.t() * 3), [R(4, 3)])
CASES['hypot'] = (lambda a, b: ts.hypot(a, b), [R(3, 4), R(4)])  # kernel by name, its backward too
CASES['frac'] = (lambda a: ts.frac(a), [R(3, 4)])  # kernel by name; its Function's gradient is g
CASES['floor_divide'] = (lambda a, b: ts.floor_divide(a, b) + a, [R(4), R(4, pos=True)])
CASES['remainder'] = (lambda a, b: ts.remainder(a, b), [R(4), R(4, pos=True)])
CASES['fmod'] = (lambda a, b: ts.fmod(a, b), [R(4), R(4, pos=True)])
CASES['lgamma'] = (lambda a: ts.lgamma(a), [R(5, pos=True)])
CASES['digamma'] = (lambda a: ts.digamma(a), [R(5, pos=True)])
CASES['polygamma'] = (lambda a: ts.polygamma(1, a) + ts.polygamma(2, a), [R(5, pos=True)])
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


# ---- nn.functional (float64: the reference paths, differentiable to any order) ----
import tessel.nn.functional as F  # noqa: E402

_T = ts.tensor
CASES.update({
    'conv2d': (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [R(2, 3, 5, 4), R(4, 3, 3, 3), R(4)]),
    'conv2d_groups_dil': (lambda x, w: F.conv2d(x, w, None, 1, (1, 2), (2, 1), 2), [R(1, 4, 5, 5), R(4, 2, 2, 2)]),
    'conv1d': (lambda x, w: F.conv1d(x, w, padding='same'), [R(2, 2, 6), R(3, 2, 3)]),
    'conv_transpose2d': (lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
                         [R(1, 2, 3, 3), R(2, 3, 3, 3)]),
    'max_pool2d': (lambda x: F.max_pool2d(x, 2, 2, 0, 1, True), [R(1, 2, 5, 5)]),
    'avg_pool2d': (lambda x: F.avg_pool2d(x, 3, 2, 1, False, False), [R(1, 2, 5, 4)]),
    'avg_pool2d_2x2': (lambda x: F.avg_pool2d(x, 2), [R(2, 3, 4, 6)]),
    'avg_pool2d_ceil': (lambda x: F.avg_pool2d(x, 3, 2, 1, True, True), [R(1, 2, 6, 5)]),
    'adaptive_avg_pool2d': (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [R(1, 2, 5, 4)]),
    'batch_norm': (lambda x, w, b: F.batch_norm(x, None, None, w, b, True), [R(4, 3, 2), R(3), R(3)]),
    'layer_norm': (lambda x, w, b: F.layer_norm(x, (4,), w, b), [R(3, 4), R(4), R(4)]),
 'layer_norm_odd_rows_2d_shape': (lambda x, w, b: F.layer_norm(x, (3, 3), w, b), [R(2, 3, 3), R(3, 3), R(3, 3)]),
 'layer_norm_11_no_weight': (lambda x: F.layer_norm(x, (11,)), [R(5, 11)]),
 'layer_norm_one_element_rows': (lambda x, w, b: F.layer_norm(x, (1,), w, b), [R(4, 1), R(1), R(1)]),
 'log_softmax_last_dim': (lambda a: ts.log_softmax(a, -1), [R(2, 3, 11)]),
 'rms_norm': (lambda x, w: F.rms_norm(x, (4,), w, eps=1e-6), [R(3, 4), R(4)]),
 'rms_norm_2d_shape_no_weight': (lambda x: F.rms_norm(x, (3, 3)), [R(2, 3, 3)]),
    'group_norm': (lambda x, w, b: F.group_norm(x, 2, w, b), [R(2, 4, 3), R(4), R(4)]),
    'embedding': (lambda w: F.embedding(_T([[0, 2], [2, 2]]), w), [R(3, 2)]),
    'sdpa_causal': (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                    [R(2, 3, 4), R(2, 3, 4), R(2, 3, 2)]),
    'cross_entropy_ls': (lambda x: F.cross_entropy(x, _T([0, 2, -100, 1]), _T([1.0, 2.0, 0.5], dtype=ts.float64),
                                                   label_smoothing=0.1), [R(4, 3)]),
    'cross_entropy_probs': (lambda x, t: F.cross_entropy(x, t.softmax(1)), [R(3, 4), R(3, 4)]),
    'nll_loss': (lambda x: F.nll_loss(x.log_softmax(1), _T([1, 0, 2])), [R(3, 3)]),
    'mse_loss': (lambda x, y: F.mse_loss(x, y), [R(3, 2), R(3, 2)]),
    'l1_loss': (lambda x, y: F.l1_loss(x, y), [R(3, 2), R(3, 2)]),
    'smooth_l1_loss': (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), [R(3, 2), R(3, 2)]),
    'bce': (lambda x: F.binary_cross_entropy(x.sigmoid(), _T([[0.0, 1.0], [0.3, 0.8]], dtype=ts.float64)),
            [R(2, 2)]),
    'bce_logits': (lambda x: F.binary_cross_entropy_with_logits(x, _T([[0.0, 1.0], [0.3, 0.8]], dtype=ts.float64),
                                                                pos_weight=_T([2.0, 0.5], dtype=ts.float64)),
                   [R(2, 2)]),
})


def test_embedding_padding_row_gets_no_gradient():
    w = R(4, 3)
    F.embedding(_T([[0, 2], [2, 1]]), w, padding_idx=2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 1, 1], [1, 1, 1], [0, 0, 0], [0, 0, 0]])


def test_float32_conv_kernel_gradients_match_the_float64_reference():
    """The oneDNN kernel (float32) and its backward kernels against the differentiable float64 path."""
    x64, w64, b64 = R(2, 3, 7, 6), R(5, 3, 3, 3), R(5)
    y64 = F.conv2d(x64, w64, b64, stride=(2, 1), padding=1)
    g = ts.randn(*y64.shape, dtype=ts.float64)
    y64.backward(g)
    x32, w32, b32 = (t.detach().to(ts.float32).requires_grad_() for t in (x64, w64, b64))
    y32 = F.conv2d(x32, w32, b32, stride=(2, 1), padding=1)
    assert y32.grad_fn.name() == "Conv2dBackward"
    y32.backward(g.to(ts.float32))
    np.testing.assert_allclose(y32.detach().numpy(), y64.detach().numpy(), rtol=1e-4, atol=1e-4)
    for a, b in ((x32, x64), (w32, w64), (b32, b64)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_float32_conv_double_backward_goes_through_the_reference():
    x = ts.randn(1, 2, 5, 5, requires_grad=True)
    w = ts.randn(3, 2, 3, 3, requires_grad=True)
    (gx,) = ts.autograd.grad(F.conv2d(x, w, padding=1).pow(2).sum(), x, create_graph=True)
    (gw,) = ts.autograd.grad(gx.sum(), w)
    x64, w64 = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    (gx64,) = ts.autograd.grad(F.conv2d(x64, w64, padding=1).pow(2).sum(), x64, create_graph=True)
    (gw64,) = ts.autograd.grad(gx64.sum(), w64)
    np.testing.assert_allclose(gw.numpy(), gw64.numpy(), rtol=1e-3, atol=1e-3)


# linalg (LAPACK kernels): well-conditioned inputs; the outputs are chosen to be unique (sign-free
# products of eigen/singular vectors) so the finite differences see a smooth function.
_I3 = ts.eye(3, dtype=ts.float64)
CASES['linalg_solve'] = (lambda a, b: ts.linalg.solve(a + 4 * _I3, b), [R(3, 3), R(3, 2)])
CASES['linalg_cholesky'] = (lambda a: ts.linalg.cholesky(a @ a.mT + 3 * _I3), [R(3, 3)])
CASES['linalg_qr'] = (lambda a: ts.cat([t.flatten() for t in ts.linalg.qr(a + 4 * _I3)]), [R(3, 3)])
CASES['linalg_eigh'] = (lambda a: (lambda w, v: ts.cat([w, (v * v).flatten()]))(*ts.linalg.eigh(
    a + a.mT + ts.diag(ts.tensor([1.0, 5.0, 9.0], dtype=ts.float64)))), [R(3, 3)])
CASES['linalg_svd'] = (lambda a: (lambda u, s, vh: ts.cat([s, (u @ vh).flatten()]))(*ts.linalg.svd(
    a + ts.diag(ts.tensor([1.0, 4.0, 9.0], dtype=ts.float64)), full_matrices=False)), [R(3, 3)])
CASES['linalg_lu_factor'] = (lambda a: ts.linalg.lu_factor(a + 4 * _I3).LU, [R(3, 3)])
CASES['linalg_lu_solve'] = (lambda a, b: ts.linalg.lu_solve(*ts.linalg.lu_factor(a + 4 * _I3), b), [R(3, 3), R(3, 2)])
CASES['linalg_solve_triangular'] = (lambda a, b: ts.linalg.solve_triangular(ts.triu(a) + 4 * _I3, b, upper=True),
                                    [R(3, 3), R(3, 2)])


# Which case checks the gradient of each registry kernel.
COVERS = {
    "copy": "clone", "take_offsets": "adv_index", "put_offsets": "index_put", "put_offsets_add": "scatter_add",
    "sum": "sum", "max_dim": "max_dim", "min_dim": "min_dim",
    "batch_norm": "batch_norm", "max_pool2d": "max_pool2d",
    "softmax_backward_fused": "softmax",  # first-order softmax gradients along the last dim
    "layer_norm_fused": "layer_norm", "layer_norm_fused_backward": "layer_norm",  # the fused kernel and its backward
    "log_softmax_backward_fused": "log_softmax_last_dim",  # first-order log_softmax gradients along the last dim
    "rms_norm_fused": "rms_norm", "rms_norm_fused_backward": "rms_norm",
    "nll_loss_fused": "nll_loss", "nll_loss_fused_backward": "nll_loss",  # 2-D scores, mean or sum
    "softplus_backward_fused": "softplus_threshold",  # first-order softplus (and logsigmoid) gradients
    "silu_backward_fused": "silu",  # first-order silu gradients
    "avg_pool2d_sums": "avg_pool2d", "avg_pool2d_sums_backward": "avg_pool2d",  # create_graph: the windows view
    "gelu_backward_fused": "gelu_tanh",  # first-order gelu gradients (exact: the 'gelu' case)
    "hardsigmoid_backward_fused": "hardsigmoid_wide", "hardswish_backward_fused": "hardswish_wide",
    "gather_rows": "gather", "index_add_rows": "gather",  # gather's forward; gather/index_select backwards
    "hypot_backward": "hypot",
    "sdpa_flash": "sdpa_causal", "sdpa_flash_backward": "sdpa_causal",  # second order: the composite's formula
    "sum_squares": "norm",  # the 2-norm's one-pass sum of squares (contiguous float input)
    "rnn_fused": "lstm_fused", "rnn_fused_backward": "lstm_fused",  # second order: the op recurrence
    "conv2d": "conv2d",  # float32 kernel: test_float32_conv_kernel_gradients_match_the_float64_reference
    "linear_bias": "linear",  # float32 forward of linear with a bias; its rule is LinearBackward, as in float64
    "logsumexp_rows": "logsumexp",  # float32 forward over the last dim; its rule is logsumexp's, as in float64
}
NOT_DIFFERENTIABLE = {
    "arange", "fill", "nonzero", "normal", "uniform", "randint", "searchsorted", "isfinite", "isinf", "isnan",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "logical_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    "conj",  # complex only (conj of a real tensor is the tensor): test_complex_autograd.py
    "sgd_step", "adam_step", "rmsprop_step",  # optimizer updates run under no_grad
    "avg_pool2d_reduced",  # float16/bfloat16 avg_pool2d without autograd only (with it: avg_pool2d_sums)
    "var_fused",  # var/std without autograd only (with it: the mean/subtract/square composite and its rule)
    # Used inside Conv2dBackward; under create_graph that rule differentiates the reference path instead.
    "conv2d_backward_input", "conv2d_backward_weight", "batch_norm_backward", "relu_backward",
    "max_pool2d_backward",
    # The fused no-grad spectrogram; under autograd the features use rfft_real instead.
    "stft_power",
    "copysign",  # called by name without grad only; with grad, abs/where/signbit ops
    "quantize_affine", "dequantize_affine",  # integer codes: quantize detaches its input
    # eig: complex outputs, checked in test_linalg_grad.py::test_eig_grad (central differences along both
    # parts); the LDL family (not differentiable in PyTorch either) raises NotImplementedError under grad.
    "linalg_eig", "linalg_ldl_factor", "linalg_ldl_solve",
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
