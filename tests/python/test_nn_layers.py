"""The ts.nn layers and functional ops composed from existing ops (python/tessel/nn/_functional):
forward values against NumPy float64 references written here, gradients against finite
differences, PyTorch's parameter names/shapes and default initializations."""
import math
import warnings

import numpy as np
import pytest

import tessel as ts
import tessel.nn as nn
import tessel.nn.functional as F
from tessel.autograd import gradcheck
from tessel.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                 pad_sequence, unpack_sequence)

RNG = np.random.default_rng(0)


def rnd(*shape):
    return RNG.standard_normal(shape)


def T(a, grad=False):
    t = ts.tensor(np.asarray(a, dtype=np.float64))
    return t.requires_grad_() if grad else t


def close(t, ref, atol=1e-10):
    np.testing.assert_allclose(t.numpy() if isinstance(t, ts.Tensor) else t, ref, rtol=1e-8, atol=atol)


# ---------------------------------------------------------------- NumPy references

def np_conv3d(x, w, b, stride, padding, dilation, groups):
    N, C, D, H, W = x.shape
    O, Cg, kd, kh, kw = w.shape
    x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out_sz = [(n + 2 * p - d * (k - 1) - 1) // s + 1
              for n, p, d, k, s in zip((D, H, W), padding, dilation, (kd, kh, kw), stride)]
    out = np.zeros((N, O, *out_sz))
    og = O // groups
    for o in range(O):
        g = o // og
        for i, j, k in np.ndindex(*out_sz):
            z0, y0, x0 = i * stride[0], j * stride[1], k * stride[2]
            win = x[:, g * Cg:(g + 1) * Cg,
                    z0:z0 + dilation[0] * (kd - 1) + 1:dilation[0],
                    y0:y0 + dilation[1] * (kh - 1) + 1:dilation[1],
                    x0:x0 + dilation[2] * (kw - 1) + 1:dilation[2]]
            out[:, o, i, j, k] = (win * w[o]).sum(axis=(1, 2, 3, 4))
    if b is not None:
        out += b[None, :, None, None, None]
    return out


def np_conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation):
    N, C, L = x.shape
    _, Og, K = w.shape
    Cg = C // groups
    full = (L - 1) * stride + dilation * (K - 1) + 1 + output_padding
    out = np.zeros((N, Og * groups, full))
    for c in range(C):
        g = c // Cg
        for l in range(L):
            for k in range(K):
                out[:, g * Og:(g + 1) * Og, l * stride + k * dilation] += x[:, c, l][:, None] * w[c, :, k][None, :]
    out = out[:, :, padding:full - padding]
    return out + b[None, :, None] if b is not None else out


def np_pool1d(x, k, s, p, d, ceil_mode, kind, count_include_pad=True):
    L = x.shape[-1]
    span = d * (k - 1) + 1
    n = (L + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n - 1) * s >= L + p:
        n -= 1
    out = np.zeros(x.shape[:-1] + (n,))
    idx = np.zeros(x.shape[:-1] + (n,), dtype=np.int64)
    for i in range(n):
        pos = [i * s - p + j * d for j in range(k)]
        inside = [q for q in pos if 0 <= q < L]
        if kind == "max":
            vals = x[..., inside]
            out[..., i] = vals.max(-1)
            idx[..., i] = np.array(inside)[vals.argmax(-1)]
        else:
            end = min(i * s - p + k, L + p)
            divisor = (end - (i * s - p)) if count_include_pad else len(inside)
            out[..., i] = x[..., inside].sum(-1) / divisor
    return out, idx


def np_adaptive_max2d(x, oh, ow):
    H, W = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + (oh, ow))
    idx = np.zeros(x.shape[:-2] + (oh, ow), dtype=np.int64)
    for i in range(oh):
        h0, h1 = (i * H) // oh, math.ceil((i + 1) * H / oh)
        for j in range(ow):
            w0, w1 = (j * W) // ow, math.ceil((j + 1) * W / ow)
            win = x[..., h0:h1, w0:w1].reshape(x.shape[:-2] + (-1,))
            out[..., i, j] = win.max(-1)
            a = win.argmax(-1)
            idx[..., i, j] = (h0 + a // (w1 - w0)) * W + w0 + a % (w1 - w0)
    return out, idx


def np_cubic(t, a=-0.75):
    t = abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def np_interp_1d(v, n_out, mode, align_corners=False, scale=None):
    """One axis (the last) of v, output point by output point, from PyTorch's documented
    coordinate conventions."""
    n = v.shape[-1]
    out = np.zeros(v.shape[:-1] + (n_out,))
    step = (n - 1) / (n_out - 1) if align_corners and n_out > 1 else (0.0 if align_corners else
                                                                       (1 / scale if scale else n / n_out))
    for i in range(n_out):
        if mode == "nearest":
            out[..., i] = v[..., min(int(np.floor(np.float32(i) * np.float32(step))), n - 1)]
            continue
        if mode == "nearest-exact":
            out[..., i] = v[..., min(int(np.floor((i + 0.5) * step)), n - 1)]
            continue
        if mode == "area":
            a, b = (i * n) // n_out, -((-(i + 1) * n) // n_out)
            out[..., i] = v[..., a:b].mean(-1)
            continue
        src = i * step if align_corners else (i + 0.5) * step - 0.5
        if mode == "linear":
            src = max(src, 0.0)
            i0 = min(int(np.floor(src)), n - 1)
            i1 = min(i0 + 1, n - 1)
            lam = src - i0
            out[..., i] = (1 - lam) * v[..., i0] + lam * v[..., i1]
        else:  # cubic
            i0 = int(np.floor(src))
            t = src - i0
            for off in (-1, 0, 1, 2):
                out[..., i] += np_cubic(off - t) * v[..., min(max(i0 + off, 0), n - 1)]
    return out


def np_interpolate(x, sizes, mode, align_corners=False, scales=None):
    kind = {"bilinear": "linear", "trilinear": "linear", "bicubic": "cubic"}.get(mode, mode)
    out = x
    for d, n_out in enumerate(sizes):
        ax = 2 + d
        moved = np.moveaxis(out, ax, -1)
        res = np_interp_1d(moved, n_out, kind, align_corners, scales[d] if scales else None)
        out = np.moveaxis(res, -1, ax)
    return out


def np_unfold(x, k, d, p, s):
    N, C, H, W = x.shape
    xp = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])
    bh = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    bw = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((N, C, k[0], k[1], bh, bw))
    for i, j, a, b in np.ndindex(k[0], k[1], bh, bw):
        out[:, :, i, j, a, b] = xp[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out.reshape(N, C * k[0] * k[1], bh * bw)


def np_fold(cols, size, k, d, p, s):
    N, CK, L = cols.shape
    C = CK // (k[0] * k[1])
    H, W = size
    bh = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    bw = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]))
    c = cols.reshape(N, C, k[0], k[1], bh, bw)
    for i, j, a, b in np.ndindex(k[0], k[1], bh, bw):
        out[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]] += c[:, :, i, j, a, b]
    return out[:, :, p[0]:p[0] + H, p[1]:p[1] + W]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def np_mha(q, k, v, P, prefix, nhead, mask=None):
    """Batch-first multi-head attention from the module's in_proj/out_proj parameters."""
    W, b = P[prefix + "in_proj_weight"], P[prefix + "in_proj_bias"]
    E = q.shape[-1]
    hd = E // nhead
    Q, K, V = q @ W[:E].T + b[:E], k @ W[E:2 * E].T + b[E:2 * E], v @ W[2 * E:].T + b[2 * E:]
    N, L, S = q.shape[0], q.shape[1], k.shape[1]
    Q = Q.reshape(N, L, nhead, hd).transpose(0, 2, 1, 3)
    K = K.reshape(N, S, nhead, hd).transpose(0, 2, 1, 3)
    V = V.reshape(N, S, nhead, hd).transpose(0, 2, 1, 3)
    s = Q @ K.transpose(0, 1, 3, 2) / math.sqrt(hd)
    if mask is not None:
        s = s + mask
    s = np.exp(s - s.max(-1, keepdims=True))
    a = s / s.sum(-1, keepdims=True)
    out = (a @ V).transpose(0, 2, 1, 3).reshape(N, L, E)
    return out @ P[prefix + "out_proj.weight"].T + P[prefix + "out_proj.bias"]


