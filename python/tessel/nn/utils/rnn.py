"""Variable-length sequences for the recurrent layers, as torch.nn.utils.rnn.

A PackedSequence stores the steps of a batch of sequences sorted by
decreasing length, time-major: step t holds the batch_sizes[t] sequences
that are at least t + 1 long. Packing and unpacking are one index_select
each, so gradients flow through them."""
from collections import namedtuple

from ..._numpy import np

import tessel as ts


def _invert_permutation(perm):
    if perm is None:
        return None
    inv = np.empty(len(perm), dtype=np.int64)
    inv[np.asarray(perm.tolist(), dtype=np.int64)] = np.arange(len(perm))
    return ts.tensor(inv, device=perm.device)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices); build it with pack_padded_sequence
    or pack_sequence rather than by hand."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = _invert_permutation(sorted_indices)
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        device = data.device
        move = (lambda t: None if t is None else t.to(device))
        return type(self)(data, self.batch_sizes, move(self.sorted_indices), move(self.unsorted_indices))

    def cpu(self):
        return self.to("cpu")

    def double(self):
        return self.to(ts.float64)

    def float(self):
        return self.to(ts.float32)

    def half(self):
        return self.to(ts.float16)

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"

    def is_pinned(self):
        return False


def _lengths_list(lengths):
    if isinstance(lengths, ts.Tensor):
        if lengths.dim() != 1:
            raise ValueError(f"pack_padded_sequence: lengths must be 1D, got {lengths.dim()}D")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded (T, B, *) (or (B, T, *) with batch_first) batch of sequences of the given
    lengths. With enforce_sorted=False the batch is sorted here and the order is remembered."""
    lengths = _lengths_list(lengths)
    if input.dim() < 2:
        raise ValueError(f"pack_padded_sequence: input must have at least 2 dims (T, B, *), got {input.dim()}D")
    batch_dim = 0 if batch_first else 1
    B, T = input.shape[batch_dim], input.shape[1 - batch_dim]
    if len(lengths) != B:
        raise ValueError(f"pack_padded_sequence: expected {B} lengths (the batch size), got {len(lengths)}")
    if B == 0:
        raise ValueError("pack_padded_sequence: cannot pack an empty batch")
    if min(lengths) <= 0:
        raise ValueError("pack_padded_sequence: Length of all samples has to be greater than 0, but found an "
                         f"element in 'lengths' that is <= 0 ({lengths})")
    if max(lengths) > T:
        raise ValueError(f"pack_padded_sequence: a length of {max(lengths)} exceeds the padded length {T}")
    if enforce_sorted:
        if any(a < b for a, b in zip(lengths, lengths[1:])):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        order = np.arange(B)
        sorted_indices = None
    else:
        order = np.argsort(-np.asarray(lengths), kind="stable")
        sorted_indices = ts.tensor(order.astype(np.int64), device=input.device)
    lens = np.asarray(lengths, dtype=np.int64)[order]
    batch_sizes = np.array([(lens > t).sum() for t in range(int(lens[0]))], dtype=np.int64)
    # Row of each packed element in the (T * B, *) time-major view.
    x = input.transpose(0, 1) if batch_first else input
    rows = np.concatenate([t * B + order[:b] for t, b in enumerate(batch_sizes)])
    data = x.reshape(T * B, *x.shape[2:]).index_select(0, ts.tensor(rows, device=input.device))
    return PackedSequence(data, ts.tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded, lengths), in the batch's original order."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data = sequence.data
    batch_sizes = np.asarray(sequence.batch_sizes.tolist(), dtype=np.int64)
    T, B = len(batch_sizes), int(batch_sizes[0])
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being {T}")
        T_out = total_length
    else:
        T_out = T
    # index into [data; padding row] for every (t, b) of the padded output
    src = np.full((T_out, B), data.shape[0], dtype=np.int64)
    offset = 0
    for t, b in enumerate(batch_sizes):
        src[t, :b] = np.arange(offset, offset + b)
        offset += b
    if sequence.unsorted_indices is not None:
        unsort = np.asarray(sequence.unsorted_indices.tolist(), dtype=np.int64)
        src = src[:, unsort]
    else:
        unsort = np.arange(B)
    pad_row = ts.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    padded = ts.cat([data, pad_row], 0).index_select(0, ts.tensor(src.reshape(-1), device=data.device))
    padded = padded.reshape(T_out, B, *data.shape[1:])
    lengths_sorted = np.array([(batch_sizes > i).sum() for i in range(B)], dtype=np.int64)
    lengths = ts.tensor(lengths_sorted[unsort])
    return (padded.transpose(0, 1) if batch_first else padded), lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks (L_i, *) tensors into (max L, B, *) (or (B, max L, *)), padding with padding_value."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if isinstance(sequences, ts.Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if s.dim() == 0 or tuple(s.shape[1:]) != trailing:
            raise ValueError(f"pad_sequence: all sequences must have the trailing shape {trailing}, got "
                             f"{tuple(s.shape)}")
    L = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = L - s.shape[0]
        if extra:
            spec = [0, 0] * len(trailing) + ([extra, 0] if padding_side == "left" else [0, extra])
            s = ts.pad(s, spec, value=padding_value)
        padded.append(s)
    return ts.stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of (L_i, *) tensors (pad_sequence then pack_padded_sequence)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of (L_i, *) tensors of a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[i, :int(n)] for i, n in enumerate(lengths.tolist())]


__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpack_sequence"]
