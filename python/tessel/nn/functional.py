"""Functional neural-network ops, as torch.nn.functional (C++: tessel/nn/functional.h)."""
import warnings

from .. import _C
from .._C._nn import (  # noqa: F401
    conv1d, conv2d, conv_transpose2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d, batch_norm, layer_norm,
    group_norm, embedding, scaled_dot_product_attention, cross_entropy, nll_loss, mse_loss, l1_loss,
    smooth_l1_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
)
from ._functional.activation import _inplace
from ._functional.activation import (  # noqa: F401
    celu, cosine_similarity, dropout1d, dropout2d, dropout3d, hardshrink, hardsigmoid, hardswish, hardtanh,
    logsigmoid, mish, normalize, prelu, relu6, rms_norm, selu, softmin, softshrink, softsign, tanhshrink, threshold,
)
from ._functional.conv import conv3d, conv_transpose1d, fold, unfold  # noqa: F401
from ._functional.interpolate import interpolate, upsample  # noqa: F401
from ._functional.loss import huber_loss, kl_div  # noqa: F401
from ._functional.loss_extra import (  # noqa: F401
    cosine_embedding_loss, gaussian_nll_loss, hinge_embedding_loss, margin_ranking_loss, multilabel_soft_margin_loss,
    poisson_nll_loss, soft_margin_loss, triplet_margin_loss,
)
from ._functional.pooling import (  # noqa: F401
    adaptive_avg_pool1d, adaptive_max_pool1d, adaptive_max_pool2d, avg_pool1d, max_pool1d,
)
from ._functional.normalization import instance_norm  # noqa: F401
from ._functional.shuffle import channel_shuffle, pixel_shuffle, pixel_unshuffle  # noqa: F401
from ._functional.sparse import embedding_bag  # noqa: F401

linear = _C.linear
sigmoid = _C.sigmoid
tanh = _C.tanh
silu = _C.silu
softplus = _C.softplus
gelu = _C.gelu


def relu(input, inplace=False):
    return input.relu_() if inplace else _C.relu(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _inplace(input, lambda x: _C.leaky_relu(x, negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _inplace(input, lambda x: _C.elu(x, alpha), inplace)


def _implicit_dim(input, op):
    # dim=None: PyTorch's deprecated choice (0 for 0-, 1- and 3-d inputs, else 1), with its warning
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=3)
    return 0 if input.dim() in (0, 1, 3) else 1


def softmax(input, dim=None, dtype=None):
    if dim is None:
        dim = _implicit_dim(input, "softmax")
    # dtype only when given: a keyword argument costs pybind11 ~0.3 us, a sixth of a small call
    return _C.softmax(input, dim) if dtype is None else _C.softmax(input, dim, dtype=dtype)


def log_softmax(input, dim=None, dtype=None):
    if dim is None:
        dim = _implicit_dim(input, "log_softmax")
    return _C.log_softmax(input, dim) if dtype is None else _C.log_softmax(input, dim, dtype=dtype)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """The p-norm of x1 - x2 + eps over the last dim."""
    d = (x1 - x2 + eps).abs()
    if p == float("inf"):
        return d.amax(-1, keepdim=keepdim)
    return d.pow(p).sum(-1, keepdim=keepdim).pow(1.0 / p)


def glu(input, dim=-1):
    """The gated linear unit: a * sigmoid(b), a and b the two halves of `input` along `dim`."""
    if input.dim() == 0 or input.shape[dim] % 2:
        raise ValueError(f"glu: halving dim {dim} needs an even size, got shape {list(input.shape)}")
    a, b = input.chunk(2, dim)
    return a * _C.sigmoid(b)


def dropout(input, p=0.5, training=True, inplace=False):
    if inplace and (not training or p == 0.0):
        return input
    return _inplace(input, lambda x: _C.dropout(x, p, training), inplace)


def pad(input, pad, mode="constant", value=0.0):
    return _C.pad(input, pad, mode, value)


def one_hot(tensor, num_classes=-1):
    """Integer class indices -> int64 one-hot vectors in a new last dim."""
    n = int(tensor.max().item()) + 1 if num_classes < 0 else num_classes
    return _C.eq(tensor.unsqueeze(-1), _C.arange(n, device=tensor.device)).to(_C.dtype.int64)