def params(m):
    return {k: v.detach().numpy() for k, v in m.state_dict().items()}


# ---------------------------------------------------------------- convolution

@pytest.mark.parametrize("stride,padding,dilation,groups", [
    (1, 0, 1, 1), ((2, 1, 2), (1, 0, 1), (1, 2, 1), 2), (2, 1, 1, 4), (1, (0, 2, 1), (2, 1, 1), 1)])
def test_conv3d_matches_numpy(stride, padding, dilation, groups):
    x, w, b = rnd(2, 4, 5, 6, 5), rnd(4, 4 // groups, 3, 2, 3), rnd(4)
    t3 = lambda v: (v,) * 3 if isinstance(v, int) else v  # noqa: E731
    out = F.conv3d(T(x), T(w), T(b), stride, padding, dilation, groups)
    close(out, np_conv3d(x, w, b, t3(stride), t3(padding), t3(dilation), groups))


def test_conv3d_module_same_padding_unbatched_and_padding_modes():
    m = nn.Conv3d(2, 3, (2, 3, 4), padding="same", bias=False, dtype=ts.float64)
    x = rnd(2, 4, 5, 6)
    # 'same' with an even kernel pads the extra element at the end, as PyTorch
    xp = np.pad(x, [(0, 0), (0, 1), (1, 1), (1, 2)])
    ref = np_conv3d(xp[None], params(m)["weight"], None, (1,) * 3, (0,) * 3, (1,) * 3, 1)[0]
    close(m(T(x)), ref)
    r = nn.Conv3d(2, 3, 3, padding=1, padding_mode="replicate", dtype=ts.float64)
    xr = np.pad(x[None], [(0, 0), (0, 0), (1, 1), (1, 1), (1, 1)], mode="edge")
    close(r(T(x[None])), np_conv3d(xr, params(r)["weight"], params(r)["bias"], (1,) * 3, (0,) * 3, (1,) * 3, 1))


def test_conv3d_errors():
    with pytest.raises(ValueError, match="channels"):
        F.conv3d(T(rnd(1, 3, 4, 4, 4)), T(rnd(2, 2, 1, 1, 1)))
    with pytest.raises(ValueError, match="5D"):
        F.conv3d(T(rnd(1, 3, 4, 4, 4)), T(rnd(2, 3, 1, 1)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        F.conv3d(T(rnd(1, 1, 2, 4, 4)), T(rnd(1, 1, 3, 1, 1)))
    with pytest.raises(ValueError, match="strided"):
        F.conv3d(T(rnd(1, 1, 4, 4, 4)), T(rnd(1, 1, 3, 3, 3)), stride=2, padding="same")


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation", [
    (1, 0, 0, 1, 1), (2, 1, 1, 2, 1), (3, 2, 1, 1, 2)])
def test_conv_transpose1d_matches_numpy(stride, padding, output_padding, groups, dilation):
    x, w, b = rnd(2, 4, 5), rnd(4, 3, 3), rnd(3 * groups)
    out = F.conv_transpose1d(T(x), T(w), T(b), stride, padding, output_padding, groups, dilation)
    close(out, np_conv_transpose1d(x, w, b, stride, padding, output_padding, groups, dilation))


def test_conv_transpose1d_module_output_size_and_unbatched():
    m = nn.ConvTranspose1d(4, 3, 3, stride=3, dtype=ts.float64)
    x = rnd(4, 5)
    P = params(m)
    assert tuple(m(T(x), output_size=[17]).shape) == (3, 17)
    ref = np_conv_transpose1d(x[None], P["weight"], P["bias"], 3, 0, 2, 1, 1)[0]
    close(m(T(x), output_size=[17]), ref)
    with pytest.raises(ValueError, match="valid sizes range from 15 to 17"):
        m(T(x), output_size=[18])
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("k,s,p,d,ceil", [(3, None, 0, 1, False), (3, 2, 1, 2, True), (4, 3, 2, 1, True),
                                          (2, 1, 1, 1, False)])
def test_max_pool1d_matches_numpy(k, s, p, d, ceil):
    x = rnd(2, 3, 11)
    vals, idx = F.max_pool1d(T(x), k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = np_pool1d(x, k, s or k, p, d, ceil, "max")
    close(vals, ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    m = nn.MaxPool1d(k, s, p, d, ceil_mode=ceil)
    close(m(T(x[0])), ref[0])  # unbatched (C, L)


@pytest.mark.parametrize("k,s,p,ceil,cip", [(3, None, 0, False, True), (3, 2, 1, True, False),
                                            (4, 3, 2, True, True), (2, 1, 1, False, False)])
def test_avg_pool1d_matches_numpy(k, s, p, ceil, cip):
    x = rnd(2, 3, 10)
    ref, _ = np_pool1d(x, k, s or k, p, 1, ceil, "avg", cip)
    close(F.avg_pool1d(T(x), k, s, p, ceil, cip), ref)
    m = nn.AvgPool1d(k, s, p, ceil, cip)
    assert m.kernel_size == (k,) and m.stride == ((s or k),)
    close(m(T(x)), ref)


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((3, 10, 11), 4), ((1, 2, 6, 6), (3, None)),
                                       ((1, 1, 5, 3), (7, 5))])
def test_adaptive_max_pool2d_matches_numpy(shape, out):
    x = rnd(*shape)
    oh, ow = out if isinstance(out, tuple) else (out, out)
    ow = shape[-1] if ow is None else ow
    vals, idx = F.adaptive_max_pool2d(T(x), out, return_indices=True)
    ref, ref_idx = np_adaptive_max2d(x, oh, ow)
    close(vals, ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    close(nn.AdaptiveMaxPool2d(out)(T(x)), ref)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(T(x), (0, 2))


def test_one_d_ops_report_their_own_names_in_errors():
    x = T(rnd(1, 3, 2))
    with pytest.raises(ValueError, match="max_pool1d: the input of length 2"):
        F.max_pool1d(x, 5)
    with pytest.raises(ValueError, match="max_pool1d: padding should be at most half"):
        F.max_pool1d(T(rnd(1, 3, 6)), 3, padding=2)
    with pytest.raises(ValueError, match="avg_pool1d: the input of length 2"):
        nn.AvgPool1d(5)(x)
    with pytest.raises(ValueError, match="conv_transpose1d: input with 3 channels"):
        F.conv_transpose1d(x, T(rnd(4, 2, 3)))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose1d(x, T(rnd(3, 2, 3)), output_padding=1)
    with pytest.raises(ValueError, match="conv3d: input height 4"):
        F.conv3d(T(rnd(1, 3, 4, 4, 4)), T(rnd(2, 3, 1, 5, 1)))


# ---------------------------------------------------------------- interpolate / Upsample

INTERP = [
    ((1, 2, 5), dict(size=9, mode="linear")),
    ((1, 2, 5), dict(scale_factor=1.7, mode="linear")),
    ((1, 2, 5), dict(size=3, mode="linear", align_corners=True)),
    ((1, 2, 5), dict(size=1, mode="linear", align_corners=True)),
    ((2, 1, 4, 5), dict(scale_factor=2, mode="bilinear")),
    ((2, 1, 4, 5), dict(size=(7, 3), mode="bilinear", align_corners=True)),
    ((2, 1, 4, 5), dict(scale_factor=(1.3, 0.6), mode="bilinear")),
    ((1, 2, 4, 5), dict(scale_factor=2, mode="bicubic")),
    ((1, 2, 4, 5), dict(scale_factor=3, mode="bicubic")),
    ((1, 2, 4, 5), dict(size=(9, 8), mode="bicubic", align_corners=True)),
    ((1, 2, 7, 8), dict(scale_factor=0.45, mode="bicubic")),
    ((1, 2, 3, 4, 5), dict(scale_factor=1.5, mode="trilinear")),
    ((1, 2, 3, 4, 2), dict(scale_factor=2, mode="trilinear", align_corners=True)),
    ((1, 2, 3, 4), dict(scale_factor=2)),
    ((1, 2, 3, 4), dict(scale_factor=2.5)),
    ((1, 2, 5, 6), dict(size=(3, 4))),
    ((1, 2, 4, 7), dict(size=(5, 3), mode="nearest-exact")),
    ((1, 1, 4, 3, 5), dict(size=(3, 5, 2))),
    ((1, 2, 7, 5), dict(size=(3, 2), mode="area")),
    ((1, 2, 7), dict(size=3, mode="area")),
]


@pytest.mark.parametrize("shape,kw", INTERP)
def test_interpolate_matches_numpy(shape, kw):
    x = rnd(*shape)
    nd = len(shape) - 2
    if "size" in kw:
        size = kw["size"]
        sizes = list(size) if isinstance(size, tuple) else [size] * nd
        scales = None
    else:
        sf = kw["scale_factor"]
        scales = list(sf) if isinstance(sf, tuple) else [sf] * nd
        sizes = [int(math.floor(n * s)) for n, s in zip(shape[2:], scales)]
    ref = np_interpolate(x, sizes, kw.get("mode", "nearest"), kw.get("align_corners", False), scales)
    close(F.interpolate(T(x), **kw), ref)
    close(nn.Upsample(**kw)(T(x)), ref)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_float32_integer_upscale(mode):
    # float32 2-D integer upscales take a conv2d path of their own: values and gradients
    x = rnd(2, 3, 5, 4)
    x32 = ts.tensor(x.astype(np.float32)).requires_grad_()
    y = F.interpolate(x32, scale_factor=(2, 3), mode=mode)
    np.testing.assert_allclose(y.detach().numpy(), np_interpolate(x, [10, 12], mode, False, [2, 3]), atol=1e-5)
    g = rnd(2, 3, 10, 12)
    (y * ts.tensor(g.astype(np.float32))).sum().backward()
    x64 = T(x, grad=True)
    (F.interpolate(x64, scale_factor=(2, 3), mode=mode) * T(g)).sum().backward()
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), atol=1e-4)


