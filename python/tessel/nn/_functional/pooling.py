"""max_pool1d, avg_pool1d (the 2-D kernels on a height-1 image) and adaptive_max_pool2d."""

from ..._numpy import np

import tessel as ts
from tessel import _C

from ._util import ntuple


def _one(x, op, name):
    return ntuple(x, 1, op, name)[0]


def _as_2d(input, op):
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got {input.dim()}D")
    return input.unsqueeze(-2)


def _check_window(input, k, s, p, d, op):
    """The 1-D checks, so errors name the 1-D op and sizes rather than the 2-D kernel's."""
    if k <= 0 or s <= 0 or d <= 0:
        raise ValueError(f"{op}: kernel_size, stride and dilation must be positive, got {k}, {s}, {d}")
    if p < 0 or 2 * p > k:
        raise ValueError(f"{op}: padding should be at most half of the kernel size, got padding {p} for kernel {k}")
    L = input.shape[-1] if input.dim() else 0
    if L + 2 * p < d * (k - 1) + 1:
        raise ValueError(f"{op}: the input of length {L} (padding {p}) is smaller than the kernel {k} "
                         f"with dilation {d}")


def _stride(stride, k, op):
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return k
    return _one(stride, op, "stride")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    op = "max_pool1d"
    k = _one(kernel_size, op, "kernel_size")
    s, p, d = _stride(stride, k, op), _one(padding, op, "padding"), _one(dilation, op, "dilation")
    x = _as_2d(input, op)
    _check_window(input, k, s, p, d, op)
    out = _C._nn.max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:  # flat indices h * W + w with h = 0 are already positions along L
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    op = "avg_pool1d"
    k = _one(kernel_size, op, "kernel_size")
    s, p = _stride(stride, k, op), _one(padding, op, "padding")
    x = _as_2d(input, op)
    _check_window(input, k, s, p, 1, op)
    return _C._nn.avg_pool2d(x, (1, k), (1, s), (0, p), ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_bins(n_in, n_out):
    """Bin i covers [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out)); bins are padded to the
    longest by repeating their last index, which leaves a max unchanged."""
    starts = [(i * n_in) // n_out for i in range(n_out)]
    ends = [-((-(i + 1) * n_in) // n_out) for i in range(n_out)]
    k = max(e - s for s, e in zip(starts, ends))
    return np.array([[min(s + j, e - 1) for j in range(k)] for s, e in zip(starts, ends)], dtype=np.int64)


def _adaptive_output_size(output_size, shape, op):
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(f"{op}: output_size must be an int or a pair, got {tuple(output_size)}")
    else:
        output_size = (output_size, output_size)
    size = tuple(shape[i] if o is None else int(o) for i, o in enumerate(output_size))
    if any(o <= 0 for o in size):
        raise ValueError(f"{op}: output_size must be positive, got {size}")
    return size


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over PyTorch's adaptive bins. Rows and columns of each bin are gathered with two
    index_selects into (..., oh, ow, kh * kw) windows, then one max over the last dim."""
    op = "adaptive_max_pool2d"
    if input.dim() not in (3, 4):
        raise ValueError(f"{op}: expected 3D (unbatched) or 4D (batched) input, got {input.dim()}D")
    H, W = input.shape[-2], input.shape[-1]
    if H == 0 or W == 0:
        raise ValueError(f"{op}: expected non-empty spatial dims, got {tuple(input.shape)}")
    oh, ow = _adaptive_output_size(output_size, (H, W), op)
    rows, cols = _adaptive_bins(H, oh), _adaptive_bins(W, ow)
    kh, kw = rows.shape[1], cols.shape[1]
    lead = tuple(input.shape[:-2])
    x = input.index_select(-2, ts.tensor(rows.reshape(-1), device=input.device))
    x = x.index_select(-1, ts.tensor(cols.reshape(-1), device=input.device))
    nd = len(lead)
    x = x.reshape(*lead, oh, kh, ow, kw).permute(*range(nd), nd, nd + 2, nd + 1, nd + 3)
    values, arg = ts.max(x.reshape(*lead, oh, ow, kh * kw), -1)
    if not return_indices:
        return values
    # Flat h * W + w index of each window element, picked by the argmax.
    flat = (rows[:, None, :, None] * W + cols[None, :, None, :]).reshape(oh, ow, kh * kw)
    flat = ts.tensor(flat, device=input.device).expand(*lead, oh, ow, kh * kw)
    return values, ts.gather(flat, -1, arg.unsqueeze(-1)).squeeze(-1)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    op = "adaptive_max_pool1d"
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got {input.dim()}D")
    out = adaptive_max_pool2d(input.unsqueeze(-2), (1, _one(output_size, op, "output_size")), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)




def adaptive_avg_pool1d(input, output_size):
    op = "adaptive_avg_pool1d"
    if input.dim() not in (2, 3):
        raise ValueError(f"{op}: expected 2D (unbatched) or 3D (batched) input, got {input.dim()}D")
    return _C._nn.adaptive_avg_pool2d(input.unsqueeze(-2), (1, _one(output_size, op, "output_size"))).squeeze(-2)
