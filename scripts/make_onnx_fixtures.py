#!/usr/bin/env python3
"""Generates the reference ONNX models that tessel's importer is checked on.

Small fixtures (committed, ``tests/fixtures/onnx/``): the architectures of
ResNet-18, ResNet-50, MobileNetV2, BERT, DistilBERT, GPT-2, Whisper-tiny's
encoder and a stacked LSTM, exported from PyTorch with ``torch.onnx.export``
(TorchScript exporter, ``dynamo=False``: the classic graphs that deployed
models have), plus an scikit-learn MLP classifier and regressor converted
with skl2onnx. Widths and depths are cut down so every file stays small; the
weights are random with fixed seeds, so the same library versions give the
same bytes. Each model has a dynamic batch axis (and sequence axis for the
text and sequence models). ``manifest.json`` describes the inputs (shapes
with symbolic dims, dtypes, value ranges) so the test can build feeds for
any batch and sequence length; the expected outputs are not stored: the
test runs onnxruntime live.

Full-size models for the benchmark: :func:`full_size_models`.

Needs PyTorch, transformers, onnx, skl2onnx and scikit-learn. On the dev
machine these live in /opt/torchref (never in the project venv):

    /opt/torchref/bin/python scripts/make_onnx_fixtures.py            # fixtures
    /opt/torchref/bin/python scripts/make_onnx_fixtures.py --full DIR  # full size
"""
import argparse
import json
import os
import sys

OPSET = 17
FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")


# ---------------------------------------------------------------- conv nets
# Written here (torchvision has no build for this torch); the layer structure
# follows the papers: He et al. 2015 (ResNet v1.5: stride on the 3x3 conv of
# a bottleneck) and Sandler et al. 2018 (MobileNetV2).

def _nn():
    import torch.nn as nn

    return nn


def _conv_bn(cin, cout, k, stride=1, groups=1):
    nn = _nn()
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


def _resnet_classes():
    nn = _nn()

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin, width, stride):
            super().__init__()
            self.a = _conv_bn(cin, width, 3, stride)
            self.b = _conv_bn(width, width, 3)
            self.relu = nn.ReLU(inplace=True)
            self.short = _conv_bn(cin, width, 1, stride) if stride != 1 or cin != width else None

        def forward(self, x):
            y = self.b(self.relu(self.a(x)))
            return self.relu(y + (x if self.short is None else self.short(x)))

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, width, stride):
            super().__init__()
            cout = width * 4
            self.a = _conv_bn(cin, width, 1)
            self.b = _conv_bn(width, width, 3, stride)
            self.c = _conv_bn(width, cout, 1)
            self.relu = nn.ReLU(inplace=True)
            self.short = _conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else None

        def forward(self, x):
            y = self.c(self.relu(self.b(self.relu(self.a(x)))))
            return self.relu(y + (x if self.short is None else self.short(x)))

    class ResNet(nn.Module):
        def __init__(self, block, depths, base=64, num_classes=1000):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], base
            for stage, n in enumerate(depths):
                width = base * 2**stage
                for i in range(n):
                    blocks.append(block(cin, width, 2 if i == 0 and stage > 0 else 1))
                    cin = width * block.expansion
            self.blocks = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))

    return Basic, Bottleneck, ResNet


