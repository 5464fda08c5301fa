"""conv3d, conv_transpose1d, unfold and fold, built on the 2-D kernels and index ops."""
import tessel as ts
from tessel import _C

from ._util import check_positive, ntuple


def _same_padding(kernel, dilation):
    """(left, right) per dim for padding='same': total d*(k-1), the odd element on the right."""
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return out


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution of (N, C, D, H, W) input with weight (O, C/groups, kD, kH, kW).

    The depth taps are stacked into channels so the whole op is one conv2d over
    (N * D_out, kD * C, H, W): the oneDNN 2-D kernel does the work."""
    op = "conv3d"
    if input.dim() not in (4, 5):
        raise ValueError(f"{op}: expected 4D (unbatched) or 5D (batched) input, got {input.dim()}D")
    if weight.dim() != 5:
        raise ValueError(f"{op}: expected a 5D weight (O, C/groups, kD, kH, kW), got {weight.dim()}D")
    unbatched = input.dim() == 4
    x = input.unsqueeze(0) if unbatched else input
    stride = ntuple(stride, 3, op, "stride")
    dilation = ntuple(dilation, 3, op, "dilation")
    check_positive(stride, op, "stride")
    check_positive(dilation, op, "dilation")
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    O, Cg, kd, kh, kw = weight.shape
    N, C = x.shape[0], x.shape[1]
    if C != Cg * groups:
        raise ValueError(f"{op}: expected input with {Cg * groups} channels (weight {tuple(weight.shape)}, "
                         f"groups={groups}), got {C}")
    if O % groups:
        raise ValueError(f"{op}: out channels {O} are not divisible by groups={groups}")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of ['valid', 'same']")
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            lr = _same_padding((kd, kh, kw), dilation)
            x = _C.pad(x, [lr[2][0], lr[2][1], lr[1][0], lr[1][1], lr[0][0], lr[0][1]])
        padding = (0, 0, 0)
    else:
        padding = ntuple(padding, 3, op, "padding")
        if any(p < 0 for p in padding):
            raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    pd, ph, pw = padding
    if pd:
        x = _C.pad(x, [0, 0, 0, 0, pd, pd])
    D = x.shape[2]
    Do = (D - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    if Do <= 0:
        raise ValueError(f"{op}: input depth {D} (padded) is smaller than the dilated kernel "
                         f"{dilation[0] * (kd - 1) + 1}")
    H, W = x.shape[3], x.shape[4]
    for n, pad, k, d, name in ((H, ph, kh, dilation[1], "height"), (W, pw, kw, dilation[2], "width")):
        if n + 2 * pad < d * (k - 1) + 1:
            raise ValueError(f"{op}: input {name} {n} (padded {n + 2 * pad}) is smaller than the dilated kernel "
                             f"{d * (k - 1) + 1}")
    last = stride[0] * (Do - 1) + 1
    taps = [x[:, :, k * dilation[0]:k * dilation[0] + last:stride[0]] for k in range(kd)]
    # (N, kD, C, Do, H, W) -> (N, Do, groups, kD, C/groups, H, W): each group's channels stay together.
    xs = ts.stack(taps, 1).reshape(N, kd, groups, Cg, Do, H, W).permute(0, 4, 2, 1, 3, 5, 6)
    xs = xs.reshape(N * Do, groups * kd * Cg, H, W)
    w = weight.permute(0, 2, 1, 3, 4).reshape(O, kd * Cg, kh, kw)
    out = _C._nn.conv2d(xs, w, bias, stride[1:], (ph, pw), dilation[1:], groups)
    Ho, Wo = out.shape[2], out.shape[3]
    out = out.reshape(N, Do, O, Ho, Wo).permute(0, 2, 1, 3, 4).contiguous()
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution of (N, C, L) input with weight (C, O/groups, K), as conv_transpose2d
    on a height-1 image."""
    op = "conv_transpose1d"
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got {input.dim()}D")
    if weight.dim() != 3:
        raise ValueError(f"{op}: expected a 3D weight (C, O/groups, K), got {weight.dim()}D")
    s, p, op_, d = (ntuple(v, 1, op, n)[0] for v, n in ((stride, "stride"), (padding, "padding"),
                                                      (output_padding, "output_padding"), (dilation, "dilation")))
    unbatched = input.dim() == 2
    x = input.unsqueeze(0) if unbatched else input
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{op}: input with {x.shape[1]} channels does not match weight of shape "
                         f"{tuple(weight.shape)} (in_channels first)")
    if groups <= 0 or weight.shape[0] % groups:
        raise ValueError(f"{op}: in_channels {weight.shape[0]} are not divisible by groups={groups}")
    if s <= 0 or d <= 0 or p < 0 or op_ < 0:
        raise ValueError(f"{op}: stride and dilation must be positive and padding, output_padding non-negative")
    if op_ >= s and op_ >= d:
        raise ValueError(f"{op}: output_padding ({op_}) must be smaller than either stride ({s}) or "
                         f"dilation ({d})")
    out = _C._nn.conv_transpose2d(x.unsqueeze(2), weight.unsqueeze(2), bias, (1, s), (0, p), (0, op_), groups,
                                  (1, d)).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _fold_args(kernel, dilation, padding, stride, op):
    kernel = ntuple(kernel, 2, op, "kernel_size")
    dilation = ntuple(dilation, 2, op, "dilation")
    padding = ntuple(padding, 2, op, "padding")
    stride = ntuple(stride, 2, op, "stride")
    check_positive(kernel, op, "kernel_size")
    check_positive(dilation, op, "dilation")
    check_positive(stride, op, "stride")
    if any(p < 0 for p in padding):
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    return kernel, dilation, padding, stride