def test_interpolate_conventions_pinned_to_pytorch():
    # Values produced by PyTorch 2.x (torch.nn.functional.interpolate) for this input.
    x = T([0.0, 1.0, 4.0, 9.0, 16.0]).reshape(1, 1, 5)
    close(F.interpolate(x, scale_factor=1.7, mode="linear").reshape(-1),
          [0.0, 0.3823529411764706, 0.9705882352941178, 2.6764705882352944, 4.735294117647058, 7.676470588235294,
           11.264705882352942, 15.382352941176473])
    x4 = x.reshape(1, 1, 1, 5)
    close(F.interpolate(x4, size=(1, 8), mode="bicubic").reshape(-1),
          [-0.09283447265625, 0.18756103515625, 1.176513671875, 2.619384765625, 5.441650390625, 8.471435546875,
           13.39508056640625, 16.64984130859375])
    close(F.interpolate(x4, size=(1, 8), mode="bicubic", align_corners=True).reshape(-1),
          [0.0, 0.26530612244897966, 1.3760932944606452, 2.7055393586005816, 5.341107871720127, 7.883381924198245,
           12.463556851311946, 16.0])
    close(F.interpolate(x, size=8, mode="nearest-exact").reshape(-1), [0, 0, 1, 4, 4, 9, 16, 16])
    close(F.interpolate(x, size=7, mode="nearest").reshape(-1), [0, 0, 1, 4, 4, 9, 16])
    close(F.interpolate(x, size=3, mode="area").reshape(-1), [0.5, 4.666666666666667, 12.5])


