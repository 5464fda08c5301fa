"""ts.meshgrid and ts.diag."""
import warnings

from . import _C
from ._C import Tensor


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-d or 1-d tensors, as expanded views.

    indexing='ij' gives outputs of shape (len(t0), len(t1), ...); 'xy' swaps the
    first two dims (Cartesian, as NumPy's default). Omitting it means 'ij' with a
    UserWarning, as PyTorch does.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("tessel.meshgrid: pass indexing='ij' or indexing='xy'; it defaults to 'ij' "
                      "(PyTorch's default, where NumPy's is 'xy')", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid(): indexing must be 'ij' or 'xy', but got {indexing!r}")
    if not tensors:
        return ()
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"meshgrid(): tensor {i} is a {type(t).__name__}, expected a Tensor")
        if t.dim() > 1:
            raise ValueError(f"meshgrid(): expected 0-d or 1-d tensors, but tensor {i} has shape {list(t.shape)}")
        if t.dtype != tensors[0].dtype or t.device != tensors[0].device:
            raise TypeError("meshgrid(): all tensors must have the same dtype and device, got "
                            f"{tensors[0].dtype}/{tensors[0].device} and {t.dtype}/{t.device}")
    n = len(tensors)
    # position of each input's axis in the output: 'xy' swaps the first two
    pos = list(range(n))
    if indexing == "xy" and n >= 2:
        pos[0], pos[1] = 1, 0
    sizes = [0] * n
    for i, t in enumerate(tensors):
        sizes[pos[i]] = t.numel()
    out = []
    for i, t in enumerate(tensors):
        view = [1] * n
        view[pos[i]] = t.numel()
        out.append(t.reshape(view).expand(sizes))
    return tuple(out)


def diag(input, diagonal=0):
    """A 1-d input becomes a square matrix with it on the `diagonal`-th diagonal;
    a 2-d input gives that diagonal as a new 1-d tensor."""
    if not isinstance(input, Tensor):
        raise TypeError(f"diag(): input must be a Tensor, got {type(input).__name__}")
    if input.dim() == 2:
        return input.diagonal(diagonal).clone()
    if input.dim() != 1:
        raise ValueError(f"diag(): expected a 1-d or 2-d tensor, got {input.dim()}-d")
    n = input.shape[0]
    k = abs(diagonal)
    # the n x n diagonal matrix, then padded to (n+k) x (n+k) so the diagonal shifts
    eye = _C.eye(n, dtype=_C.dtype.bool, device=input.device)
    square = _C.where(eye, input.unsqueeze(0).expand(n, n), _C.zeros((), dtype=input.dtype, device=input.device))
    if k == 0:
        return square
    pad = (k, 0, 0, k) if diagonal > 0 else (0, k, k, 0)  # (left, right, top, bottom)
    return _C.pad(square, pad)
