"""tessel.utils.data: the same module objects as tessel.data (torch.utils.data's path),
submodules included (tessel.utils.data.distributed, .sampler, .dataset, ...)."""
import sys

from .. import data as _data

for _name, _module in list(sys.modules.items()):
    if _name.startswith(_data.__name__ + "."):
        sys.modules[__name__ + _name[len(_data.__name__):]] = _module
sys.modules[__name__] = _data
