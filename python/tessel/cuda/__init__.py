"""ts.cuda: the CUDA runtime under PyTorch's names (src/cuda, docs/cuda.md).

Without a GPU (or without a driver, or in a build without CUDA) is_available()
is False and device_count() is 0, so scripts written as
``device = "cuda" if ts.cuda.is_available() else "cpu"`` run on the CPU; the
calls that need a device raise a RuntimeError that says why.
"""
from .. import _C

__all__ = ["is_available", "device_count", "current_device", "set_device", "synchronize", "get_device_name",
           "is_initialized", "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
           "reset_peak_memory_stats", "empty_cache", "set_memory_cap", "manual_seed", "manual_seed_all", "seed",
           "seed_all", "amp", "Stream", "ExternalStream", "Event", "StreamContext", "stream", "current_stream",
           "default_stream", "set_stream"]

_rt = _C._cuda


def _index(device):
    """A device index from None (current), an int, 'cuda', 'cuda:N' or a ts.device."""
    if device is None:
        return -1
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    d = _C.device(device) if isinstance(device, str) else device
    if getattr(d, "type", None) != "cuda":
        raise ValueError(f"expected a CUDA device, got {device!r}")
    return d.index


def is_available():
    """Whether a CUDA device is usable: False in a build without CUDA, without a driver or without a GPU."""
    return _rt.is_available()


def device_count():
    """The number of usable CUDA devices (0 without a driver or GPU)."""
    return _rt.device_count()


def is_initialized():
    """Whether CUDA is usable in this process (tessel initializes it when first asked)."""
    return _rt.is_available()


def current_device():
    """The index of this thread's current CUDA device."""
    return _rt.current_device()


def set_device(device):
    """Makes `device` (an index, 'cuda:N' or a ts.device) current for this thread."""
    _rt.set_device(_index(device))


def synchronize(device=None):
    """Waits for all work queued on `device` (default: the current one)."""
    _rt.synchronize(_index(device))


def get_device_name(device=None):
    """The device's name as the driver reports it ('NVIDIA H200', ...)."""
    return _rt.get_device_name(_index(device))


def memory_allocated(device=None):
    """Bytes in blocks the caching allocator has handed out to tensors (rounded block sizes)."""
    return _rt.memory_allocated(_index(device))


def max_memory_allocated(device=None):
    """The peak of memory_allocated since the start or the last reset_peak_memory_stats()."""
    return _rt.max_memory_allocated(_index(device))


def memory_reserved(device=None):
    """Bytes the caching allocator holds from the driver: in use plus cached."""
    return _rt.memory_reserved(_index(device))


def max_memory_reserved(device=None):
    """The peak of memory_reserved since the start or the last reset_peak_memory_stats()."""
    return _rt.max_memory_reserved(_index(device))


def reset_peak_memory_stats(device=None):
    """Restarts the peaks of max_memory_allocated/max_memory_reserved from the current values."""
    _rt.reset_peak_memory_stats(_index(device))


def empty_cache():
    """Gives cached, unused blocks back to the driver (a no-op without a device, as in PyTorch)."""
    _rt.empty_cache()


def set_memory_cap(nbytes, device=None):
    """Caps the bytes the allocator may hold on `device` (0 removes the cap); past it, allocation raises."""
    if int(nbytes) < 0:
        raise ValueError(f"set_memory_cap: expected a byte count >= 0, got {nbytes}")
    _rt.set_memory_cap(int(nbytes), _index(device))


def manual_seed(seed):
    """Checks the seed only. CUDA random kernels draw from tessel's one counter-based generator (Philox),
    shared with the CPU: seed it with ts.manual_seed, and a CUDA tensor gets the CPU's values for the same
    seed. Reseeding it here would also change the CPU's stream, which torch.cuda.manual_seed never does."""
    int(seed)  # the same TypeError as ts.manual_seed for a non-number


def manual_seed_all(seed):
    """As manual_seed, for every CUDA device."""
    int(seed)


def seed():
    """Nothing to do: CUDA draws come from the generator ts.seed() reseeds."""


def seed_all():
    """Nothing to do: CUDA draws come from the generator ts.seed() reseeds."""


from . import amp  # noqa: E402  (ts.cuda.amp.autocast / GradScaler)
from . import streams as _streams  # noqa: E402
from .streams import (Event, ExternalStream, Stream, StreamContext, current_stream, default_stream,  # noqa: E402
                      set_stream, stream)

from . import interop as _interop  # noqa: E402

_streams.install(_C.Tensor)
_interop.install(_C.Tensor)
