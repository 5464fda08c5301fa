"""Optimizer base class: param_groups, state, state_dict in PyTorch's layout.

A step makes one fused C++ call (ts._C._optim) per param group and dtype. The
per-dtype lists of parameters and state tensors are built once and cached in
`_buckets`, so a step costs a few Python operations plus gathering the grads.
The cache is rebuilt when param groups, the state or parameter dtypes change.
"""
import operator
from collections import defaultdict
from copy import deepcopy
from itertools import chain, repeat

import tessel as ts

from ..nn.modules import module as _module

_get_grad = operator.attrgetter("grad")

# Mixed precision: parameters in these dtypes keep their optimizer state (and,
# for optimizers with state, a float32 master copy of themselves) in float32.
_LOW_PRECISION = frozenset((ts._C.dtype.bfloat16, ts._C.dtype.float16))


def _state_dtype(p):
    return ts.float32 if p.dtype in _LOW_PRECISION else p.dtype


def _decayed_grad(p, g, group):
    """g in p's dtype, negated for maximize, with L2 weight decay added; with
    decoupled_weight_decay p is scaled by 1 - lr * wd instead (the pure-Python
    optimizers' shared first step; call under no_grad)."""
    g = g.to(p.dtype)
    if group["maximize"]:
        g = -g
    wd = group["weight_decay"]
    if wd != 0:
        if group.get("decoupled_weight_decay", False):
            p.mul_(1 - group["lr"] * wd)
        else:
            g = g + p * wd
    return g


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class _Bucket:
    """The parameters of one group that share a dtype (and device), with their
    state tensors in parallel lists. `step` is their common step count, or
    None while their counts differ (some params skipped steps without a grad)."""

    __slots__ = ("params", "lists", "step", "ready", "names", "low", "cplx")

    def __init__(self, params, names):
        self.params = params
        self.names = names
        self.lists = [[] for _ in names]
        self.step = 0
        self.ready = False  # all state tensors exist
        self.low = bool(params) and params[0].dtype in _LOW_PRECISION
        self.cplx = bool(params) and params[0].dtype.is_complex


