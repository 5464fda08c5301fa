"""RNN, LSTM and GRU (and their single-step cells) with PyTorch's parameter
names, gate order and init.

The input projection of a whole sequence is one matmul per layer and
direction; LSTM and GRU then run the recurrence as one fused kernel forward and
backward (kernels/cpu/rnn.cpp: float32/float64 on the CPU); elsewhere a time
loop does the recurrent matmul and the gates. A
PackedSequence runs the same loop over the active rows of each time step
(sequences are sorted by decreasing length), so each sequence sees exactly
its own steps."""
import math
import numbers
import warnings

import tessel as ts

from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# One time step given the input projection xp = x W_ih^T + b_ih; each returns (h, c).
def _tanh_step(xp, h, c, w_hh, b_hh):
    return (xp + F.linear(h, w_hh, b_hh)).tanh(), None


def _relu_step(xp, h, c, w_hh, b_hh):
    return (xp + F.linear(h, w_hh, b_hh)).relu(), None


def _lstm_step(xp, h, c, w_hh, b_hh):
    """Gates i, f, g, o in that order."""
    i, f, g, o = (xp + F.linear(h, w_hh, b_hh)).chunk(4, 1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _gru_step(xp, h, c, w_hh, b_hh):
    """Gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""
    x_r, x_z, x_n = xp.chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    r = (x_r + h_r).sigmoid()
    z = (x_z + h_z).sigmoid()
    n = (x_n + r * h_n).tanh()
    return n + z * (h - n), None


_STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN_TANH": _tanh_step, "RNN_RELU": _relu_step}


def _cat_rows(parts):
    return parts[0] if len(parts) == 1 else ts.cat(parts, 0)


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}")
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size <= 0:
            raise ValueError("hidden_size must be a positive integer")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than or equal to 1")
        if proj_size != 0:
            raise NotImplementedError("LSTM proj_size is not supported")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input_size = input_size if layer == 0 else hidden_size * num_directions
                suffix = "_reverse" if direction == 1 else ""
                shapes = {f"weight_ih_l{layer}{suffix}": (gate_size, layer_input_size),
                          f"weight_hh_l{layer}{suffix}": (gate_size, hidden_size)}
                if bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (gate_size,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (gate_size,)
                for name, shape in shapes.items():
                    setattr(self, name, Parameter(ts.empty(*shape, dtype=dtype, device=device)))
                self._flat_weights_names.extend(shapes)
                self._all_weights.append(list(shapes))
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """A no-op kept for PyTorch code (cuDNN's packed weights don't apply here)."""

    @property
    def all_weights(self):
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self):
        return [getattr(self, name) for name in self._flat_weights_names]

    def _layer_weights(self, index):
        """(w_ih, w_hh, b_ih, b_hh) of one layer-direction; biases None without bias."""
        names = self._all_weights[index]
        w = [getattr(self, n) for n in names]
        return (w[0], w[1], w[2], w[3]) if len(w) == 4 else (w[0], w[1], None, None)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    def _run(self, input, hx, cx, batch_sizes=None):
        """The stacked, possibly bidirectional recurrence on (L, N, H_in) input, or on packed
        (sum(batch_sizes), H_in) data. hx, cx: (num_layers * D, N, H) (cx None except for LSTM)."""
        if batch_sizes is None and ts._C._onnx.tracing():
            return self._run_traced(input, hx, cx)
        return self._run_loop(input, hx, cx, batch_sizes)

    def _run_traced(self, input, hx, cx):
        """Under ONNX export the whole recurrence is recorded as one "rnn" call (exported as
        ONNX LSTM/GRU/RNN nodes), so the time loop does not depend on the sequence length."""
        if self.proj_size:
            raise NotImplementedError("onnx.export: LSTM with proj_size has no ONNX mapping")
        weights = [w for idx in range(len(self._all_weights)) for w in self._layer_weights(idx) if w is not None]
        inputs = [input, hx] + ([cx] if cx is not None else []) + weights
        attrs = {"mode": self.mode, "num_layers": self.num_layers, "bidirectional": int(self.bidirectional),
                 "hidden_size": self.hidden_size, "has_bias": int(bool(self.bias)), "has_cell": int(cx is not None)}

        def run():
            out, h, c = self._run_loop(input, hx, cx)
            return [out, h] + ([c] if c is not None else [])

        outs = ts._C._onnx.traced_call("rnn", run, inputs, attrs)
        return outs[0], outs[1], (outs[2] if cx is not None else None)

    def _run_loop(self, input, hx, cx, batch_sizes=None):
        num_directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                out, h, c = self._cell_loop(layer_input, hx[idx], None if cx is None else cx[idx],
                                            self._layer_weights(idx), direction == 1, batch_sizes)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if num_directions == 1 else ts.cat(outputs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, ts.stack(h_n, 0), (ts.stack(c_n, 0) if cx is not None else None)

    def _cell_loop(self, x, h, c, weights, reverse, batch_sizes=None):
        w_ih, w_hh, b_ih, b_hh = weights
        step = _STEPS[self.mode]
        if batch_sizes is not None:
            return self._packed_loop(F.linear(x, w_ih, b_ih).split(batch_sizes), h, c, w_hh, b_hh, step, reverse,
                                     batch_sizes)
        if self.mode in ("LSTM", "GRU") and not ts._C._onnx.tracing():
            # One fused kernel for the whole sequence, forward and backward (kernels/cpu/rnn.cpp);
            # None where it does not apply (other devices and dtypes, autocast): the loop below.
            # The LSTM's two biases are one sum inside the kernel (it adds b_hh to every gate
            # anyway), so the projection has no bias pass and its gradient no column sums.
            merge = self.mode == "LSTM" and b_ih is not None and b_hh is not None
            xp = F.linear(x, w_ih, None if merge else b_ih)
            r = ts._C._nn._rnn_fused(self.mode == "GRU", xp, h, c, w_hh, b_ih + b_hh if merge else b_hh, reverse)
            if r is not None:
                return r[0], r[1], (r[2] if self.mode == "LSTM" else None)
            if merge:
                xp = xp + b_ih
        else:
            xp = F.linear(x, w_ih, b_ih)
        xs = xp.unbind(0)
        outs = [None] * len(xs)
        for t in self._steps(len(xs), reverse):
            h, c = step(xs[t], h, c, w_hh, b_hh)
            outs[t] = h
        return ts.stack(outs, 0), h, c

    def _packed_loop(self, xs, h0, c0, w_hh, b_hh, step, reverse, batch_sizes):
        """Step t updates only the first batch_sizes[t] rows (the sequences still running).
        Forward: rows that stop keep their last state. Reverse: rows join with their initial state
        at their own last step."""
        outs = [None] * len(xs)
        if not reverse:
            h, c = h0, c0
            done_h, done_c = [], []
            for t, b in enumerate(batch_sizes):
                if b < h.shape[0]:
                    done_h.append(h[b:])
                    h = h[:b]
                    if c is not None:
                        done_c.append(c[b:])
                        c = c[:b]
                h, c = step(xs[t], h, c, w_hh, b_hh)
                outs[t] = h
            h_n = _cat_rows([h] + done_h[::-1])
            c_n = None if c is None else _cat_rows([c] + done_c[::-1])
        else:
            n = batch_sizes[-1]
            h, c = h0[:n], (None if c0 is None else c0[:n])
            for t in range(len(xs) - 1, -1, -1):
                b = batch_sizes[t]
                if b > h.shape[0]:
                    h = ts.cat([h, h0[h.shape[0]:b]], 0)
                    if c is not None:
                        c = ts.cat([c, c0[c.shape[0]:b]], 0)
                h, c = step(xs[t], h, c, w_hh, b_hh)
                outs[t] = h
            h_n, c_n = h, c
        return _cat_rows(outs), h_n, c_n

    def _prepare_packed(self, input, hx, with_cell):
        """Initial states (layers*D, N, H) in the packed (length-sorted) batch order."""
        data = input.data
        if data.dim() != 2 or data.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {data.shape[-1] if data.dim() else 0}")
        batch_sizes = [int(b) for b in input.batch_sizes.tolist()]
        num_directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * num_directions, batch_sizes[0], self.hidden_size)
        if hx is None:
            h0 = ts.zeros(*shape, dtype=data.dtype, device=data.device)
            states = (h0, ts.zeros(*shape, dtype=data.dtype, device=data.device)) if with_cell else (h0,)
        else:
            states = tuple(hx) if with_cell else (hx,)
            if with_cell and len(states) != 2:
                raise ValueError("LSTM expects hx to be a tuple (h_0, c_0)")
            for st in states:
                if tuple(st.shape) != shape:
                    raise RuntimeError(f"Expected hidden size {shape}, got {tuple(st.shape)}")
            if input.sorted_indices is not None:
                states = tuple(st.index_select(1, input.sorted_indices) for st in states)
        return data, batch_sizes, states

    def _forward_packed(self, input, hx, with_cell):
        data, batch_sizes, states = self._prepare_packed(input, hx, with_cell)
        out, h_n, c_n = self._run(data, states[0], states[1] if with_cell else None, batch_sizes)
        finals = (h_n, c_n) if with_cell else (h_n,)
        if input.unsorted_indices is not None:
            finals = tuple(st.index_select(1, input.unsorted_indices) for st in finals)
        output = PackedSequence(out, input.batch_sizes, input.sorted_indices, input.unsorted_indices)
        return output, (finals if with_cell else finals[0])

    def _prepare(self, input, hx, with_cell):
        """Normalizes input to (L, N, H_in) and the initial states to (layers*D, N, H)."""
        if input.dim() not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.dim()}D instead")
        batched = input.dim() == 3
        if not batched:
            input = input.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.shape[-1]}")
        num_directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * num_directions, input.shape[1], self.hidden_size)
        if hx is None:
            h0 = ts.zeros(*shape, dtype=input.dtype, device=input.device)
            states = (h0, ts.zeros(*shape, dtype=input.dtype, device=input.device)) if with_cell else (h0,)
        else:
            states = tuple(hx) if with_cell else (hx,)
            if with_cell and len(states) != 2:
                raise ValueError("LSTM expects hx to be a tuple (h_0, c_0)")
            if not batched:
                if any(s.dim() != 2 for s in states):
                    raise RuntimeError("For unbatched 2-D input, hx should also be 2-D")
                states = tuple(s.unsqueeze(1) for s in states)
            elif any(s.dim() != 3 for s in states):
                raise RuntimeError("For batched 3-D input, hx should also be 3-D")
            for s in states:
                if tuple(s.shape) != shape:
                    raise RuntimeError(f"Expected hidden size {shape}, got {tuple(s.shape)}")
        return input, states, batched

    def _finish(self, output, states, batched):
        if not batched:
            return output.squeeze(1), tuple(s.squeeze(1) for s in states)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, states

    def _steps(self, n, reverse):
        return range(n - 1, -1, -1) if reverse else range(n)


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, False)
        input, (h0,), batched = self._prepare(input, hx, False)
        output, h_n, _ = self._run(input, h0, None)
        output, (h_n,) = self._finish(output, (h_n,), batched)
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory; gates i, f, g, o in that order in weight_ih/hh rows.
    Returns output, (h_n, c_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, True)
        input, (h0, c0), batched = self._prepare(input, hx, True)
        output, h_n, c_n = self._run(input, h0, c0)
        return self._finish(output, (h_n, c_n), batched)


class GRU(RNNBase):
    """Gated recurrent unit; gates r, z, n in that order, with
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and h' = (1 - z) * n + z * h."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)

    def forward(self, input, hx=None):
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx, False)
        input, (h0,), batched = self._prepare(input, hx, False)
        output, h_n, _ = self._run(input, h0, None)
        output, (h_n,) = self._finish(output, (h_n,), batched)
        return output, h_n


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool) or hidden_size <= 0:
            raise ValueError("hidden_size must be a positive integer")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = dict(dtype=dtype, device=device)
        self.weight_ih = Parameter(ts.empty(num_chunks * hidden_size, input_size, **kw))
        self.weight_hh = Parameter(ts.empty(num_chunks * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(ts.empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(ts.empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _prepare(self, input, states):
        """input (N, H_in) or (H_in,), states (N, H) or (H,) or None -> batched tensors and a flag."""
        name = type(self).__name__
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} "
                               f"expected {self.input_size}")
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        out = []
        for st in states:
            if st is None:
                st = ts.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            else:
                if st.dim() != input.dim():
                    raise ValueError(f"{name}: Expected hidden to be {input.dim()}D for {input.dim()}D input, "
                                     f"got {st.dim()}D instead")
                st = st if batched else st.unsqueeze(0)
                if tuple(st.shape) != (x.shape[0], self.hidden_size):
                    raise RuntimeError(f"{name}: hidden has shape {tuple(st.shape)}, expected "
                                       f"{(x.shape[0], self.hidden_size)}")
            out.append(st)
        return x, out, batched

    def _step(self, step, x, h, c):
        return step(F.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh)


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,))
        h, _ = self._step(_relu_step if self.nonlinearity == "relu" else _tanh_step, x, h, None)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; hx is (h, c) or None; returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and len(hx) != 2:
            raise ValueError("LSTMCell: Expected hx to be a tuple (h_0, c_0)")
        x, (h, c), batched = self._prepare(input, (None, None) if hx is None else tuple(hx))
        h, c = self._step(_lstm_step, x, h, c)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in GRU)."""

    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, (hx,))
        h, _ = self._step(_gru_step, x, h, None)
        return h if batched else h.squeeze(0)
