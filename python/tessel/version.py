"""ts.version, as torch.version: what scripts check before choosing a backend
(`if ts.version.cuda: ...`)."""
from ._C import __version__  # noqa: F401

cuda = None  # no CUDA build: torch.version.cuda is None on CPU-only PyTorch too
hip = None
debug = False
