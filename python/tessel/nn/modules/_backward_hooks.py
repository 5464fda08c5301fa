"""Module backward hooks (register_full_backward_hook / _pre_hook).

A hooked call routes the module's inputs and outputs that require grad through
identity Functions. The outputs' identity sees grad_output first (pre-hooks
may replace it); the inputs' identity then sees grad_input, calls the hooks
with both, and passes on what they return.
"""
import tessel as ts

from ...autograd.function import Function


class _State:
    __slots__ = ("module", "n_inputs", "in_pos", "n_outputs", "out_pos", "grad_outputs")

    def __init__(self, module, n_inputs, in_pos):
        self.module = module
        self.n_inputs = n_inputs
        self.in_pos = in_pos
        self.n_outputs = 0
        self.out_pos = ()
        self.grad_outputs = None


def _spread(n, positions, values):
    out = [None] * n
    for i, v in zip(positions, values):
        out[i] = v
    return out


def _checked(result, expected, what, hook):
    if not isinstance(result, (tuple, list)):
        result = (result,)
    if len(result) != expected:
        raise RuntimeError(f"backward hook {getattr(hook, '__name__', hook)!r} returned an invalid number of "
                           f"{what}, got {len(result)}, but expected {expected}")
    for r in result:
        if r is not None and not isinstance(r, ts.Tensor):
            raise TypeError(f"backward hook {getattr(hook, '__name__', hook)!r} must return tensors or None in "
                            f"{what}, got {type(r).__name__}")
    return tuple(result)


def _run_full_hooks(state, grad_input):
    module = state.module
    for hook in list(module._backward_hooks.values()):
        result = hook(module, grad_input, state.grad_outputs)
        if result is not None:
            grad_input = _checked(result, state.n_inputs, "grad_input", hook)
    return grad_input


class _Identity(Function):
    """Passes the tensors through; subclasses see their gradients in backward.
    Unmaterialized grads stay None so the hooks see which outputs had none."""

    @staticmethod
    def forward(ctx, state, *tensors):
        ctx.state = state
        ctx.set_materialize_grads(False)
        return tuple(t.detach() for t in tensors)


class _InputHook(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        grad_input = _run_full_hooks(state, tuple(_spread(state.n_inputs, state.in_pos, grads)))
        return (None,) + tuple(grad_input[i] for i in state.in_pos)


class _OutputHook(_Identity):
    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        module = state.module
        grad_output = tuple(_spread(state.n_outputs, state.out_pos, grads))
        for hook in list(module._backward_pre_hooks.values()):
            result = hook(module, grad_output)
            if result is not None:
                grad_output = _checked(result, state.n_outputs, "grad_output", hook)
        state.grad_outputs = grad_output
        if not state.in_pos:
            # no input takes a gradient: the full hooks run now, with grad_input all None
            _run_full_hooks(state, (None,) * state.n_inputs)
        return (None,) + tuple(grad_output[i] for i in state.out_pos)


def wrap_inputs(module, args):
    """(state, args) with the inputs that require grad routed through _InputHook;
    state is None when grad mode is off."""
    if not ts.is_grad_enabled():
        return None, args
    pos = tuple(i for i, a in enumerate(args) if isinstance(a, ts.Tensor) and a.requires_grad)
    state = _State(module, len(args), pos)
    if pos:
        routed = _InputHook.apply(state, *[args[i] for i in pos])
        args = list(args)
        for i, t in zip(pos, routed):
            args[i] = t
        args = tuple(args)
    return state, args


def wrap_outputs(state, output):
    """The output (a tensor or a tuple/list of them) with the tensors that require
    grad routed through _OutputHook."""
    single = isinstance(output, ts.Tensor)
    if not single and not isinstance(output, (tuple, list)):
        return output
    items = [output] if single else list(output)
    tensor_at = [i for i, o in enumerate(items) if isinstance(o, ts.Tensor)]
    pos = tuple(k for k, i in enumerate(tensor_at) if items[i].requires_grad)
    if not pos:
        return output
    state.n_outputs = len(tensor_at)
    state.out_pos = pos
    routed = _OutputHook.apply(state, *[items[tensor_at[k]] for k in pos])
    for k, t in zip(pos, routed):
        items[tensor_at[k]] = t
    if single:
        return items[0]
    return type(output)(items) if isinstance(output, list) or type(output) is tuple else type(output)(*items)
