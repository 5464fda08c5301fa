"""ts.version, as torch.version: what scripts check before choosing a backend
(`if ts.version.cuda: ...`)."""
from ._C import __version__, _cuda  # noqa: F401

# The CUDA toolkit of the build ("13.0"), None without the CUDA backend (as on CPU-only PyTorch),
# whether or not a GPU is present: ts.cuda.is_available() says that.
cuda = _cuda.version() or None
hip = None
debug = False