def test_interpolate_integer_input_nearest_and_errors():
    x = ts.tensor([[[1, 2, 3]]])
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=2).numpy(), [[[1, 1, 2, 2, 3, 3]]])
    xf = T(rnd(1, 1, 4, 4))
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(xf, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(xf)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(xf, scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="expects 3D input"):
        F.interpolate(xf, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match="mode must be one of"):
        F.interpolate(xf, scale_factor=2, mode="cubic")
    with pytest.raises(ValueError, match="2 values"):
        F.interpolate(xf, size=(2, 3, 4))
    with pytest.raises(TypeError, match="floating point"):
        F.interpolate(x, scale_factor=2, mode="linear")
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(3, 4), mode="bilinear")) == "Upsample(size=(3, 4), mode='bilinear')"


def test_upsampling_aliases():
    x = rnd(1, 1, 3, 4)
    close(nn.UpsamplingBilinear2d(scale_factor=2)(T(x)), np_interpolate(x, [6, 8], "bilinear", True))
    close(nn.UpsamplingNearest2d(size=(6, 8))(T(x)), np_interpolate(x, [6, 8], "nearest"))


# ---------------------------------------------------------------- unfold / fold

@pytest.mark.parametrize("k,d,p,s", [(2, 1, 0, 1), ((2, 3), (1, 2), 1, (2, 1)), (3, 1, 1, 2)])
def test_unfold_fold_match_numpy_and_are_adjoint(k, d, p, s):
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    x = rnd(2, 3, 5, 6)
    cols = F.unfold(T(x), k, d, p, s)
    ref = np_unfold(x, pair(k), pair(d), pair(p), pair(s))
    close(cols, ref)
    y = rnd(*ref.shape)
    back = F.fold(T(y), (5, 6), k, d, p, s)
    close(back, np_fold(y, (5, 6), pair(k), pair(d), pair(p), pair(s)))
    # <unfold(x), y> == <x, fold(y)>
    assert abs((ref * y).sum() - (x * back.numpy()).sum()) < 1e-9


def test_unfold_fold_unbatched_and_errors():
    x = rnd(3, 4, 4)
    close(F.unfold(T(x), 2), np_unfold(x[None], (2, 2), (1, 1), (0, 0), (1, 1))[0])
    with pytest.raises(ValueError, match="divisible by the product of kernel_size"):
        F.fold(T(rnd(1, 5, 9)), (4, 4), 2)
    with pytest.raises(ValueError, match="number of sliding blocks"):
        F.fold(T(rnd(1, 4, 8)), (4, 4), 2)
    with pytest.raises(ValueError, match="does not fit"):
        F.unfold(T(rnd(1, 1, 2, 2)), 3)


# ---------------------------------------------------------------- activations, normalization

def test_elementwise_activations_match_numpy():
    x = rnd(50) * 5
    close(F.relu6(T(x)), np.clip(x, 0, 6))
    close(F.hardswish(T(x)), x * np.clip(x + 3, 0, 6) / 6)
    close(F.hardsigmoid(T(x)), np.clip(x + 3, 0, 6) / 6)
    close(F.mish(T(x)), x * np.tanh(np.log1p(np.exp(x))))
    close(F.hardtanh(T(x), -2.0, 3.0), np.clip(x, -2, 3))
    for m, ref in ((nn.ReLU6(), np.clip(x, 0, 6)), (nn.Hardswish(), x * np.clip(x + 3, 0, 6) / 6),
                   (nn.Mish(), x * np.tanh(np.log1p(np.exp(x))))):
        close(m(T(x)), ref)
    t = T(x)
    assert nn.ReLU6(inplace=True)(t) is t
    close(t, np.clip(x, 0, 6))
    assert repr(nn.ReLU6()) == "ReLU6()" and repr(nn.Hardswish(inplace=True)) == "Hardswish(inplace=True)"


def test_prelu():
    x = rnd(2, 3, 4)
    m = nn.PReLU(3, init=0.1, dtype=ts.float64)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [("weight", (3,))]
    close(m.weight, [0.1] * 3)
    w = np.array([0.1, -0.5, 2.0])
    close(F.prelu(T(x), T(w)), np.where(x > 0, x, w[None, :, None] * x))
    close(nn.PReLU()(T(x)).detach(), np.where(x > 0, x, 0.25 * x), atol=1e-7)
    with pytest.raises(ValueError, match="channel"):
        F.prelu(T(x), T([0.1, 0.2]))


def test_rms_norm():
    x = rnd(2, 3, 4)
    w = rnd(3, 4)
    ref = x / np.sqrt((x ** 2).mean(axis=(1, 2), keepdims=True) + 1e-3) * w
    close(F.rms_norm(T(x), (3, 4), T(w), 1e-3), ref)
    m = nn.RMSNorm(4, dtype=ts.float64)
    close(m.weight, np.ones(4))
    eps64 = np.finfo(np.float64).eps  # eps=None: the dtype's machine epsilon
    close(m(T(x)), x / np.sqrt((x ** 2).mean(-1, keepdims=True) + eps64))
    x32 = F.rms_norm(ts.tensor(np.full((1, 4), 1e-4, dtype=np.float32)), (4,))
    np.testing.assert_allclose(x32.numpy(), 1e-4 / np.sqrt(1e-8 + np.finfo(np.float32).eps), rtol=1e-5)
    assert repr(m) == "RMSNorm((4,), eps=None, elementwise_affine=True)"
    assert list(nn.RMSNorm(4, elementwise_affine=False).state_dict()) == []
    with pytest.raises(ValueError, match="expected input with shape"):
        F.rms_norm(T(x), (3,))


