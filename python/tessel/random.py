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
           "set_rng_state", "fork_rng", "normal", "poisson"]


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


def poisson(input, generator=None):
    """Poisson draws with the rates in `input` (non-negative floats), as torch.poisson: by
    inversion below a rate of 10, by Hormann's transformed rejection (PTRS) above. Uniforms come
    from the generator's Philox stream, rejected lanes redrawn, so a seed fixes the result."""
    if not isinstance(input, _C.Tensor):
        raise TypeError(f"poisson(): expected a Tensor of rates, got {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"poisson(): rates must be floating, got {input.dtype}")
    lam = input.to(_C.dtype.float64).reshape(-1)
    if lam.numel() and (bool(_C.isnan(lam).any()) or float(lam.min()) < 0):
        raise ValueError("poisson(): rates must be non-negative and not NaN")
    gen = {} if generator is None else {"generator": generator}
    out = _C.zeros(lam.shape, dtype=_C.dtype.float64)

    def draw(n):
        return _C.rand(n, dtype=_C.dtype.float64, **gen)

    small = lam < 10
    # inversion: the first k whose CDF reaches u (sequential search; few steps below 10)
    idx = _C.nonzero(small).reshape(-1)
    if idx.numel():
        r = lam[idx]
        u = draw(idx.numel())
        k = _C.zeros_like(r)
        p = _C.exp(-r)
        cdf = p.clone()
        live = u > cdf
        for step in range(1, 200):
            if not bool(live.any()):
                break
            p = p * r / step
            cdf = cdf + p
            k = _C.where(live, k + 1, k)
            live = _C.logical_and(live, u > cdf)
        out = out.scatter(0, idx, k)
    # PTRS for the large rates: propose, accept with the squeeze or the exact test, redraw rejects
    idx = _C.nonzero(_C.logical_not(small)).reshape(-1)
    while idx.numel():
        r = lam[idx]
        sr, lr = _C.sqrt(r), _C.log(r)
        b = 0.931 + 2.53 * sr
        a = -0.059 + 0.02483 * b
        inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        u = draw(idx.numel()) - 0.5
        v = draw(idx.numel())
        us = 0.5 - _C.abs(u)
        k = _C.floor((2 * a / us + b) * u + r + 0.43)
        quick = _C.logical_and(us >= 0.07, v <= vr)
        bad = _C.logical_or(k < 0, _C.logical_and(us < 0.013, v > us))
        exact = (_C.log(v) + _C.log(inv_alpha) - _C.log(a / (us * us) + b)
                 <= -r + k * lr - _C.lgamma(k + 1))
        ok = _C.logical_or(quick, _C.logical_and(_C.logical_not(bad), exact))
        out = out.scatter(0, idx[ok], k[ok])
        idx = idx[_C.logical_not(ok)]
    return out.reshape(tuple(input.shape)).to(input.dtype)
