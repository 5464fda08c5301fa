"""ts.cuda: what a PyTorch script asks about CUDA before choosing a device.

This build of tessel has no CUDA kernels yet, so no CUDA device is ever
available: scripts written as ``device = "cuda" if ts.cuda.is_available() else
"cpu"`` run on the CPU.
"""

__all__ = ["is_available", "device_count", "is_initialized", "manual_seed", "manual_seed_all", "seed", "seed_all",
           "empty_cache", "amp"]


def is_available():
    """False: this build runs on the CPU only (no CUDA kernels are compiled in)."""
    return False


def device_count():
    """The number of usable CUDA devices: 0 in this build."""
    return 0


def is_initialized():
    """False: there is no CUDA state to initialize in this build."""
    return False


def manual_seed(seed):
    """Seeds the CUDA generators: with no CUDA device there are none, so this does nothing (as PyTorch does
    without CUDA). Use ts.manual_seed for the CPU generator."""
    int(seed)  # the same TypeError as ts.manual_seed for a non-number


def manual_seed_all(seed):
    """As manual_seed, for every CUDA device: nothing to seed in this build."""
    int(seed)


def seed():
    """Nothing to seed in this build (no CUDA generators)."""


def seed_all():
    """Nothing to seed in this build (no CUDA generators)."""


def empty_cache():
    """Releases cached CUDA memory: there is none in this build."""


from . import amp  # noqa: E402  (ts.cuda.amp.autocast / GradScaler)