def test_normalize_and_cosine_similarity():
    x, y = rnd(3, 4, 2), rnd(1, 4, 2)
    close(F.normalize(T(x)), x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
    close(F.normalize(T(x), p=1, dim=-1), x / np.abs(x).sum(-1, keepdims=True))
    close(F.normalize(T(np.zeros((2, 3)))), np.zeros((2, 3)))
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    close(F.cosine_similarity(T(x), T(y)), (x * y).sum(1) / (nx * ny))
    # each norm is clamped to eps separately (PyTorch >= 1.12)
    a, b = np.array([1e-9, 0.0]), np.array([1e-2, 0.0])
    close(F.cosine_similarity(T(a), T(b), dim=0), 1e-11 / (1e-8 * 1e-2))


def test_dropout2d_drops_whole_channels():
    x = T(np.ones((4, 8, 3, 3)))
    ts.manual_seed(1)
    y = F.dropout2d(x, 0.5).numpy()
    per_channel = y.reshape(4, 8, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0 < (per_channel[..., 0] == 0).sum() < 32
    m = nn.Dropout2d(0.3)
    m.eval()
    assert m(x) is x
    close(F.dropout2d(x, 1.0), np.zeros((4, 8, 3, 3)))
    y1 = F.dropout1d(T(np.ones((2, 6, 5))), 0.5).numpy()
    assert np.all((y1 == 0).all(-1) | (y1 == 2.0).all(-1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)


# ---------------------------------------------------------------- losses

def test_kl_div():
    x = np.log(np.abs(rnd(3, 5)) + 0.1)
    t = np.abs(rnd(3, 5))
    t[0, 1] = 0.0
    pointwise = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1)) - x), 0.0)
    close(F.kl_div(T(x), T(t), reduction="none"), pointwise)
    close(F.kl_div(T(x), T(t), reduction="sum"), pointwise.sum())
    close(F.kl_div(T(x), T(t), reduction="batchmean"), pointwise.sum() / 3)
    with pytest.warns(UserWarning, match="batchmean"):
        close(F.kl_div(T(x), T(t)), pointwise.mean())
    lt = rnd(3, 5)
    close(nn.KLDivLoss(reduction="sum", log_target=True)(T(x), T(lt)), (np.exp(lt) * (lt - x)).sum())
    with pytest.raises(ValueError, match="reduction"):
        nn.KLDivLoss(reduction="avg")


def test_huber_loss():
    x, y, w = rnd(3, 4), rnd(3, 4), np.abs(rnd(3, 4))
    d = x - y
    for delta in (0.5, 1.0, 2.0):
        ref = np.where(np.abs(d) < delta, 0.5 * d ** 2, delta * (np.abs(d) - 0.5 * delta))
        close(F.huber_loss(T(x), T(y), delta=delta, reduction="none"), ref)
        close(nn.HuberLoss(delta=delta)(T(x), T(y)), ref.mean())
        close(F.huber_loss(T(x), T(y), "sum", delta, T(w)), (ref * w).sum())
    # delta = 1 is smooth_l1
    close(F.huber_loss(T(x), T(y)), F.smooth_l1_loss(T(x), T(y)).numpy())
    with pytest.raises(ValueError, match="same size"):
        F.huber_loss(T(x), T(y), weight=T(w[0]))


# ---------------------------------------------------------------- EmbeddingBag

def np_embedding_bag(idx_bags, weight, mode, psw=None, padding_idx=None):
    out = np.zeros((len(idx_bags), weight.shape[1]))
    for b, bag in enumerate(idx_bags):
        keep = [(j, i) for j, i in enumerate(bag) if i != padding_idx]
        if not keep:
            continue
        rows = np.stack([weight[i] * (psw[b][j] if psw is not None else 1.0) for j, i in keep])
        out[b] = {"sum": rows.sum(0), "mean": rows.mean(0), "max": rows.max(0)}[mode]
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_numpy(mode):
    w = rnd(10, 3)
    flat = [1, 2, 4, 5, 4, 3, 2, 9]
    offsets = [0, 3, 3, 6]  # the third bag is empty
    bags = [flat[0:3], flat[3:3], flat[3:6], flat[6:]]
    close(F.embedding_bag(ts.tensor(flat), T(w), ts.tensor(offsets), mode=mode), np_embedding_bag(bags, w, mode))
    two_d = [[1, 2, 4], [5, 4, 3]]
    close(F.embedding_bag(ts.tensor(two_d), T(w), mode=mode), np_embedding_bag(two_d, w, mode))
    last = F.embedding_bag(ts.tensor(flat), T(w), ts.tensor(offsets + [8]), mode=mode, include_last_offset=True)
    close(last, np_embedding_bag(bags, w, mode))
    close(F.embedding_bag(ts.tensor(flat), T(w), ts.tensor(offsets), mode=mode, padding_idx=4),
          np_embedding_bag(bags, w, mode, padding_idx=4))


def test_embedding_bag_module_and_per_sample_weights():
    m = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2, dtype=ts.float64)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [("weight", (10, 3))]
    close(m.weight[2], np.zeros(3))
    psw = rnd(2, 3)
    idx = [[1, 2, 4], [5, 4, 3]]
    close(m(ts.tensor(idx), per_sample_weights=T(psw)),
          np_embedding_bag(idx, params(m)["weight"], "sum", psw, padding_idx=2))
    assert repr(m) == "EmbeddingBag(10, 3, mode='sum', padding_idx=2)"
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(ts.tensor(idx), m.weight, per_sample_weights=T(psw), mode="mean")
    with pytest.raises(ValueError, match="offsets has to be None"):
        m(ts.tensor(idx), ts.tensor([0]))
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        m(ts.tensor([1, 2]), ts.tensor([1]))
    with pytest.raises(IndexError, match="out of range"):
        m(ts.tensor([[1, 12]]))


# ---------------------------------------------------------------- recurrent cells, packed sequences

def test_cells_state_dict_and_init_match_pytorch():
    for cls, gates in ((nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)):
        m = cls(3, 5)
        assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [
            ("weight_ih", (5 * gates, 3)), ("weight_hh", (5 * gates, 5)), ("bias_ih", (5 * gates,)),
            ("bias_hh", (5 * gates,))]
        assert all(np.abs(p.detach().numpy()).max() <= 1 / math.sqrt(5) for p in m.parameters())
        assert list(cls(3, 5, bias=False).state_dict()) == ["weight_ih", "weight_hh"]
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    assert repr(nn.LSTMCell(3, 4, bias=False)) == "LSTMCell(3, 4, bias=False)"


