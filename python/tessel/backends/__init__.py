"""ts.backends: which compute libraries this build uses, in torch.backends' layout.

    ts.backends.mkldnn.is_available()   # True: oneDNN is the CPU backend
    ts.backends.cudnn.is_available()    # False: no CUDA in this build
    ts.backends.cudnn.deterministic = True   # accepted; nothing to change on the CPU
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]