def _mobilenet_v2_class():
    nn = _nn()

    def cbr(cin, cout, k, stride=1, groups=1):
        return nn.Sequential(*_conv_bn(cin, cout, k, stride, groups), nn.ReLU6(inplace=True))

    def rounded(c, mult):
        # Channel counts stay multiples of 8 (at least 8), as in the paper's models.
        return max(8, int(c * mult + 4) // 8 * 8)

    class Inverted(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            layers = [cbr(cin, hidden, 1)] if expand != 1 else []
            layers += [cbr(hidden, hidden, 3, stride, groups=hidden), *_conv_bn(hidden, cout, 1)]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNetV2(nn.Module):
        # (expansion, channels, repeats, first stride) per stage
        STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                  (6, 320, 1, 1)]

        def __init__(self, width_mult=1.0, last_channel=1280, num_classes=1000, stages=None):
            super().__init__()
            cin = rounded(32, width_mult)
            layers = [cbr(3, cin, 3, 2)]
            for t, c, n, s in stages or self.STAGES:
                cout = rounded(c, width_mult)
                for i in range(n):
                    layers.append(Inverted(cin, cout, s if i == 0 else 1, t))
                    cin = cout
            layers.append(cbr(cin, last_channel, 1))
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

        def forward(self, x):
            return self.classifier(self.pool(self.features(x)).flatten(1))

    return MobileNetV2


def _randomize_bn(model, seed):
    """Random running statistics and affine parameters: with the defaults
    (mean 0, var 1, weight 1, bias 0) batch norm would be almost an identity
    and the check would not see a wrong formula."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.weight.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def _resnet18(base, num_classes):
    Basic, _, ResNet = _resnet_classes()
    return ResNet(Basic, [2, 2, 2, 2], base, num_classes)


def _resnet50(base, num_classes):
    _, Bottleneck, ResNet = _resnet_classes()
    return ResNet(Bottleneck, [3, 4, 6, 3], base, num_classes)


# ------------------------------------------------------------------- export

def _export(model, args, path, input_names, output_names, dynamic_axes, other_args=()):
    """Exports, then checks the file in onnxruntime against the model on the
    export's inputs and on other_args (other batch or sequence sizes: a size
    baked in by the trace would show there)."""
    import torch

    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, args, path, dynamo=False, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
    _stamp(path)
    for a in (args, *other_args):
        with torch.no_grad():
            want = model(*a)
        want = want if isinstance(want, tuple) else (want,)
        _check_ort(path, dict(zip(input_names, (t.numpy() for t in a))), [w.numpy() for w in want])


def _check_ort(path, feed, want):
    """The export must agree with its source (PyTorch or scikit-learn) when
    onnxruntime runs it; the test then holds tessel to onnxruntime."""
    import numpy as np
    import onnxruntime as ort

    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feed)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=path)


def _stamp(path):
    """Drops the exporter's doc strings (they hold absolute source paths of
    the machine that ran the export) so the files are reproducible."""
    import onnx

    m = onnx.load(path)
    for n in m.graph.node:
        n.doc_string = ""
    m.doc_string = ""
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)


def _image_spec(size):
    return {"input": {"dtype": "float32", "shape": ["batch", 3, size, size]}}


def _text_spec(vocab, names):
    spec = {}
    for name in names:
        if name == "input_ids":
            spec[name] = {"dtype": "int64", "shape": ["batch", "seq"], "range": [0, vocab]}
        elif name == "token_type_ids":
            spec[name] = {"dtype": "int64", "shape": ["batch", "seq"], "range": [0, 2]}
        elif name == "attention_mask":
            spec[name] = {"dtype": "int64", "shape": ["batch", "seq"], "mask": True}
    return spec


def _torch_image_model(name, model, size, out_dir, seed):
    import torch

    _randomize_bn(model, seed)
    path = os.path.join(out_dir, name + ".onnx")
    _export(model, (torch.randn(1, 3, size, size),), path, ["input"], ["logits"],
            {"input": {0: "batch"}, "logits": {0: "batch"}}, [(torch.randn(3, 3, size, size),)])
    return path, {"inputs": _image_spec(size), "outputs": ["logits"]}


def _wrap_text_model(model, input_names, output_names):
    """The transformers model with positional tensors in and a fixed tuple of
    tensors out, which is what the exporter traces."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, *args):
            out = self.inner(**dict(zip(input_names, args)))
            return tuple(out[k] for k in output_names)

    return Wrapped()


