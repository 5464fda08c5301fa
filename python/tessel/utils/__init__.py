"""tessel.utils: PyTorch's torch.utils paths (tessel.utils.data is ts.data)."""
from . import data  # noqa: F401
