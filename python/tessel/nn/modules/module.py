"""Module: the base class of layers and models, as torch.nn.Module.

Speed notes. Parameters, buffers and submodules live in the registries
(`_parameters`, `_buffers`, `_modules`) for iteration *and* in the instance
`__dict__`, so `self.weight` is a plain dict hit; `__setattr__`/`__delattr__`
keep both in sync. There is no `__getattr__` (it would stop CPython from
specializing every attribute load on modules), so assign through setattr or
register_*, not into the registries directly. `module(x)` reaches `forward`
without a Python-level `__call__` frame unless the module has hooks; the
forward it calls is bound when the class is created (assigning `Cls.forward`
later needs `Cls._call = Cls.forward` too; an instance's own forward works).
"""
import copy
import itertools
import operator
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import tessel as ts

from ..parameter import Parameter
from . import _backward_hooks

_FLOATING = None


def _floating_dtypes():
    global _FLOATING
    if _FLOATING is None:
        _FLOATING = frozenset((ts.float16, ts.bfloat16, ts.float32, ts.float64, ts.complex64, ts.complex128))
    return _FLOATING


# Bumped whenever Module._apply swaps parameter data (to(dtype), ...): optimizers
# compare it once per step to know their cached per-dtype lists are stale.
_param_data_epoch = [0]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class RemovableHandle:
    """Returned by register_*_hook; `remove()` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict, module):
        self.id = next(RemovableHandle._next_id)
        self._hooks_dict = hooks_dict
        self._module = module

    def remove(self):
        self._hooks_dict.pop(self.id, None)
        self._module._refresh_call()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _addindent(s, num_spaces):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join(num_spaces * " " + line for line in lines)


class Module:
    """Base class of all layers. Subclasses call `super().__init__()` first, then
    assign Parameters, Modules and buffers as attributes, and define forward()."""

    training: bool

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments")
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = set()
        d["_forward_pre_hooks_with_kwargs"] = set()
        d["_backward_hooks"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    # module(x) calls self._call(x): the class's forward (bound when the class
    # is created), reached through a C-level attrgetter with no Python frame in
    # between; an instance with hooks or its own forward has _call in its dict.
    _call = forward
    __call__ = property(operator.attrgetter("_call"))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_call" not in cls.__dict__:
            cls._call = cls.forward  # through the MRO, so a mixin's forward counts

    def _refresh_call(self):
        d = self.__dict__
        if d["_forward_pre_hooks"] or d["_forward_hooks"] or d.get("_backward_hooks") or d.get("_backward_pre_hooks"):
            d["_call"] = self._call_with_hooks
        elif "forward" in d:
            d["_call"] = d["forward"]
        else:
            d.pop("_call", None)

    def _call_with_hooks(self, *args, **kwargs):
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs)")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        d = self.__dict__
        backward_state = None
        if d.get("_backward_hooks") or d.get("_backward_pre_hooks"):
            backward_state, args = _backward_hooks.wrap_inputs(self, args)
        output = self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_hooks.items()):
            if hook_id in self._forward_hooks_with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result
        if backward_state is not None:
            output = _backward_hooks.wrap_outputs(backward_state, output)
        return output

    # ----- hooks -----------------------------------------------------------

    def _add_hook(self, hooks, kw_set, hook, prepend, with_kwargs):
        handle = RemovableHandle(hooks, self)
        hooks[handle.id] = hook
        if with_kwargs:
            kw_set.add(handle.id)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        self._refresh_call()
        return handle

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args; with_kwargs:
        hook(module, args, kwargs) -> None or (args, kwargs)."""
        return self._add_hook(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs, hook, prepend, with_kwargs)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or a new grad_input tuple,
        called once the gradients w.r.t. the module's positional inputs are known
        (grad_input holds None for inputs that take no gradient)."""
        self.__dict__.setdefault("_backward_hooks", OrderedDict())
        return self._add_hook(self._backward_hooks, set(), hook, prepend, False)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or a new grad_output tuple, called
        when the gradients w.r.t. the module's outputs are known."""
        self.__dict__.setdefault("_backward_pre_hooks", OrderedDict())
        return self._add_hook(self._backward_pre_hooks, set(), hook, prepend, False)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args, output) -> None or a new output (with_kwargs: hook(module, args, kwargs, output))."""
        return self._add_hook(self._forward_hooks, self._forward_hooks_with_kwargs, hook, prepend, with_kwargs)

    # ----- registration ----------------------------------------------------

    def _check_name(self, name, kind):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_parameter(self, name, param):
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(ts.nn.Parameter or None required)")
        self._parameters[name] = param
        self.__dict__[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, ts.Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(ts.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)
        self.__dict__[name] = tensor

    def add_module(self, name, module):
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module
        self.__dict__[name] = module

    register_module = add_module

    def _forget(self, name, *registries):
        for reg in registries:
            if name in reg:
                del reg[name]
        self._non_persistent_buffers_set.discard(name)

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, self._buffers, self._modules)
            params[name] = value
            d[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(ts.nn.Parameter or None expected)")
            params[name] = None
            d[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, params, self._buffers)
            self._modules[name] = value
            d[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(ts.nn.Module or None expected)")
            self._modules[name] = None
            d[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, ts.Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(ts.Tensor or None expected)")
            self._buffers[name] = value
            d[name] = value
        else:
            object.__setattr__(self, name, value)
            if name == "forward" and params is not None:
                self._refresh_call()  # an instance's own forward is what module(x) calls

    def __delattr__(self, name):
        d = self.__dict__
        if "_parameters" in d and any(name in r for r in (self._parameters, self._buffers, self._modules)):
            self._forget(name, self._parameters, self._buffers, self._modules)
            d.pop(name, None)
        else:
            object.__delattr__(self, name)
            if name == "forward":
                self._refresh_call()

    def __deepcopy__(self, memo):
        # ts.Tensor buffers have no __deepcopy__: seed the memo with clones.
        for _, buf in self.named_buffers(remove_duplicate=False):
            if id(buf) not in memo:
                memo[id(buf)] = buf.clone()
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        state = {k: v for k, v in self.__dict__.items() if k != "_trainer"}
        new.__dict__.update(copy.deepcopy(state, memo))
        return new

    # ----- iteration -------------------------------------------------------

    def _named_members(self, get_members, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None or id(v) in memo:
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield (module_prefix + "." + k if module_prefix else k), v

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_children(self):
        memo = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def get_submodule(self, target):
        if target == "":
            return self
        mod = self
        for item in target.split("."):
            if not isinstance(mod._modules.get(item), Module):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no parameter `{name}`")
        return mod._parameters[name]

    # ----- modes and conversions ------------------------------------------

    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.__dict__["training"] = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            g = p.grad
            if g is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if g.grad_fn is not None:
                    g = g.detach()
                    p.grad = g
                g.zero_()

    def apply(self, fn):
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply(self, fn):
        """Replace every parameter's and buffer's data by fn(tensor). Parameters
        keep their identity (an optimizer built before `.to()` keeps working)."""
        for module in self.children():
            module._apply(fn)
        with ts.no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                new = fn(p)
                if new is not p:
                    p.data = new
                g = p.grad
                if g is not None:
                    new_g = fn(g)
                    if new_g is not g:
                        p.grad = new_g
            for name, buf in self._buffers.items():
                if buf is not None:
                    new = fn(buf)
                    self._buffers[name] = new
                    self.__dict__[name] = new
        _param_data_epoch[0] += 1
        return self

    def to(self, *args, **kwargs):
        """to(dtype), to(device), to(device, dtype), to(tensor): floating-point
        parameters and buffers take the dtype; every tensor moves to the device."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, ts.dtype):
                dtype = a
            elif isinstance(a, ts.Tensor):
                device, dtype = a.device, a.dtype
            elif a is not None:
                device = a
        floating = _floating_dtypes()
        if dtype is not None and dtype not in floating:
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but got desired "
                            f"dtype={dtype}")
        if device is not None:
            device = ts.device(device) if isinstance(device, str) else device

        def convert(t):
            kw = {}
            if device is not None and str(t.device) != str(device):
                kw["device"] = device
            if dtype is not None and t.dtype in floating and t.dtype != dtype:
                kw["dtype"] = dtype
            return t.to(**kw) if kw else t

        return self._apply(convert)

    def _cast(self, dtype):
        floating = _floating_dtypes()
        return self._apply(lambda t: t.to(dtype) if t.dtype in floating and t.dtype != dtype else t)

    def float(self):
        return self._cast(ts.float32)

    def double(self):
        return self._cast(ts.float64)

    def half(self):
        return self._cast(ts.float16)

    def bfloat16(self):
        return self._cast(ts.bfloat16)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))

    # ----- state dict ------------------------------------------------------

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else buf.detach()

    def state_dict(self, *, destination=None, prefix="", keep_vars=False):
        """An ordered dict name -> tensor of parameters and persistent buffers
        (detached aliases: they share memory with the module's tensors)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict, prefix, strict, missing_keys, unexpected_keys, error_msgs, assign):
        persistent = {k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set}
        local_state = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items()) if v is not None}
        for name, param in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, ts.Tensor):
                error_msgs.append(f'While copying the parameter named "{key}", expected ts.Tensor from checkpoint '
                                  f"but received {type(value)}")
                continue
            if tuple(value.shape) != tuple(param.shape):
                error_msgs.append(f"size mismatch for {key}: copying a param with shape {tuple(value.shape)} from "
                                  f"checkpoint, the shape in current model is {tuple(param.shape)}.")
                continue
            try:
                with ts.no_grad():
                    if assign:
                        if isinstance(param, Parameter):
                            setattr(self, name, Parameter(value, requires_grad=param.requires_grad))
                        else:
                            setattr(self, name, value)
                    else:
                        param.copy_(value)
            except Exception as ex:  # noqa: BLE001  (reported with the key, as PyTorch does)
                error_msgs.append(f'While copying the parameter named "{key}", whose dimensions in the model are '
                                  f"{tuple(param.shape)} and whose dimensions in the checkpoint are "
                                  f"{tuple(value.shape)}, an exception occurred : {ex.args}.")
        for key in state_dict:
            if key.startswith(prefix):
                head = key[len(prefix):].split(".", 1)
                if len(head) > 1:
                    if head[0] not in self._modules:
                        unexpected_keys.append(key)
                elif head[0] not in local_state:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy parameters and buffers from state_dict into this module. Returns
        (missing_keys, unexpected_keys); with strict=True either one raises, and
        a shape mismatch always raises."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing_keys, unexpected_keys, error_msgs = [], [], []
        state_dict = OrderedDict(state_dict)  # subclasses may add entries (BatchNorm's num_batches_tracked)

        def load(module, prefix):
            module._load_from_state_dict(state_dict, prefix, True, missing_keys, unexpected_keys, error_msgs, assign)
            for name, child in module._modules.items():
                if child is not None:
                    load(child, prefix + name + ".")

        load(self, "")
        if strict:
            if unexpected_keys:
                error_msgs.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected_keys)))
            if missing_keys:
                error_msgs.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing_keys)))
        if error_msgs:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                self._get_name(), "\n\t".join(error_msgs)))
        return _IncompatibleKeys(missing_keys, unexpected_keys)

    # ----- repr ------------------------------------------------------------

    def _get_name(self):
        return type(self).__name__

    def extra_repr(self):
        """Layer-specific text between the parentheses of repr(); override it."""
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(" + key + "): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(self.__dict__))
