"""default_collate (a list of examples -> a batch) and default_convert (one
example, NumPy arrays -> tensors), as in torch.utils.data."""
import collections.abc
import numbers

from .. import _C

__all__ = ["default_collate", "default_convert"]


def _numpy():
    try:
        import numpy
        return numpy
    except ImportError:
        return None


def default_collate(batch):
    """Stacks a list of examples: tensors with ts.stack (one shape per batch),
    NumPy arrays and scalars as tensors, bools/ints/floats into bool/int64/float64
    tensors, dicts key by key, tuples, lists and namedtuples field by field,
    strings and bytes kept as lists. Other types raise TypeError."""
    import tessel as ts
    items = list(batch)
    if not items:
        raise ValueError("[data.default_collate] cannot collate an empty batch")
    first = items[0]
    if isinstance(first, _C.Tensor):
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise ValueError(f"[data.default_collate] cannot stack tensors of shapes {sorted(shapes)}: resize or "
                             "crop to one size, or pass a collate_fn")
        return ts.stack(items)
    np = _numpy()
    if np is not None and isinstance(first, (np.ndarray, np.generic)) and not isinstance(first, (np.str_,
                                                                                                np.bytes_)):
        if first.dtype.kind in "OUSV":
            raise TypeError(f"[data.default_collate] cannot collate NumPy arrays of dtype {first.dtype}")
        shapes = {np.shape(a) for a in items}
        if len(shapes) > 1:
            raise ValueError(f"[data.default_collate] cannot stack arrays of shapes {sorted(shapes)}")
        return ts.tensor(np.stack(items))
    if isinstance(first, bool):
        return ts.tensor(items, dtype=ts.bool)
    if isinstance(first, numbers.Integral):
        return ts.tensor(items, dtype=ts.int64)
    if isinstance(first, numbers.Real):
        return ts.tensor([float(v) for v in items], dtype=ts.float64)
    if isinstance(first, (str, bytes)):
        return items
    if isinstance(first, collections.abc.Mapping):
        out = {k: default_collate([it[k] for it in items]) for k in first}
        if type(first) is not dict:
            try:
                return type(first)(out)  # keeps dict subclasses such as BatchEncoding
            except Exception:
                pass
        return out
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*items)))
    if isinstance(first, collections.abc.Sequence):
        if any(len(it) != len(first) for it in items):
            raise ValueError("[data.default_collate] each element in list of batch should be of equal size")
        fields = [default_collate(list(f)) for f in zip(*items)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"[data.default_collate] batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(first)}")


def default_convert(data):
    """One example as-is, NumPy arrays (inside dicts, tuples, lists too) made
    tensors: the collate_fn when batch_size=None."""
    import tessel as ts
    np = _numpy()
    if np is not None and isinstance(data, np.ndarray) and data.dtype.kind not in "OUSV":
        return ts.tensor(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, tuple):
        return tuple(default_convert(v) for v in data)
    if isinstance(data, list):
        return [default_convert(v) for v in data]
    return data