class Optimizer:
    """Base class. Subclasses set `_state_names(group)` (the per-parameter state
    tensors), `_fused(group, params, grads, lists, step, first_step)` and,
    where a step counter is kept in the state, `_has_step = True`."""

    _has_step = False

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._buckets = None
        if isinstance(params, ts.Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if not param_groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"

    def __getstate__(self):
        self._sync_steps()
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._buckets = None

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, ts.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        for p in param_group["params"]:
            if not isinstance(p, ts.Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in param_group["params"]]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if seen.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)
        self._invalidate()

    # ----- gradients -------------------------------------------------------

    def zero_grad(self, set_to_none=True):
        """Drop the gradients (set_to_none=True: the next backward allocates them
        anew) or zero them in place."""
        for group in self.param_groups:
            if set_to_none:
                for p in group["params"]:
                    p.grad = None
                continue
            for p in group["params"]:
                g = p.grad
                if g is not None:
                    if g.grad_fn is not None:
                        g = g.detach()
                        p.grad = g
                    g.zero_()

    # ----- the step --------------------------------------------------------

    def _state_names(self, group):
        """The per-parameter state tensors this group's settings need (return
        the same tuple object for the same settings: it is compared every step)."""
        return ()

    def _fused(self, group, params, grads, lists, step, first_step):
        raise NotImplementedError

    def _new_state(self, p, name):
        return ts.zeros_like(p, dtype=_state_dtype(p))

    def _fused_low(self, group, params, grads, lists, step, first_step):
        """bfloat16/float16 params: the update runs in float32 on master copies
        and is rounded into the params. Optimizers with state keep the masters
        in state['master_param'] (so sub-ulp progress is not lost); a master
        is re-seeded when its param was changed from outside since our write."""
        with ts.no_grad():
            if not lists:
                masters = [p.to(ts.float32) for p in params]
            else:
                versions = self.__dict__.setdefault("_master_versions", {})
                masters = []
                for p in params:
                    st = self.state[p]
                    m = st.get("master_param")
                    if m is None or m.dtype != ts.float32 or m.shape != p.shape:
                        m = st["master_param"] = p.to(ts.float32)
                    elif versions.get(p) != p._version and not bool((m.to(p.dtype) == p).all()):
                        m.copy_(p)
                    masters.append(m)
            self._fused(group, masters, grads, lists, step, first_step)
            for p, m in zip(params, masters):
                p.copy_(m)
            if lists:
                for p in params:
                    versions[p] = p._version

    def _fused_complex(self, group, params, grads, lists, step, first_step):
        """Complex params, as in PyTorch: the update runs on their (re, im)
        pairs as independent reals (params, grads and state through
        view_as_real), so Adam's second moments are per part. A 0-d state
        (NAdam's mu_product) is a real number kept in the real part."""
        with ts.no_grad():
            r = ts.view_as_real
            self._fused(group, [r(p) for p in params], [r(g.to(p.dtype)) for g, p in zip(grads, params)],
                        [[r(t) if t.dim() else r(t)[0] for t in lst] for lst in lists], step,
                        first_step)  # views: the params' versions bump

    def _run_fused(self, b):
        return self._fused_low if b.low else self._fused_complex if b.cplx else self._fused

    def _param_steps(self, b):
        """Per-parameter step counts of a bucket; 0 = not stepped yet. Optimizers
        without a step counter in their state (SGD) count 1 once all state exists
        (step 0 tells the fused call to initialize the momentum buffer)."""
        if b.step is not None:
            return [b.step] * len(b.params)
        steps = []
        for i, p in enumerate(b.params):
            st = self.state.get(p)
            if self._has_step:
                steps.append(int(_as_float(st["step"])) if st and "step" in st else 0)
            else:
                steps.append(0 if not st or any(lst[i] is None for lst in b.lists) else 1)
        return steps

    def _set_bucket_step(self, b, steps):
        b.ready = all(t is not None for lst in b.lists for t in lst)
        b.step = steps[0] if all(s == steps[0] for s in steps) and (b.ready or steps[0] == 0) else None

    def _adopt(self, b, names):
        """Fill a bucket's state lists from self.state (None where a param has
        no state yet), casting state to the param's dtype and device."""
        if self._has_step and b.step:
            for p in b.params:
                self.state[p]["step"] = b.step
        b.names = names
        b.lists = []
        if not b.low:  # a master copy is stale once its param is back in full precision
            for p in b.params:
                st = self.state.get(p)
                if st and "master_param" in st:
                    del st["master_param"]
        for name in names:
            lst = []
            for p in b.params:
                st = self.state.get(p)
                t = st.get(name) if st else None
                sd = _state_dtype(p)
                if t is not None and (t.dtype != sd or str(t.device) != str(p.device)):
                    t = st[name] = t.to(dtype=sd, device=p.device)
                lst.append(t)
            b.lists.append(lst)
        b.step = None
        self._set_bucket_step(b, self._param_steps(b))

    def _build_buckets(self):
        """Split each group by (device, dtype) and adopt any existing state
        (after load_state_dict or a dtype change)."""
        self._sync_steps()
        self._epoch = _module._param_data_epoch[0]
        buckets = []
        for group in self.param_groups:
            names = tuple(self._state_names(group))
            by_key = {}
            for p in group["params"]:
                by_key.setdefault((str(p.device), p.dtype), []).append(p)
            group_buckets = []
            for params in by_key.values():
                b = _Bucket(params, names)
                self._adopt(b, names)
                group_buckets.append(b)
            buckets.append(group_buckets)
        self._buckets = buckets
        return buckets

    def _invalidate(self):
        self._sync_steps()
        self._buckets = None

    def step(self, closure=None):
        """One optimization step. closure: re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with ts.enable_grad():
                loss = closure()
        buckets = self._buckets
        if buckets is None or self._epoch != _module._param_data_epoch[0]:
            buckets = self._build_buckets()
        # No no_grad() here: the fused calls update tensors in place without
        # recording history, and entering the context would cost more than them
        # for a small model.
        for group, group_buckets in zip(self.param_groups, buckets):
            names = self._state_names(group)
            for b in group_buckets:
                grads = list(map(_get_grad, b.params))
                # identity test (`None in grads` would call Tensor.__eq__)
                if b.step is not None and b.ready and b.names == names \
                        and not any(map(operator.is_, grads, repeat(None))):
                    b.step += 1
                    self._run_fused(b)(group, b.params, grads, b.lists, b.step, b.step == 1)
                else:
                    with ts.no_grad():
                        self._step_partial(group, b, grads, names)
        return loss

    def _step_partial(self, group, b, grads, names):
        """The slow path: some params have no grad or no state yet, their step
        counts differ, or a hyperparameter change needs other state (amsgrad
        turned on). Params with a grad are batched by step count."""
        if b.names != names:
            self._adopt(b, tuple(names))
        steps = self._param_steps(b)
        by_step = defaultdict(list)
        for i, (p, g) in enumerate(zip(b.params, grads)):
            if g is None:
                continue
            if any(lst[i] is None for lst in b.lists):  # this param's first step: create its state
                st = self.state[p]
                for name, lst in zip(b.names, b.lists):
                    if lst[i] is None:
                        lst[i] = st[name] = self._new_state(p, name)
            elif p not in self.state:
                self.state[p] = {}
            by_step[steps[i]].append(i)
        for step, idx in by_step.items():
            self._run_fused(b)(group, [b.params[i] for i in idx], [grads[i] for i in idx],
                               [[lst[i] for i in idx] for lst in b.lists], step + 1, step == 0)
            for i in idx:
                steps[i] = step + 1
        if self._has_step:
            for p, step in zip(b.params, steps):
                if step:
                    self.state[p]["step"] = step
        self._set_bucket_step(b, steps)

    # ----- state dict ------------------------------------------------------

    def _sync_steps(self):
        """Write the buckets' common step counts into the per-param state (the
        fast path only counts in the bucket)."""
        if self._buckets is None or not self._has_step:
            return
        for group_buckets in self._buckets:
            for b in group_buckets:
                if b.step:
                    for p in b.params:
                        self.state[p]["step"] = b.step

    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]}
        with parameters numbered in group order, as PyTorch."""
        self._sync_steps()
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    st = dict(st)
                    if "step" in st and not isinstance(st["step"], ts.Tensor):
                        st["step"] = ts.tensor(float(st["step"]))  # PyTorch keeps a float32 0-d tensor
                    state[index[id(p)]] = st
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict from state_dict(); state tensors are copied and cast
        to their parameter's dtype."""
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k not in id_map:
                continue
            p = id_map[k]
            new = {}
            for name, value in v.items():
                if name == "step":
                    new[name] = int(_as_float(value))
                elif isinstance(value, ts.Tensor):
                    sd = _state_dtype(p)
                    if value.dtype != sd or str(value.device) != str(p.device):
                        value = value.to(dtype=sd, device=p.device)
                    new[name] = value.clone()
                else:
                    new[name] = value
            state[p] = new
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups
        self._buckets = None


def _as_float(v):
    return float(v.item()) if isinstance(v, ts.Tensor) else float(v)