def _blocks(size, kernel, dilation, padding, stride, op):
    """Sliding-block counts along H and W of the padded input."""
    padded = [n + 2 * p for n, p in zip(size, padding)]
    blocks = [(n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(padded, kernel, dilation, stride)]
    if any(b <= 0 for b in blocks):
        raise ValueError(f"{op}: the dilated kernel {kernel} (dilation {dilation}) does not fit the padded "
                         f"input of size {tuple(padded)}")
    return padded, blocks


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (N, C, H, W) input as columns (N, C * kH * kW, L): each kernel tap is a
    strided slice of the padded input, and one stack copies them into place."""
    op = "unfold"
    if input.dim() not in (3, 4):
        raise ValueError(f"{op}: expected 3D (unbatched) or 4D (batched) input, got {input.dim()}D")
    unbatched = input.dim() == 3
    x = input.unsqueeze(0) if unbatched else input
    kernel, dilation, padding, stride = _fold_args(kernel_size, dilation, padding, stride, op)
    N, C, H, W = x.shape
    _, (bh, bw) = _blocks((H, W), kernel, dilation, padding, stride, op)
    if padding != (0, 0):
        x = _C.pad(x, [padding[1], padding[1], padding[0], padding[0]])
    taps = []
    for i in range(kernel[0]):
        r = i * dilation[0]
        for j in range(kernel[1]):
            c = j * dilation[1]
            taps.append(x[:, :, r:r + stride[0] * (bh - 1) + 1:stride[0], c:c + stride[1] * (bw - 1) + 1:stride[1]])
    out = ts.stack(taps, 2).reshape(N, C * kernel[0] * kernel[1], bh * bw)
    return out.squeeze(0) if unbatched else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of unfold: sums (N, C * kH * kW, L) columns back into an (N, C, H, W) image,
    each kernel tap's blocks spread by the stride and padded into place."""
    op = "fold"
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got {input.dim()}D")
    unbatched = input.dim() == 2
    x = input.unsqueeze(0) if unbatched else input
    H, W = ntuple(output_size, 2, op, "output_size")
    kernel, dilation, padding, stride = _fold_args(kernel_size, dilation, padding, stride, op)
    (Hp, Wp), (bh, bw) = _blocks((H, W), kernel, dilation, padding, stride, op)
    N, CK, L = x.shape
    K = kernel[0] * kernel[1]
    if CK % K:
        raise ValueError(f"{op}: expected size of input's dimension 1 to be divisible by the product of "
                         f"kernel_size ({K}), but got {CK}")
    if L != bh * bw:
        raise ValueError(f"{op}: expected input's dimension 2 to match the number of sliding blocks "
                         f"{bh * bw} (for output_size {(H, W)}), but got {L}")
    C = CK // K
    cols = x.reshape(N, C, K, bh, bw)
    span_h, span_w = stride[0] * (bh - 1) + 1, stride[1] * (bw - 1) + 1
    out = None
    for k in range(K):
        block = cols[:, :, k]
        if stride != (1, 1):  # spread the blocks: stride - 1 zeros between neighbours
            block = ts.pad(block.reshape(N, C, bh, 1, bw, 1), [0, stride[1] - 1, 0, 0, 0, stride[0] - 1])
            block = block.reshape(N, C, bh * stride[0], bw * stride[1])[:, :, :span_h, :span_w]
        r, c = (k // kernel[1]) * dilation[0], (k % kernel[1]) * dilation[1]
        placed = ts.pad(block, [c, Wp - c - span_w, r, Hp - r - span_h])
        out = placed if out is None else out + placed
    if padding != (0, 0):
        out = out[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W]
    return out.squeeze(0) if unbatched else out