def test_cells_match_numpy():
    x, h, c = rnd(2, 3), rnd(2, 4), rnd(2, 4)
    m = nn.LSTMCell(3, 4, dtype=ts.float64)
    P = params(m)
    g = x @ P["weight_ih"].T + P["bias_ih"] + h @ P["weight_hh"].T + P["bias_hh"]
    i, f, gg, o = np.split(g, 4, 1)
    c1 = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
    h1, c1_ = m(T(x), (T(h), T(c)))
    close(h1, sigmoid(o) * np.tanh(c1))
    close(c1_, c1)
    hu, cu = m(T(x[0]))  # unbatched, zero state
    gu = x[0] @ P["weight_ih"].T + P["bias_ih"] + P["bias_hh"]
    iu, fu, gu_, ou = np.split(gu, 4)
    close(hu, sigmoid(ou) * np.tanh(sigmoid(iu) * np.tanh(gu_)))

    m = nn.GRUCell(3, 4, dtype=ts.float64)
    P = params(m)
    xr, xz, xn = np.split(x @ P["weight_ih"].T + P["bias_ih"], 3, 1)
    hr, hz, hn = np.split(h @ P["weight_hh"].T + P["bias_hh"], 3, 1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    close(m(T(x), T(h)), (1 - z) * n + z * h)

    for nl, act in (("tanh", np.tanh), ("relu", lambda v: np.maximum(v, 0))):
        m = nn.RNNCell(3, 4, nonlinearity=nl, dtype=ts.float64)
        P = params(m)
        close(m(T(x), T(h)), act(x @ P["weight_ih"].T + P["bias_ih"] + h @ P["weight_hh"].T + P["bias_hh"]))
    with pytest.raises(RuntimeError, match="input_size"):
        m(T(rnd(2, 5)))
    with pytest.raises(RuntimeError, match="hidden"):
        m(T(x), T(rnd(3, 4)))


def test_pad_sequence_and_pack_roundtrip():
    seqs = [rnd(3, 2), rnd(5, 2), rnd(1, 2)]
    out = pad_sequence([T(s) for s in seqs], padding_value=-1.0)
    ref = np.full((5, 3, 2), -1.0)
    for b, s in enumerate(seqs):
        ref[:len(s), b] = s
    close(out, ref)
    left = pad_sequence([T(s[:, 0]) for s in seqs], batch_first=True, padding_side="left").numpy()
    np.testing.assert_array_equal(left[2], [0, 0, 0, 0, seqs[2][0, 0]])

    packed = pack_padded_sequence(out, [3, 5, 1], enforce_sorted=False)
    assert isinstance(packed, PackedSequence)
    assert packed.batch_sizes.tolist() == [3, 2, 2, 1, 1]
    assert packed.sorted_indices.tolist() == [1, 0, 2] and packed.unsorted_indices.tolist() == [1, 0, 2]
    # time-major, longest sequence first within each step
    close(packed.data[:3], np.stack([seqs[1][0], seqs[0][0], seqs[2][0]]))
    padded, lengths = pad_packed_sequence(packed, batch_first=True, padding_value=7.0, total_length=6)
    assert lengths.tolist() == [3, 5, 1] and tuple(padded.shape) == (3, 6, 2)
    for b, s in enumerate(seqs):
        close(padded[b, :len(s)], s)
        assert (padded[b, len(s):].numpy() == 7.0).all()
    for a, b in zip(unpack_sequence(pack_sequence([T(s) for s in seqs], enforce_sorted=False)), seqs):
        close(a, b)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(out, [3, 5, 1])
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(out, [3, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(packed, total_length=2)


@pytest.mark.parametrize("cls,kw", [(nn.LSTM, dict(num_layers=2, bidirectional=True)),
                                    (nn.GRU, dict(bidirectional=True, batch_first=True)),
                                    (nn.RNN, dict(num_layers=2, nonlinearity="relu")),
                                    (nn.LSTM, dict(batch_first=True))])
def test_rnn_on_packed_sequence_equals_each_sequence_unpadded(cls, kw):
    m = cls(2, 3, dtype=ts.float64, **kw)
    bf = kw.get("batch_first", False)
    lengths = [3, 5, 2, 4]
    seqs = [rnd(n, 2) for n in lengths]
    D = 2 if m.bidirectional else 1
    h0 = rnd(m.num_layers * D, 4, 3)
    hx = (T(h0), T(h0 * 0.5)) if cls is nn.LSTM else T(h0)
    padded = pad_sequence([T(s) for s in seqs], batch_first=bf)
    out, h = m(pack_padded_sequence(padded, lengths, batch_first=bf, enforce_sorted=False), hx)
    assert isinstance(out, PackedSequence)
    out, out_len = pad_packed_sequence(out, batch_first=bf)
    assert out_len.tolist() == lengths
    for b, s in enumerate(seqs):
        hb = (T(h0[:, b]), T(h0[:, b] * 0.5)) if cls is nn.LSTM else T(h0[:, b])
        ref_out, ref_h = m(T(s), hb)  # unbatched, unpadded
        close((out[b] if bf else out[:, b])[:len(s)], ref_out.numpy())
        assert np.all((out[b] if bf else out[:, b]).numpy()[len(s):] == 0)
        if cls is nn.LSTM:
            close(h[0][:, b], ref_h[0].numpy())
            close(h[1][:, b], ref_h[1].numpy())
        else:
            close(h[:, b], ref_h.numpy())


def test_packed_sequence_gradients_reach_only_real_steps():
    m = nn.GRU(2, 3, dtype=ts.float64)
    x = T(rnd(4, 2, 2), grad=True)
    out, _ = m(pack_padded_sequence(x, [4, 2]))
    pad_packed_sequence(out)[0].sum().backward()
    g = x.grad.numpy()
    assert np.all(g[2:, 1] == 0) and np.all(g[:, 0] != 0) and np.all(g[:2, 1] != 0)


# ---------------------------------------------------------------- transformer

def test_transformer_decoder_layer_matches_numpy():
    E, H = 8, 2
    m = nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, batch_first=True, dtype=ts.float64)
    P = params(m)
    tgt, mem = rnd(2, 3, E), rnd(2, 5, E)
    causal = np.triu(np.full((3, 3), -np.inf), 1)
    kpm = np.zeros((2, 1, 1, 5))
    kpm[0, ..., 4] = -np.inf

    def ff(x):
        return np.maximum(x @ P["linear1.weight"].T + P["linear1.bias"], 0) @ P["linear2.weight"].T + \
            P["linear2.bias"]

    def ln(x, i):
        return np_layer_norm(x, P[f"norm{i}.weight"], P[f"norm{i}.bias"])
    x = ln(tgt + np_mha(tgt, tgt, tgt, P, "self_attn.", H, causal), 1)
    x = ln(x + np_mha(x, mem, mem, P, "multihead_attn.", H, kpm), 2)
    x = ln(x + ff(x), 3)
    mask = nn.Transformer.generate_square_subsequent_mask(3, dtype=ts.float64)
    kpm_bool = ts.tensor([[False] * 4 + [True], [False] * 5])
    close(m(T(tgt), T(mem), tgt_mask=mask, memory_key_padding_mask=kpm_bool), x)

    m.norm_first = True
    y = tgt + np_mha(ln(tgt, 1), ln(tgt, 1), ln(tgt, 1), P, "self_attn.", H)
    y = y + np_mha(ln(y, 2), mem, mem, P, "multihead_attn.", H)
    y = y + ff(ln(y, 3))
    close(m(T(tgt), T(mem)), y)


TRANSFORMER_KEYS_PER_ENCODER_LAYER = [
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias", "norm1.weight", "norm1.bias",
    "norm2.weight", "norm2.bias"]
TRANSFORMER_KEYS_PER_DECODER_LAYER = [
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias", "multihead_attn.out_proj.weight",
    "multihead_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
    "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "norm3.weight", "norm3.bias"]


def test_transformer_structure_init_and_forward():
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16,
                       dropout=0.0, dtype=ts.float64)
    expected = [f"encoder.layers.{i}.{k}" for i in range(2) for k in TRANSFORMER_KEYS_PER_ENCODER_LAYER]
    expected += ["encoder.norm.weight", "encoder.norm.bias"]
    expected += [f"decoder.layers.0.{k}" for k in TRANSFORMER_KEYS_PER_DECODER_LAYER]
    expected += ["decoder.norm.weight", "decoder.norm.bias"]
    assert list(m.state_dict()) == expected
    sd = m.state_dict()
    assert tuple(sd["decoder.layers.0.multihead_attn.in_proj_weight"].shape) == (24, 8)
    assert tuple(sd["encoder.layers.1.linear1.weight"].shape) == (16, 8)
    # Xavier-uniform for every weight with more than one dim; biases of in_proj stay 0
    w = sd["encoder.layers.0.linear1.weight"].numpy()
    assert np.abs(w).max() <= math.sqrt(6 / (16 + 8)) and w.std() > 0.1
    assert np.all(sd["decoder.layers.0.self_attn.in_proj_bias"].numpy() == 0)
    src, tgt = T(rnd(5, 2, 8)), T(rnd(3, 2, 8))
    mask = m.generate_square_subsequent_mask(3, dtype=ts.float64)
    close(m(src, tgt, tgt_mask=mask), m.decoder(tgt, m.encoder(src), tgt_mask=mask).numpy())
    with pytest.raises(RuntimeError, match="batch number"):
        m(src, T(rnd(3, 3, 8)))
    with pytest.raises(RuntimeError, match="d_model"):
        m(src, T(rnd(3, 2, 6)))
    assert m.d_model == 8 and m.nhead == 2 and m.batch_first is False


def test_transformer_decoder_stacks_deep_copies():
    layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, dtype=ts.float64)
    dec = nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(8, dtype=ts.float64))
    assert dec.layers[0] is not dec.layers[1] and dec.num_layers == 2
    tgt, mem = T(rnd(3, 2, 8)), T(rnd(4, 2, 8))
    close(dec(tgt, mem), dec.norm(dec.layers[1](dec.layers[0](tgt, mem), mem)).numpy())


