"""Random numbers, as torch.random (docs/random.md).

tessel draws from Philox counter-based streams: a Generator is (seed, offset),
and element i of a draw is a function of (seed, offset + i) only, so results do
not depend on the thread count or the device. Every random op takes
generator=; without one it draws from ts.default_generator, which
ts.manual_seed, ts.seed, ts.get_rng_state and ts.set_rng_state act on.
"""
import contextlib

from . import _C
from ._C import Generator, default_generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state",
           "set_rng_state", "fork_rng", "normal"]


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True):
    """Restores the default generator's state on exit, so that the block's draws
    do not change what comes after it. `devices` is accepted for PyTorch code:
    one generator serves every device."""
    del devices
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Samples of N(mean, std**2), as torch.normal: mean and std are tensors
    (broadcast together) or numbers; with two numbers, `size` gives the shape."""
    mean_t, std_t = isinstance(mean, _C.Tensor), isinstance(std, _C.Tensor)
    if not mean_t and not std_t:
        if size is None:
            raise TypeError("normal(): with a number mean and std, size is required")
        if std < 0:
            raise ValueError(f"normal(): std must be >= 0, got {std}")
        out = _C.empty(tuple(size), dtype=dtype, device=device)
        out.normal_(float(mean), float(std), generator=generator)
        return out.requires_grad_(True) if requires_grad else out
    if size is not None:
        raise TypeError("normal(): size is taken only when mean and std are numbers")
    if std_t:
        if std.numel() and bool((std < 0).any()):
            raise ValueError("normal(): std must be >= 0")
    elif std < 0:
        raise ValueError(f"normal(): std must be >= 0, got {std}")
    like = mean if mean_t else std
    shape = _C.broadcast_shapes(mean.shape, std.shape) if mean_t and std_t else like.shape
    if dtype is not None:
        z_dtype = dtype
    else:
        z_dtype = _C.result_type(mean, std) if mean_t and std_t else like.dtype
    if not (z_dtype.is_floating_point or z_dtype.is_complex):
        raise TypeError(f"normal(): expects floating mean and std, got {z_dtype.name}")
    z = _C.randn(*shape, generator=generator, dtype=z_dtype, device=device or like.device)
    out = z * std + mean
    return out.requires_grad_(True) if requires_grad and out.is_leaf else out
