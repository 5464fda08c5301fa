"""Custom differentiable functions: subclass Function with static forward/backward."""
from .. import _C

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

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        pass  # outputs that are not floating never carry gradients anyway

    def set_materialize_grads(self, value):
        self.materialize_grads = value

    @property
    def saved_tensors(self):
        if self._cpp is None:
            raise RuntimeError("[Function] saved_tensors are only available inside backward")
        return tuple(self._cpp.saved_tensors())


class Function:
    """Subclass with @staticmethod forward(ctx, *args) and backward(ctx, *grads); call with .apply(*args).

    backward returns one gradient per forward argument (None for non-tensors or where none is needed).
    Saved tensors are checked for in-place changes, and double backward works when backward uses tessel ops.
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("[Function] subclasses must implement forward")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError("[Function] subclasses must implement backward")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        grad_on = _ag.is_grad_enabled()
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad and grad_on for a in args)
        result = {}

        def forward():
            out = cls.forward(ctx, *args, **kwargs)
            result["tuple"] = isinstance(out, (tuple, list))
            outs = list(out) if result["tuple"] else [out]
            for o in outs:
                if not isinstance(o, Tensor):
                    raise TypeError(f"[{cls.__name__}] forward must return tensors, got {type(o).__name__}")
            return outs

        def done():
            return (list(ctx._to_save), list(ctx._dirty))

        def backward(cpp_ctx, grads):
            ctx._cpp = cpp_ctx
            try:
                r = cls.backward(ctx, *grads)
            finally:
                ctx._cpp = None
            r = list(r) if isinstance(r, (tuple, list)) else [r]
            if len(r) != len(args):
                raise RuntimeError(f"[{cls.__name__}] backward returned {len(r)} gradients, expected {len(args)} "
                                   "(one per forward argument)")
            return [r[i] for i in tensor_pos]

        outs = _ag.apply_function(cls.__name__ + "Backward", [args[i] for i in tensor_pos], forward, backward, done)
        return tuple(outs) if result.get("tuple") else outs[0]
