"""Named results of ops that return (values, indices), as torch.return_types.

``x.max(dim=1)`` returns ``tessel.return_types.max(values=..., indices=...)``:
a tuple (unpack it as ``v, i = ...``) whose fields also read as ``.values`` and
``.indices``.
"""
from collections import namedtuple

__all__ = ["max", "min", "sort", "topk", "kthvalue", "median", "mode"]


def _make(name):
    base = namedtuple(name, ["values", "indices"], module=__name__)

    def __repr__(self):
        return f"tessel.return_types.{name}(\nvalues={self.values!r},\nindices={self.indices!r})"

    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__,
                                "__qualname__": name})


max = _make("max")  # noqa: A001  (the op's name, as in torch.return_types)
min = _make("min")  # noqa: A001
sort = _make("sort")
topk = _make("topk")
kthvalue = _make("kthvalue")
median = _make("median")
mode = _make("mode")
