"""Custom differentiable functions: subclass Function with static forward/backward.

Two styles, as in PyTorch 2: forward(ctx, *args), or forward(*args) plus
setup_context(ctx, inputs, output), which fills ctx from the inputs and output.
"""
import functools
import inspect

from .. import _C
from .grad_mode import no_grad

_ag = _C._autograd
Tensor = _C.Tensor


class FunctionCtx:
    """What forward hands to backward: saved tensors, flags and any attributes set on it."""

    def __init__(self):
        self._to_save = ()
        self._dirty = ()
        self._cpp = None
        self.needs_input_grad = ()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self._to_save = tuple(t for t in tensors if t is not None)
        self._none_at = tuple(i for i, t in enumerate(tensors) if t is None)

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_diff = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = value

    @property
    def saved_tensors(self):
        if self._cpp is None:
            raise RuntimeError("[Function] saved_tensors are only available inside backward")
        saved = list(self._cpp.saved_tensors())
        for i in getattr(self, "_none_at", ()):
            saved.insert(i, None)
        return tuple(saved)


class Function:
    """Subclass with @staticmethod forward(ctx, *args) and backward(ctx, *grads); call with .apply(*args).
    Or define forward(*args) without ctx and setup_context(ctx, inputs, output) (PyTorch 2 style).

    backward returns one gradient per forward argument (None for non-tensors or where none is needed).
    Saved tensors are checked for in-place changes, and double backward works when backward uses tessel ops.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("[Function] subclasses must implement forward")

    @staticmethod
    def setup_context(ctx, inputs, output):
        """Override to use forward without ctx: called after forward with the
        inputs (a tuple, keyword and default arguments bound in order) and output."""
        raise NotImplementedError("[Function] setup_context is not overridden")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("[Function] subclasses must implement backward")

    @classmethod
    def apply(cls, *args, **kwargs):
        separate = cls.setup_context is not Function.setup_context
        if separate:
            # forward(*args) style: bind keyword and default arguments to positions, so that
            # setup_context sees every input and backward returns one gradient per input
            try:
                bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"[{cls.__name__}] forward: {e}") from None
            bound.apply_defaults()
            if bound.kwargs:
                raise TypeError(f"[{cls.__name__}] forward with setup_context cannot take **kwargs or "
                                "keyword-only arguments")
            args, kwargs = tuple(bound.args), {}
        ctx = FunctionCtx()
        grad_on = _ag.is_grad_enabled()
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad and grad_on for a in args)
        result = {}

        def forward():
            if separate:
                out = cls.forward(*args)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
            result["tuple"] = isinstance(out, (tuple, list))
            outs = list(out) if result["tuple"] else [out]
            for o in outs:
                if not isinstance(o, Tensor):
                    raise TypeError(f"[{cls.__name__}] forward must return tensors, got {type(o).__name__}")
            return outs

        def done():
            # Hand the tensors over and drop them: ctx is kept alive by the graph, and a saved output
            # (or a dirty input, which is an output) would otherwise form a cycle through C++.
            r = (list(ctx._to_save), list(ctx._dirty), bool(ctx.materialize_grads))
            ctx._to_save = ctx._dirty = ()
            return r

        nargs = len(args)  # backward must not hold args: an input marked dirty is an output (a cycle)

        def backward(cpp_ctx, grads):
            ctx._cpp = cpp_ctx
            try:
                r = cls.backward(ctx, *grads)
            finally:
                ctx._cpp = None
            r = list(r) if isinstance(r, (tuple, list)) else [r]
            while len(r) > nargs and r[-1] is None:
                r.pop()  # extra trailing Nones are fine, as in PyTorch
            if len(r) != nargs:
                raise RuntimeError(f"[{cls.__name__}] backward returned {len(r)} gradients, expected {nargs} "
                                   "(one per forward argument)")
            return [r[i] for i in tensor_pos]

        outs = _ag.apply_function(cls.__name__ + "Backward", [args[i] for i in tensor_pos], forward, backward, done)
        non_diff = getattr(ctx, "_non_diff", ())
        if non_diff:
            outs = [o.data if any(o.data_ptr() == n.data_ptr() and o.shape == n.shape for n in non_diff) else o
                    for o in outs]
            ctx._non_diff = ()
        return tuple(outs) if result.get("tuple") else outs[0]


_ONCE_ERROR = "trying to differentiate twice a function that was marked with @once_differentiable"


class _DelayedError(Function):
    """Stands for the graph of a once_differentiable backward: passes its first
    input through and raises if a second backward reaches it."""

    @staticmethod
    def forward(ctx, value, *inputs):
        return value.detach()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError(_ONCE_ERROR)


def once_differentiable(backward):
    """Decorator for a Function's backward that is not itself differentiable:
    it runs without recording a graph, and differentiating its result again
    (create_graph=True, then a second backward) raises a clear error."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        with no_grad():
            out = backward(ctx, *grads)
        if not _ag.is_grad_enabled():
            return out
        tracked = [g for g in grads if isinstance(g, Tensor) and g.requires_grad]
        if not tracked:
            return out
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        outs = tuple(_DelayedError.apply(o, *tracked) if isinstance(o, Tensor) else o for o in outs)
        return outs[0] if single else outs

    return wrapper