def _text_model(name, model, vocab, input_names, output_names, out_dir, seq=8):
    import torch

    g = torch.Generator().manual_seed(1)

    def sample(batch, seq, pad):
        args = []
        for n in input_names:
            if n == "input_ids":
                args.append(torch.randint(0, vocab, (batch, seq), generator=g))
            elif n == "token_type_ids":
                args.append(torch.randint(0, 2, (batch, seq), generator=g))
            else:
                mask = torch.ones(batch, seq, dtype=torch.long)
                mask[0, seq - pad:] = 0
                args.append(mask)
        return tuple(args)

    args = sample(2, seq, 0)
    path = os.path.join(out_dir, name + ".onnx")
    dyn = {n: {0: "batch", 1: "seq"} for n in input_names}
    for o in output_names:
        dyn[o] = {0: "batch", 1: "seq"} if o != "pooler_output" else {0: "batch"}
    _export(_wrap_text_model(model, input_names, output_names), args, path, list(input_names),
            list(output_names), dyn, [sample(1, 5, 2), sample(3, 11, 3)])
    return path, {"inputs": _text_spec(vocab, input_names), "outputs": list(output_names)}


def _bert(out_dir):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(10)
    cfg = BertConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
                     attn_implementation="eager")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    return _text_model("bert", BertModel(cfg), cfg.vocab_size, names, ["last_hidden_state", "pooler_output"],
                       out_dir)


def _distilbert(out_dir):
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(11)
    cfg = DistilBertConfig(vocab_size=96, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                           max_position_embeddings=64, attn_implementation="eager")
    return _text_model("distilbert", DistilBertModel(cfg), cfg.vocab_size, ["input_ids", "attention_mask"],
                       ["last_hidden_state"], out_dir)


def _gpt2(out_dir):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(12)
    cfg = GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=2, n_positions=64, use_cache=False,
                     bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    return _text_model("gpt2", GPT2LMHeadModel(cfg), cfg.vocab_size, ["input_ids", "attention_mask"],
                       ["logits"], out_dir)


def _whisper_encoder(out_dir):
    import torch
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(13)
    # Whisper-tiny's encoder (2 conv layers, sinusoidal positions, pre-LN
    # blocks) at width 32 and 2 layers; 30 positions = 60 mel frames (the
    # encoder only takes exactly 2 * max_source_positions frames).
    cfg = WhisperConfig(vocab_size=96, num_mel_bins=80, d_model=32, encoder_layers=2, encoder_attention_heads=2,
                        encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64,
                        max_source_positions=30, max_target_positions=16, pad_token_id=0, bos_token_id=1,
                        eos_token_id=2, decoder_start_token_id=1, attn_implementation="eager")
    encoder = WhisperEncoder(cfg)
    frames = 2 * cfg.max_source_positions

    import torch.nn as nn

    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_features):
            return self.encoder(input_features).last_hidden_state

    path = os.path.join(out_dir, "whisper_encoder.onnx")
    x = torch.randn(1, cfg.num_mel_bins, frames)
    _export(Enc(), (x,), path, ["input_features"], ["last_hidden_state"],
            {"input_features": {0: "batch"}, "last_hidden_state": {0: "batch"}},
            [(torch.randn(3, cfg.num_mel_bins, frames),)])
    spec = {"input_features": {"dtype": "float32", "shape": ["batch", cfg.num_mel_bins, frames]}}
    return path, {"inputs": spec, "outputs": ["last_hidden_state"]}


def _lstm(out_dir):
    import torch
    import torch.nn as nn

    torch.manual_seed(14)

    class Tagger(nn.Module):
        """A 2-layer bidirectional LSTM with a linear head per step."""

        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(input_size=12, hidden_size=16, num_layers=2, batch_first=True, bidirectional=True)
            self.head = nn.Linear(32, 5)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.head(y)

    path = os.path.join(out_dir, "lstm.onnx")
    _export(Tagger(), (torch.randn(2, 7, 12),), path, ["input"], ["output"],
            {"input": {0: "batch", 1: "seq"}, "output": {0: "batch", 1: "seq"}},
            [(torch.randn(1, 3, 12),), (torch.randn(3, 11, 12),)])
    spec = {"input": {"dtype": "float32", "shape": ["batch", "seq", 12]}}
    return path, {"inputs": spec, "outputs": ["output"]}


