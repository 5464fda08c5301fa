"""RNN, LSTM and GRU with PyTorch's parameter names, gate order and init.

The input projection of a whole sequence is one matmul per layer and
direction; the time loop then does the recurrent matmul and the gates."""
import math
import numbers
import warnings

import tessel as ts

from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


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

    def _run(self, input, hx, cx):
        """The stacked, possibly bidirectional recurrence on (L, N, H_in) input.
        hx, cx: (num_layers * D, N, H) (cx None except for LSTM)."""
        num_directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                idx = layer * num_directions + direction
                out, h, c = self._cell_loop(layer_input, hx[idx], None if cx is None else cx[idx],
                                            self._layer_weights(idx), direction == 1)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            layer_input = outputs[0] if num_directions == 1 else ts.cat(outputs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        return layer_input, ts.stack(h_n, 0), (ts.stack(c_n, 0) if cx is not None else None)

    def _cell_loop(self, x, h, c, weights, reverse):
        raise NotImplementedError

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

    def _cell_loop(self, x, h, c, weights, reverse):
        w_ih, w_hh, b_ih, b_hh = weights
        xs = F.linear(x, w_ih, b_ih).unbind(0)
        outs = [None] * len(xs)
        relu = self.nonlinearity == "relu"
        for t in self._steps(len(xs), reverse):
            pre = xs[t] + F.linear(h, w_hh, b_hh)
            h = pre.relu() if relu else pre.tanh()
            outs[t] = h
        return ts.stack(outs, 0), h, None

    def forward(self, input, hx=None):
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

    def _cell_loop(self, x, h, c, weights, reverse):
        w_ih, w_hh, b_ih, b_hh = weights
        xs = F.linear(x, w_ih, b_ih).unbind(0)
        outs = [None] * len(xs)
        for t in self._steps(len(xs), reverse):
            i, f, g, o = (xs[t] + F.linear(h, w_hh, b_hh)).chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outs[t] = h
        return ts.stack(outs, 0), h, c

    def forward(self, input, hx=None):
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

    def _cell_loop(self, x, h, c, weights, reverse):
        w_ih, w_hh, b_ih, b_hh = weights
        xs = F.linear(x, w_ih, b_ih).unbind(0)
        outs = [None] * len(xs)
        for t in self._steps(len(xs), reverse):
            x_r, x_z, x_n = xs[t].chunk(3, 1)
            h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
            r = (x_r + h_r).sigmoid()
            z = (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
            h = n + z * (h - n)
            outs[t] = h
        return ts.stack(outs, 0), h, None

    def forward(self, input, hx=None):
        input, (h0,), batched = self._prepare(input, hx, False)
        output, h_n, _ = self._run(input, h0, None)
        output, (h_n,) = self._finish(output, (h_n,), batched)
        return output, h_n
