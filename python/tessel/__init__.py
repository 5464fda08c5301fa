"""tessel: one fast C++ tensor core, used from Python, C++ and notebooks.

    import tessel as ts
    x = ts.arange(6).reshape(2, 3)
"""
# How OpenMP threads wait between parallel regions: chosen from what the CPUs
# are doing before libgomp loads with _C (a user's OMP_WAIT_POLICY or
# GOMP_SPINCOUNT wins). Why and the figures: _omp_wait.py.
from . import _omp_wait  # noqa: F401

from . import _C  # noqa: E402
from ._C import *  # noqa: F401,F403,E402  (Tensor, dtypes, ops)
from ._C import Tensor, device, dtype  # noqa: F401
from ._registry import registry, ops  # noqa: F401
from ._repr import tensor_repr as _tensor_repr
from . import _numpy
from . import autograd  # noqa: F401
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled, inference_mode  # noqa: F401
from . import nn, optim  # noqa: F401,E402
from . import amp, cpu  # noqa: F401,E402
from .amp import autocast, is_autocast_enabled, get_autocast_dtype  # noqa: F401,E402
from .training import Trainer, History, Callback, EarlyStopping, ModelCheckpoint, LearningRateScheduler  # noqa
from . import callbacks  # noqa: F401,E402  (ts.callbacks.Tracker: the tracking store)

__version__ = _C.__version__

# dtype objects under their usual names: ts.float32, ts.int64, ...
for _name, _value in dtype.__members__.items():
    globals()[_name] = _value
float = float32  # noqa: A001  (as torch.float)
double = float64
half = float16
int = int32  # noqa: A001
long = int64
short = int16
bool = _C.dtype.bool  # noqa: A001
cfloat = complex64
cdouble = complex128
del _name, _value

Tensor.__repr__ = _tensor_repr
Tensor.__array__ = _numpy.__array__
Tensor.numpy = _numpy.numpy
Tensor.__str__ = _tensor_repr
from ._api import *  # noqa: F401,F403,E402  (PyTorch-style additions: _api.py)
from ._port import *  # noqa: F401,F403,E402  (alpha=, rounding_mode=, finfo, legacy types: _port.py)
from . import _port  # noqa: E402
_port.install()
from ._complex import *  # noqa: F401,F403,E402  (ts.complex, polar, angle, .real/.imag: _complex.py)
from . import _complex  # noqa: E402
_complex.install()
from . import distributions, linalg, special, version  # noqa: E402,F401
from .special import i0  # noqa: E402,F401  (torch.i0, and Tensor.i0)
Tensor.i0 = i0
from ._linalg_aliases import *  # noqa: E402,F401,F403  (torch.det, torch.inverse, torch.svd, ...)
from . import _linalg_aliases  # noqa: E402
_linalg_aliases.install()
from ._array_api import *  # noqa: E402,F401,F403  (the array API standard on this namespace: _array_api.py)


def _install_dir():
    import os
    return os.path.dirname(os.path.abspath(__file__))


def cmake_dir():
    """Folder holding tesselConfig.cmake: pass it as tessel_DIR to CMake."""
    import os
    return os.path.join(_install_dir(), "lib", "cmake", "tessel")


def include_dir():
    import os
    return os.path.join(_install_dir(), "include")

from . import io  # noqa: E402
from . import fft, data, audio, text  # noqa: E402,F401
from .io import save, load, save_file, load_file  # noqa: E402,F401
from . import _pickle, random  # noqa: E402,F401  (Tensor pickle/deepcopy; ts.random)
from .random import normal, poisson  # noqa: E402,F401
from . import image  # noqa: E402,F401
from . import onnx  # noqa: E402,F401  (ts.onnx: ONNX model import)
from . import utils  # noqa: E402,F401  (ts.utils.data = ts.data)

# The platform's packages load on first use (`ts.store`, `ts.train`, ...): they
# pull in SQLAlchemy, Flask or Optuna, which `import tessel` should not pay for.
_LAZY = ("store", "train", "models", "config", "ui", "agent", "distributed", "automation", "cli")


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tessel' has no attribute '{name}'")
