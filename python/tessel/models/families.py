"""The built-in families: MLP, SmallCNN, SmallResNet, AudioCNN, TextTransformer, TextBag, TextTF.

They are written with ops that ts.onnx.export emits (linear, conv, batch norm,
pooling, matmul, softmax, layer norm), so each one runs in the Python-free
runtime after export. Inputs: flat features [N, F] (or any shape, flattened)
for the MLP, [N, C, H, W] images or log-mel spectrograms for the CNNs, int64
token ids [N, L] (0 = padding) for the text models.
"""
import math

import tessel as ts
from tessel import nn

_ACT = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class _Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class MLP(nn.Module):
    """Linear layers of widths `hidden`, activation, optional batch norm and
    dropout; residual=True wraps each layer after the first in a skip connection."""

    def __init__(self, num_inputs, num_outputs, hidden=(128, 64), dropout=0.1, activation="relu", batch_norm=False,
                 residual=False):
        super().__init__()
        layers = []
        width = num_inputs
        for i, h in enumerate(hidden):
            block = [nn.Linear(width, h)]
            if batch_norm:
                block.append(nn.BatchNorm1d(h))
            block.append(_ACT[activation]())
            if dropout:
                block.append(nn.Dropout(dropout))
            if residual and i > 0 and width == h:
                layers.append(_Residual(nn.Sequential(*block)))
            else:
                layers += block
            width = h
        layers.append(nn.Linear(width, num_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        if x.dim() != 2:
            x = x.flatten(1)
        return self.net(x)


def _conv_bn(cin, cout, stride=1, bn=True):
    layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers


class SmallCNN(nn.Module):
    """One 3x3 conv (+ batch norm) + ReLU + 2x2 max pool per entry of
    `channels`, then global average pooling, dropout and a linear head."""

    def __init__(self, in_channels, num_outputs, channels=(32, 64), dropout=0.2, batch_norm=True):
        super().__init__()
        layers, c = [], in_channels
        for w in channels:
            layers += _conv_bn(c, w, bn=batch_norm) + [nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, num_outputs)

    def forward(self, x):
        x = self.features(x).mean((2, 3))
        return self.head(self.dropout(x))


class _Block(nn.Module):
    """A basic residual block: conv-bn-relu-conv-bn plus the (projected) input."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.short is None else self.short(x)))


class SmallResNet(nn.Module):
    """A ResNet-style image model: a 3x3 stem, then one stage per entry of
    `channels` (`blocks` basic blocks each; every stage after the first halves
    the size), global average pooling and a linear head."""

    def __init__(self, in_channels, num_outputs, channels=(32, 64, 128), blocks=1, dropout=0.0):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, channels[0]), nn.ReLU())
        stages, c = [], channels[0]
        for i, w in enumerate(channels):
            for b in range(blocks):
                stages.append(_Block(c, w, 2 if (i > 0 and b == 0) else 1))
                c = w
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, num_outputs)

    def forward(self, x):
        x = self.stages(self.stem(x)).mean((2, 3))
        return self.head(self.dropout(x))


class AudioCNN(SmallCNN):
    """A CNN on log-mel spectrograms [N, 1, n_mels, frames]: SmallCNN's
    conv-bn-relu-pool blocks with three narrower stages by default.

    pool="mean" averages the last feature map over frequency and time;
    "meanmax" also takes its maximum (a word is a short event in a longer
    clip: the mean of a clip that is mostly noise washes it out).
    center=True subtracts each clip's mean log-mel level first, so the
    recording's gain does not move the features (spoken words at any volume)."""

    def __init__(self, in_channels, num_outputs, channels=(16, 32, 64), dropout=0.2, pool="mean", center=False):
        super().__init__(in_channels, num_outputs, channels=channels, dropout=dropout, batch_norm=True)
        if pool not in ("mean", "meanmax"):
            raise ValueError(f"AudioCNN: pool must be 'mean' or 'meanmax', got {pool!r}")
        self.pool, self.center = pool, bool(center)
        if pool == "meanmax":
            self.head = nn.Linear(2 * channels[-1], num_outputs)

    def forward(self, x):
        if self.center:
            x = x - x.mean((1, 2, 3), keepdim=True)
        h = self.features(x)
        z = h.mean((2, 3))
        if self.pool == "meanmax":
            z = ts.cat([z, h.amax((2, 3))], 1)
        return self.head(self.dropout(z))


def _pad_mask(ids):
    """float [N, L]: 1 for tokens, 0 for padding (id 0)."""
    return (ids != 0).to(ts.float32)


def _masked_mean(h, mask):
    m = mask.unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


class _EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer; padding keys get -1e9 before the softmax."""

    def __init__(self, dim, heads, ff_dim, dropout):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        n, length, dim = x.shape
        hd = dim // self.heads
        q, k, v = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, hd).permute(2, 0, 3, 1, 4).unbind(0)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd)) + bias
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(n, length, dim)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.ff(self.norm2(x)))


class TextTransformer(nn.Module):
    """Token embedding + learned positions, `layers` pre-norm encoder layers,
    mean over the non-padding tokens, a linear head. Input int64 [N, max_length]."""

    def __init__(self, vocab_size, max_length, num_outputs, dim=64, heads=4, layers=2, ff_dim=128, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(ts.randn(1, max_length, dim) * 0.02)
        self.layers = nn.ModuleList([_EncoderLayer(dim, heads, ff_dim, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, num_outputs)

    def forward(self, ids):
        mask = _pad_mask(ids)
        bias = ((1.0 - mask) * -1e9).unsqueeze(1).unsqueeze(1)  # [N, 1, 1, L]
        x = self.drop(self.embed(ids) + self.pos)
        for layer in self.layers:
            x = layer(x, bias)
        return self.head(self.drop(_masked_mean(self.norm(x), mask)))


def _bag_head(width, hidden, dropout, num_outputs):
    """Dropout, an optional hidden ReLU layer, a linear head: the bag models' classifier."""
    layers = [nn.Dropout(dropout)]
    if hidden:
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
    layers.append(nn.Linear(hidden or width, num_outputs))
    return nn.Sequential(*layers)


class TextBag(nn.Module):
    """Bag of embeddings: the mean embedding of the non-padding tokens, an
    optional hidden layer, a linear head (fast, a strong baseline)."""

    def __init__(self, vocab_size, num_outputs, dim=64, hidden=64, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.head = _bag_head(dim, hidden, dropout, num_outputs)

    def forward(self, ids):
        return self.head(_masked_mean(self.embed(ids), _pad_mask(ids)))


class TextTF(nn.Module):
    """Bag of words: log(1 + count) of each vocabulary token in the text
    (padding left out), times its inverse document frequency (idf: on), the
    vector scaled to unit length (scikit-learn's TfidfVectorizer(sublinear_tf=
    True)), an optional hidden layer, a linear head. It reads every token the
    tokenizer keeps where TextBag averages embeddings: the model of the TF-IDF
    + logistic regression baselines (on man pages by section, 95.0% with
    scikit-learn against 88.5% for the mean of first-64-token counts).

    The idf weights are a buffer, 1 until adapt(ids) counts the training
    texts (tessel train calls it before fitting), saved with the model."""

    def __init__(self, vocab_size, num_outputs, hidden=0, dropout=0.1, pairs=0, idf=False):
        super().__init__()
        self.vocab_size, self.pairs, self.use_idf = int(vocab_size), int(pairs), bool(idf)
        self.head = _bag_head(self.vocab_size + self.pairs, hidden, dropout, num_outputs)
        self.register_buffer("idf", ts.ones(self.vocab_size + self.pairs))

    def _counts(self, ids):
        mask = _pad_mask(ids)  # padding (id 0) adds nothing to the counts
        if self.pairs:  # adjacent tokens hashed into `pairs` more columns (fastText's word pairs)
            a, b = ids[:, :-1], ids[:, 1:]
            pair = (a * 1000003 + b).remainder(self.pairs) + self.vocab_size
            ids = ts.cat([ids, pair], 1)
            mask = ts.cat([mask, mask[:, :-1] * mask[:, 1:]], 1)
        return ts.zeros(ids.shape[0], self.vocab_size + self.pairs, device=ids.device).scatter_add(1, ids, mask)

    @ts.no_grad()
    def adapt(self, ids, chunk=1024):
        """idf = log((1 + N) / (1 + df)) + 1 over the N texts of `ids` [N, L]
        (df: the texts a column occurs in; scikit-learn's smooth idf). A
        no-op with idf off."""
        if not self.use_idf:
            return
        df = ts.zeros(self.vocab_size + self.pairs, device=self.idf.device)
        n = int(ids.shape[0])
        for i in range(0, n, chunk):  # [chunk, V] at a time: the whole corpus's counts may not fit
            df += (self._counts(ids[i:i + chunk].to(self.idf.device)) > 0).to(ts.float32).sum(0)
        self.idf.copy_(((1.0 + n) / (1.0 + df)).log() + 1.0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before the idf buffer existed read as idf off
        if prefix + "idf" not in state_dict:
            state_dict[prefix + "idf"] = ts.ones(self.vocab_size + self.pairs)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def features(self, ids):
        """[N, vocab_size + pairs]: the unit-length (log-count x idf) vector the head reads."""
        tf = self._counts(ids).log1p() * self.idf
        return tf / (tf * tf).sum(1, keepdim=True).sqrt().clamp(min=1e-12)

    def forward(self, ids):
        return self.head(self.features(ids))
