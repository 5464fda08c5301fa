"""embedding_bag: bags of embedding rows reduced by sum, mean or max."""
from ..._numpy import np

import tessel as ts
from tessel import _C


def _bags_from_offsets(input, offsets, include_last_offset, op):
    """(B, Lmax) positions into 1-D input and their validity, from bag start offsets."""
    if offsets.dim() != 1:
        raise ValueError(f"{op}: offsets has to be a 1D tensor, got {offsets.dim()}D")
    if offsets.dtype not in (ts.int32, ts.int64):
        raise TypeError(f"{op}: offsets must be an int32 or int64 tensor, got {offsets.dtype}")
    n = input.shape[0]
    offs = np.asarray(offsets.tolist(), dtype=np.int64)
    if include_last_offset:
        if offs.size < 1:
            raise ValueError(f"{op}: include_last_offset needs at least one offset")
        starts, ends = offs[:-1], offs[1:]
    else:
        starts, ends = offs, np.append(offs[1:], n)
    if offs.size and offs[0] != 0:
        raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                         f"start from position 0. However, got {offs[0]}")
    if np.any(ends < starts) or (offs.size and offs[-1] > n):
        raise ValueError(f"{op}: offsets must be non-decreasing and at most the input length {n}, "
                         f"got {offs.tolist()}")
    lengths = ends - starts
    lmax = int(lengths.max()) if lengths.size else 0
    pos = starts[:, None] + np.arange(lmax)[None, :]
    valid = np.arange(lmax)[None, :] < lengths[:, None]
    return np.where(valid, pos, 0), valid


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sum, mean or max of the embedding rows of each bag: rows of a 2-D (B, L) input, or the
    runs of a 1-D input that start at offsets. Empty bags give zeros; padding_idx entries are
    left out (and not counted by mean)."""
    op = "embedding_bag"
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(f"{op}: max_norm, scale_grad_by_freq and sparse are not supported")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if weight.dim() != 2:
        raise ValueError(f"{op}: weight has to be a 2D tensor, got {weight.dim()}D")
    if input.dtype not in (ts.int32, ts.int64):
        raise TypeError(f"{op}: input must be an int32 or int64 tensor of indices, got {input.dtype}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{op}: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}')")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"{op}: per_sample_weights has shape {tuple(per_sample_weights.shape)}, "
                             f"expected the input's {tuple(input.shape)}")
    num, dim = weight.shape
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"{op}: padding_idx must be within num_embeddings ({num}), got {padding_idx}")
        padding_idx %= num
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2D, then offsets has to be None, as input is treated as a "
                             "mini-batch of fixed length sequences")
        idx, psw = input, per_sample_weights
        valid = ts.ones(*input.shape, dtype=ts.bool, device=input.device)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError(f"{op}: offsets has to be a 1D tensor but got None")
        pos, valid_np = _bags_from_offsets(input, offsets, include_last_offset, op)
        if pos.shape[1] == 0:
            return ts.zeros(pos.shape[0], dim, dtype=weight.dtype, device=weight.device)
        flat = ts.tensor(pos.reshape(-1), device=input.device)
        idx = input.index_select(0, flat).reshape(*pos.shape)
        psw = None if per_sample_weights is None else per_sample_weights.index_select(0, flat).reshape(*pos.shape)
        valid = ts.tensor(valid_np, device=input.device)
    else:
        raise ValueError(f"{op}: input has to be 1D or 2D, got {input.dim()}D")
    if idx.numel() and (int(idx.min().item()) < 0 or int(idx.max().item()) >= num):
        raise IndexError(f"{op}: index out of range in self (indices must be in [0, {num}))")
    if idx.shape[1] == 0:
        return ts.zeros(idx.shape[0], dim, dtype=weight.dtype, device=weight.device)
    if padding_idx is not None:
        valid = _C.logical_and(valid, idx != padding_idx)
    rows = _C._nn.embedding(idx, weight)  # (B, L, D)
    count = valid.sum(1, keepdim=True).to(weight.dtype)
    if mode == "max":
        best = rows.masked_fill(_C.logical_not(valid).unsqueeze(-1), float("-inf")).amax(1)
        return _C.where(count > 0, best, ts.zeros_like(best))
    w = valid.to(weight.dtype)
    if psw is not None:
        w = w * psw
    total = (rows * w.unsqueeze(-1)).sum(1)
    return total if mode == "sum" else total / _C.clamp(count, 1.0, None)
