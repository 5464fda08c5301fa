"""ts.backends.cudnn: the flags PyTorch scripts set, and whether cuDNN loads.

allow_tf32 is read by the CUDA convolutions (kernels/cuda/cudnn.cpp): off by
default here, so float32 convolutions stay in float32 (PyTorch turns it on by
default; set it to True for TF32 tensor cores). enabled, deterministic and
benchmark are accepted: convolutions always take cuDNN's heuristic choice
(no benchmarking runs), and 1x1 ones go through cuBLAS (docs/cuda.md).
"""
import sys
import types

from .. import _C
from ._flags import c_flag


def is_available():
    """Whether cuDNN 9 can be loaded (a CUDA build and libcudnn.so.9 found; docs/cuda.md says where)."""
    return version() is not None


def version():
    """cuDNN's version as an int (e.g. 91300), or None when it cannot be loaded, as torch.backends.cudnn."""
    v = _C._cuda.cudnn_version()
    return v or None


class _Module(types.ModuleType):
    enabled = True
    deterministic = False
    benchmark = False

    allow_tf32 = c_flag(_C._cuda.cudnn_allow_tf32, _C._cuda.set_cudnn_allow_tf32)


sys.modules[__name__].__class__ = _Module
