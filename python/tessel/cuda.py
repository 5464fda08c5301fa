"""ts.cuda: what a PyTorch script asks about CUDA before choosing a device.

This build of tessel has no CUDA kernels yet, so no CUDA device is ever
available: scripts written as ``device = "cuda" if ts.cuda.is_available() else
"cpu"`` run on the CPU.
"""

__all__ = ["is_available", "device_count", "is_initialized"]


def is_available():
    """False: this build runs on the CPU only (no CUDA kernels are compiled in)."""
    return False


def device_count():
    """The number of usable CUDA devices: 0 in this build."""
    return 0


def is_initialized():
    """False: there is no CUDA state to initialize in this build."""
    return False