def _sklearn_mlps(out_dir):
    import numpy as np
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import make_classification, make_regression
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    made = {}
    X, y = make_classification(n_samples=300, n_features=10, n_informative=6, n_classes=4, random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=400, random_state=0).fit(X.astype(np.float32), y)
    # No ZipMap: probabilities come out as one float tensor, not a list of maps.
    onx = convert_sklearn(clf, initial_types=[("input", FloatTensorType([None, 10]))], target_opset=OPSET,
                          options={id(clf): {"zipmap": False}})
    path = os.path.join(out_dir, "sklearn_mlp_classifier.onnx")
    _save_sklearn(onx, path)
    xs = X[:5].astype(np.float32)
    _check_ort(path, {"input": xs}, [clf.predict(xs), clf.predict_proba(xs)])
    spec = {"input": {"dtype": "float32", "shape": ["batch", 10]}}
    made["sklearn_mlp_classifier"] = (path, {"inputs": spec, "outputs": [o.name for o in onx.graph.output]})

    X, y = make_regression(n_samples=300, n_features=10, random_state=1)
    reg = MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", max_iter=400, random_state=0).fit(
        X.astype(np.float32), y / 100.0)
    onx = convert_sklearn(reg, initial_types=[("input", FloatTensorType([None, 10]))], target_opset=OPSET)
    path = os.path.join(out_dir, "sklearn_mlp_regressor.onnx")
    _save_sklearn(onx, path)
    xs = X[:5].astype(np.float32)
    _check_ort(path, {"input": xs}, [reg.predict(xs).reshape(-1, 1)])
    made["sklearn_mlp_regressor"] = (path, {"inputs": spec, "outputs": [o.name for o in onx.graph.output]})
    return made


def _save_sklearn(onx, path):
    import onnx

    # skl2onnx names the graph with a random uuid: a fixed name keeps the bytes reproducible.
    onx.graph.name = os.path.splitext(os.path.basename(path))[0]
    # skl2onnx leaves the batch dim unnamed; name it as the PyTorch exports do.
    for v in list(onx.graph.input) + list(onx.graph.output):
        d = v.type.tensor_type.shape.dim[0]
        if not d.HasField("dim_value") and not d.dim_param:
            d.dim_param = "batch"
    onnx.checker.check_model(onx, full_check=True)
    onnx.save(onx, path)


def _inventory(path):
    import onnx

    m = onnx.load(path)
    ops = sorted({(n.domain or "ai.onnx") + "::" + n.op_type if n.domain not in ("", "ai.onnx") else n.op_type
                  for n in m.graph.node})
    return {
        "file": os.path.basename(path),
        "bytes": os.path.getsize(path),
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
        "ir_version": m.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "nodes": len(m.graph.node),
        "op_types": ops,
    }