# ---------------------------------------------------------------- containers, state dicts

def test_parameter_list():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([nn.Parameter(ts.randn(2, 3)), ts.randn(3)])

    net = Net()
    assert list(net.state_dict()) == ["ws.0", "ws.1"]
    assert isinstance(net.ws[1], nn.Parameter) and net.ws[1].requires_grad
    net.ws.append(ts.zeros(4))
    assert len(net.ws) == 3 and len(list(net.parameters())) == 3 and tuple(net.ws[-1].shape) == (4,)
    net.ws[0] = ts.ones(1)
    assert tuple(net.state_dict()["ws.0"].shape) == (1,)
    assert [tuple(p.shape) for p in net.ws] == [(1,), (3,), (4,)]
    assert repr(nn.ParameterList([ts.zeros(2, 3)])) == (
        "ParameterList(\n    (0): Parameter containing: [tessel.float32 of size 2x3]\n)")
    with pytest.raises(IndexError):
        net.ws[3]


def test_parameter_dict():
    d = nn.ParameterDict({"a": ts.randn(2), "b": nn.Parameter(ts.randn(3))})
    assert list(d.state_dict()) == ["a", "b"] and isinstance(d["a"], nn.Parameter)
    d["c"] = ts.zeros(1)
    assert list(d.keys()) == ["a", "b", "c"] and "c" in d and len(d) == 3
    assert d.pop("a").shape == (2,) and list(d) == ["b", "c"] and list(d.state_dict()) == ["b", "c"]
    d.update([("e", ts.ones(2))])
    assert d.get("zz") is None and d.setdefault("f", ts.ones(1)) is d["f"]
    loaded = nn.ParameterDict({"b": ts.zeros(3), "c": ts.zeros(1), "e": ts.zeros(2), "f": ts.zeros(1)})
    loaded.load_state_dict(d.state_dict())
    close(loaded["b"].detach(), d["b"].detach().numpy())
    assert repr(nn.ParameterDict({"w": ts.zeros(2, dtype=ts.float64)})) == (
        "ParameterDict(\n    (w): Parameter containing: [tessel.float64 of size 2]\n)")
    with pytest.raises(KeyError):
        d["keys"] = ts.zeros(1)


# Parameter names and shapes as PyTorch's state_dict has them (checked against torch 2.x).
STATE_DICTS = [
    (lambda: nn.Conv3d(4, 6, (3, 2, 1), groups=2), [("weight", (6, 2, 3, 2, 1)), ("bias", (6,))]),
    (lambda: nn.ConvTranspose1d(4, 6, 3, groups=2), [("weight", (4, 3, 3)), ("bias", (6,))]),
    (lambda: nn.RMSNorm((3, 4)), [("weight", (3, 4))]),
    (lambda: nn.PReLU(5), [("weight", (5,))]),
    (lambda: nn.EmbeddingBag(7, 2), [("weight", (7, 2))]),
    (lambda: nn.MaxPool1d(2), []), (lambda: nn.Upsample(scale_factor=2), []), (lambda: nn.Mish(), []),
]


@pytest.mark.parametrize("make,expected", STATE_DICTS)
def test_state_dict_names_and_shapes(make, expected):
    assert [(k, tuple(v.shape)) for k, v in make().state_dict().items()] == expected


