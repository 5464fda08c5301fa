"""Parameter: a leaf tensor that a Module registers as one of its weights."""
import tessel as ts


class Parameter(ts.Tensor):
    """A tensor that is a module parameter: assigning one to a Module attribute
    registers it. Shares memory with `data` (as `data.detach()`), is a leaf and
    requires grad by default."""

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = ts.empty(0)
        # A fresh handle on detached data: a leaf even when `data` has history.
        super().__init__(data.detach())
        self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo):
        key = id(self)
        if key not in memo:
            memo[key] = type(self)(self.data.clone(), self.requires_grad)
        return memo[key]