def make_fixtures(out_dir=FIXTURE_DIR):
    """Writes the small fixtures and manifest.json into out_dir; returns the manifest."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
    os.makedirs(out_dir, exist_ok=True)
    made = {}
    torch.manual_seed(1)
    made["resnet18"] = _torch_image_model("resnet18", _resnet18(8, 10), 64, out_dir, 1)
    torch.manual_seed(2)
    made["resnet50"] = _torch_image_model("resnet50", _resnet50(4, 10), 64, out_dir, 2)
    torch.manual_seed(3)
    mv2 = _mobilenet_v2_class()(width_mult=0.125, last_channel=96, num_classes=10)
    made["mobilenetv2"] = _torch_image_model("mobilenetv2", mv2, 64, out_dir, 3)
    made["bert"] = _bert(out_dir)
    made["distilbert"] = _distilbert(out_dir)
    made["gpt2"] = _gpt2(out_dir)
    made["whisper_encoder"] = _whisper_encoder(out_dir)
    made["lstm"] = _lstm(out_dir)
    made.update(_sklearn_mlps(out_dir))

    manifest = {"generator": "scripts/make_onnx_fixtures.py", "versions": _versions(), "models": {}}
    for name, (path, spec) in made.items():
        manifest["models"][name] = {**_inventory(path), **spec}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(readme(manifest))
    return manifest


_HOW = {
    "resnet18": "ResNet-18 (BasicBlock, depths 2-2-2-2) written in the script, base width 8, 10 classes, "
                "input 64x64; random weights and batch-norm statistics (seed 1)",
    "resnet50": "ResNet-50 v1.5 (Bottleneck, depths 3-4-6-3) written in the script, base width 4, 10 classes, "
                "input 64x64 (seed 2)",
    "mobilenetv2": "MobileNetV2 (all 17 inverted-residual blocks, ReLU6) written in the script, width 0.125, "
                   "last conv 96 channels, 10 classes, input 64x64 (seed 3)",
    "bert": "transformers BertModel: hidden 32, 2 layers, 2 heads, FFN 64, vocab 96, 64 positions, "
            "eager attention (seed 10)",
    "distilbert": "transformers DistilBertModel: dim 32, 2 layers, 2 heads, FFN 64, vocab 96 (seed 11)",
    "gpt2": "transformers GPT2LMHeadModel: n_embd 32, 2 layers, 2 heads, vocab 96, 64 positions, "
            "no KV cache (seed 12)",
    "whisper_encoder": "transformers WhisperEncoder (Whisper-tiny's structure): d_model 32, 2 layers, 2 heads, "
                       "80 mel bins, 30 positions = 60 frames (fixed by the model) (seed 13)",
    "lstm": "torch.nn.LSTM, 2 layers, bidirectional, input 12, hidden 16, batch_first, + Linear(32, 5) "
            "(seed 14)",
    "sklearn_mlp_classifier": "sklearn MLPClassifier (16, 8) relu, 4 classes, trained on make_classification; "
                              "skl2onnx with zipmap=False",
    "sklearn_mlp_regressor": "sklearn MLPRegressor (16,) tanh, trained on make_regression; skl2onnx",
}


def readme(manifest):
    """The fixture folder's README, from the manifest (the test checks they agree)."""
    vs = manifest["versions"]
    lines = [
        "# ONNX reference models (test fixtures)",
        "",
        "Generated by `scripts/make_onnx_fixtures.py` (do not edit: rerun it; this file is written by it too).",
        "tests/python/test_onnx_models.py runs each model in tessel and in onnxruntime on the same inputs",
        "(batch 1 and 3; sequence lengths 5 and 11 for the text and sequence models) and compares the outputs.",
        "The expected outputs are not stored. `manifest.json` describes the inputs of each model.",
        "",
        "PyTorch exports: `torch.onnx.export(..., dynamo=False, opset_version=17, do_constant_folding=True)`",
        "(the TorchScript exporter: classic graphs like most deployed models; batch norm is folded into",
        "the convolutions), dynamic axes `batch` (and `seq`), models in eval mode, random weights with fixed",
        "seeds. Each export was checked in onnxruntime against the PyTorch (or scikit-learn) model at the",
        "export's size and at other batch/sequence sizes before it was written. Exporter doc strings are",
        "dropped so that the bytes are reproducible.",
        "",
        "Commands (PyTorch and the converters live outside the project venv, in /opt/torchref):",
        "",
        "```",
        "/opt/torchref/bin/pip install transformers onnx onnxscript onnxruntime skl2onnx scikit-learn",
        "/opt/torchref/bin/python scripts/make_onnx_fixtures.py",
        "# full-size benchmark models (not committed), also `full_size_models(dir)` from Python:",
        "/opt/torchref/bin/python scripts/make_onnx_fixtures.py --full ~/.cache/tessel/onnx_models",
        "```",
        "",
        "Versions used: " + ", ".join(f"{k} {v}" for k, v in sorted(vs.items())) + ".",
        "(torchvision has no build for this torch, so the convolutional nets are written in the script.)",
        "",
        "| model | bytes | nodes | IR | opsets | producer |",
        "|---|---:|---:|---:|---|---|",
    ]
    total = 0
    for name, m in manifest["models"].items():
        total += m["bytes"]
        opsets = ", ".join(f"{d} {v}" for d, v in sorted(m["opsets"].items()))
        lines.append(f"| {name} | {m['bytes']} | {m['nodes']} | {m['ir_version']} | {opsets} | {m['producer']} |")
    union = sorted({op for m in manifest["models"].values() for op in m["op_types"]})
    lines += ["", f"Total: {total} bytes.", "",
              f"All op types used ({len(union)}; issue 11 wants 100% of their ONNX node tests passing):", "",
              " ".join(union), "", "## Models", ""]
    for name, m in manifest["models"].items():
        ins = ", ".join(f"`{k}` {v['dtype']} [{', '.join(map(str, v['shape']))}]" for k, v in m["inputs"].items())
        lines += [
            f"### {name}",
            "",
            _HOW[name] + ".",
            "",
            f"- inputs: {ins}",
            f"- outputs: {', '.join('`' + o + '`' for o in m['outputs'])}",
            f"- op types: {' '.join(m['op_types'])}",
            "",
        ]
    return "\n".join(lines)