def test_conv_default_init_bounds():
    m = nn.Conv3d(4, 6, (3, 2, 1), groups=2)
    bound = 1 / math.sqrt(2 * 3 * 2 * 1)  # fan_in = in_channels / groups * kernel volume
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    assert m.weight.detach().numpy().std() > bound / 4
    assert repr(m) == "Conv3d(4, 6, kernel_size=(3, 2, 1), stride=(1, 1, 1), groups=2)"
    t = nn.ConvTranspose1d(4, 6, 3, groups=2)
    bound = 1 / math.sqrt(3 * 3)  # weight (in, out / groups, K): fan_in = dim 1 * K
    assert np.abs(t.weight.detach().numpy()).max() <= bound
    assert repr(t) == "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(1,), groups=2)"


def test_embedding_bag_init_is_standard_normal():
    ts.manual_seed(0)
    w = nn.EmbeddingBag(2000, 8).weight.detach().numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


# ---------------------------------------------------------------- gradients (float64 finite differences)

def R(*s, pos=False):
    t = ts.tensor(RNG.standard_normal(s))
    if pos:
        t = t.abs() + 0.5
    return t.requires_grad_()


def _seeded_dropout2d(x):
    ts.manual_seed(3)
    return F.dropout2d(x, 0.4)


def _packed_lstm():
    m = nn.LSTM(2, 2, num_layers=2, bidirectional=True, dtype=ts.float64)

    def f(x, h0):
        out, (h, c) = m(pack_padded_sequence(x, [1, 3], enforce_sorted=False), (h0, h0 * 0.5))
        return pad_packed_sequence(out)[0], h, c
    return f, [R(3, 2, 2), R(4, 2, 2)]


def _cell(cls):
    m = cls(2, 3, dtype=ts.float64)

    def f(x, h):
        out = m(x, (h, h * 0.5) if cls is nn.LSTMCell else h)
        return out[0] + out[1] if isinstance(out, tuple) else out
    return f, [R(2, 2), R(2, 3)]


def _decoder_layer():
    m = nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, batch_first=True, dtype=ts.float64)
    return (lambda t, mem: m(t, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(2, dtype=ts.float64)),
            [R(1, 2, 4), R(1, 3, 4)])


GRAD_CASES = {
    "conv3d": (lambda x, w, b: F.conv3d(x, w, b, (2, 1, 1), (1, 0, 1), (1, 2, 1), 2),
               [R(1, 4, 3, 5, 3), R(2, 2, 2, 2, 2), R(2)]),
    "conv3d_same": (lambda x, w: F.conv3d(x, w, padding="same"), [R(1, 1, 3, 3, 3), R(1, 1, 2, 2, 3)]),
    "conv_transpose1d": (lambda x, w, b: F.conv_transpose1d(x, w, b, 2, 1, 1, 2, 2), [R(1, 4, 3), R(4, 1, 3), R(2)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), [R(2, 2, 7)]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 3, 2, 1, True, False), [R(2, 2, 7)]),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (2, 3)), [R(1, 2, 5, 4)]),
    "interp_nearest": (lambda x: F.interpolate(x, scale_factor=(2.0, 1.5)), [R(1, 1, 2, 3)]),
    "interp_linear": (lambda x: F.interpolate(x, size=5, mode="linear"), [R(1, 2, 3)]),
    "interp_bilinear_x2": (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), [R(1, 1, 3, 3)]),
    "interp_bilinear_ac": (lambda x: F.interpolate(x, size=(4, 2), mode="bilinear", align_corners=True),
                           [R(1, 1, 3, 3)]),
    "interp_bicubic": (lambda x: F.interpolate(x, size=(5, 3), mode="bicubic"), [R(1, 1, 3, 4)]),
    "interp_bicubic_x2": (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), [R(1, 1, 3, 3)]),
    "interp_trilinear": (lambda x: F.interpolate(x, size=(3, 2, 3), mode="trilinear"), [R(1, 1, 2, 3, 2)]),
    "interp_area": (lambda x: F.interpolate(x, size=(2, 3), mode="area"), [R(1, 1, 5, 4)]),
    "unfold": (lambda x: F.unfold(x, (2, 3), (1, 2), 1, (2, 1)), [R(1, 2, 4, 5)]),
    "fold": (lambda x: F.fold(x, (4, 5), 2, 1, 1, 2), [R(1, 8, 9)]),
    "normalize": (lambda x: F.normalize(x, dim=-1), [R(3, 4)]),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b), [R(3, 4), R(1, 4)]),
    "kl_div": (lambda x, t: F.kl_div(x, t, reduction="batchmean"), [R(3, 4), R(3, 4, pos=True)]),
    "kl_div_log_target": (lambda x, t: F.kl_div(x, t, reduction="sum", log_target=True), [R(3, 4), R(3, 4)]),
    "huber_loss": (lambda x, y: F.huber_loss(x, y, delta=0.8), [R(3, 4), R(3, 4)]),
    "rms_norm": (lambda x, w: F.rms_norm(x, (4,), w, 1e-5), [R(3, 4), R(4)]),
    "prelu": (lambda x, w: F.prelu(x, w), [R(2, 3, 2), R(3)]),
    "hardswish": (F.hardswish, [R(12) * 3]),
    "mish": (F.mish, [R(8)]),
    "relu6": (F.relu6, [R(12) * 4]),
    "embedding_bag_mean": (lambda w: F.embedding_bag(ts.tensor([1, 2, 4, 4, 3]), w, ts.tensor([0, 2, 2])),
                           [R(5, 3)]),
    "embedding_bag_max": (lambda w: F.embedding_bag(ts.tensor([[1, 2], [4, 3]]), w, mode="max"), [R(5, 3)]),
    "embedding_bag_psw": (lambda w, p: F.embedding_bag(ts.tensor([1, 2, 4]), w, ts.tensor([0, 1]), mode="sum",
                                                       per_sample_weights=p), [R(5, 3), R(3)]),
    "dropout2d": (_seeded_dropout2d, [R(2, 3, 2, 2)]),
    "rnn_cell": _cell(nn.RNNCell),
    "lstm_cell": _cell(nn.LSTMCell),
    "gru_cell": _cell(nn.GRUCell),
    "packed_lstm": _packed_lstm(),
    "transformer_decoder_layer": _decoder_layer(),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradcheck(name):
    fn, inputs = GRAD_CASES[name]
    inputs = [t.detach().requires_grad_() for t in inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gradcheck(fn, inputs)
