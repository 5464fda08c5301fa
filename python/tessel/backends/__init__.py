"""ts.backends: which compute libraries this build uses, in torch.backends' layout.

    ts.backends.mkldnn.is_available()   # True: oneDNN is the CPU backend
    ts.backends.cudnn.is_available()    # whether cuDNN 9 loads (a CUDA build that finds it)
    ts.backends.cudnn.allow_tf32 = True      # TF32 convolutions (off by default)
    ts.backends.cudnn.deterministic = True   # accepted
"""
from . import cpu, cuda, cudnn, mkldnn, mps, openmp  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mkldnn", "mps", "openmp"]