def _versions():
    import importlib.metadata as md

    out = {}
    for pkg in ("torch", "transformers", "onnx", "skl2onnx", "scikit-learn"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def full_size_models(out_dir):
    """Exports the full-size benchmark models into ``out_dir`` (created if
    needed) and returns ``{name: path}``:

    - ``resnet50``: ResNet-50 (v1.5, 1000 classes), input ``input`` [batch, 3, 224, 224] float32
    - ``mobilenetv2``: MobileNetV2 (width 1.0, 1000 classes), input ``input`` [batch, 3, 224, 224]
    - ``bert_base``: BERT-base (12 layers, hidden 768, 12 heads, vocab 30522), inputs ``input_ids``,
      ``attention_mask``, ``token_type_ids`` [batch, seq] int64 (benchmarked at seq 128);
      outputs ``last_hidden_state``, ``pooler_output``

    Batch (and seq) axes are dynamic, opset 17, random weights with fixed
    seeds (the benchmark measures speed, not accuracy). A file that already
    exists is reused, so the folder works as a cache. Needs PyTorch and
    transformers (ImportError otherwise); the files are ~100-440 MB each and
    are never committed.
    """
    import torch
    from transformers import BertConfig, BertModel

    os.makedirs(out_dir, exist_ok=True)
    paths = {n: os.path.join(out_dir, n + ".onnx") for n in ("resnet50", "mobilenetv2", "bert_base")}
    if not os.path.exists(paths["resnet50"]):
        torch.manual_seed(50)
        _torch_image_model("resnet50", _resnet50(64, 1000), 224, out_dir, 50)
    if not os.path.exists(paths["mobilenetv2"]):
        torch.manual_seed(51)
        _torch_image_model("mobilenetv2", _mobilenet_v2_class()(), 224, out_dir, 51)
    if not os.path.exists(paths["bert_base"]):
        torch.manual_seed(52)
        cfg = BertConfig(attn_implementation="eager")  # the defaults are BERT-base's
        _text_model("bert_base", BertModel(cfg), cfg.vocab_size, ["input_ids", "attention_mask", "token_type_ids"],
                    ["last_hidden_state", "pooler_output"], out_dir, seq=128)
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=FIXTURE_DIR, help="fixture folder (default tests/fixtures/onnx)")
    p.add_argument("--full", metavar="DIR", help="instead, export the full-size benchmark models into DIR")
    a = p.parse_args(argv)
    if a.full:
        print(json.dumps(full_size_models(a.full), indent=1))
        return 0
    manifest = make_fixtures(os.path.normpath(a.out))
    total = 0
    for name, m in manifest["models"].items():
        total += m["bytes"]
        print(f"{name:24s} {m['bytes']:>9d} B  {m['nodes']:>4d} nodes  {' '.join(m['op_types'])}")
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
