"""tessel's ONNX runtime against onnxruntime, side by side in the same process.

Models: ResNet-50, MobileNetV2, BERT-base (sequence length 128) and the digits
CNN of examples/train_digits.py; batch 1 and 32; 1 and 2 threads (tessel's
OpenMP/oneDNN threads through ts.set_num_threads, onnxruntime's
intra_op_num_threads). Reports the median time per batch, the ratio
tessel / onnxruntime (below 1.00x: tessel is faster) and, for the
convolutional nets, the % of the FMA peak reached (FLOPs counted from the
graph; the peak measured in the same run by bench/fma_peak.cpp, else computed
from /proc/cpuinfo with its assumptions printed).

Full-size models come from scripts/make_onnx_fixtures.py (its
``full_size_models(out_dir)``) run through the development PyTorch at
/opt/torchref/bin/python when both exist, cached in --cache; otherwise (or with
--builtin) equivalent graphs are built here with onnx.helper and random
weights (same topologies; BatchNormalization kept as separate nodes).

Also: load time of a ~100 MB model stored inline versus with external data.

    .venv/bin/python bench/bench_onnx.py            # full run (several minutes)
    .venv/bin/python bench/bench_onnx.py --quick    # CI-size smoke run
    TESSEL_ONNX_PASSES=0 .venv/bin/python bench/bench_onnx.py   # graph passes off
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCHREF = "/opt/torchref/bin/python"
OPSET = 17

# --------------------------------------------------------------------------
# graphs built with onnx.helper (the fallback when PyTorch is not available)


class Builder:
    """Small helper around onnx.helper: unique names, random initializers."""

    def __init__(self, seed=0):
        import onnx  # noqa: F401
        self.nodes, self.inits, self.rng, self.k = [], [], np.random.default_rng(seed), 0

    def name(self, p):
        self.k += 1
        return f"{p}{self.k}"

    def init(self, arr, p="w"):
        from onnx import numpy_helper
        n = self.name(p)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def weight(self, shape, fan_in, p="w"):
        return self.init((self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), p)

    def op(self, op_type, inputs, n_out=1, **attrs):
        from onnx import helper
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type + "_"), **attrs))
        return outs[0] if n_out == 1 else outs

    def conv_bn(self, x, cin, cout, k, stride=1, groups=1, act="relu"):
        w = self.weight((cout, cin // groups, k, k), cin // groups * k * k)
        y = self.op("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=groups)
        r = self.rng
        scale = self.init((1.0 + 0.1 * r.standard_normal(cout)).astype(np.float32), "bn_s")
        bias = self.init((0.1 * r.standard_normal(cout)).astype(np.float32), "bn_b")
        mean = self.init((0.1 * r.standard_normal(cout)).astype(np.float32), "bn_m")
        var = self.init((1.0 + 0.1 * r.random(cout)).astype(np.float32), "bn_v")
        y = self.op("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
        if act == "relu":
            y = self.op("Relu", [y])
        elif act == "relu6":
            y = self.op("Clip", [y, self.init(np.array(0, np.float32), "c"), self.init(np.array(6, np.float32), "c")])
        return y

    def gemm(self, x, fin, fout):
        w = self.weight((fout, fin), fin)
        b = self.init(np.zeros(fout, np.float32), "b")
        return self.op("Gemm", [x, w, b], transB=1)

    def model(self, inputs, outputs):
        import onnx
        from onnx import helper
        g = helper.make_graph(self.nodes, "g", inputs, outputs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bench_onnx")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def _image_io(c, hw, classes):
    from onnx import TensorProto, helper
    return ([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, hw, hw])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", classes])])


def build_resnet50():
    b = Builder(1)
    x = b.conv_bn("input", 3, 64, 7, 2)
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = b.conv_bn(x, cin, width, 1)
            y = b.conv_bn(y, width, width, 3, s)  # stride on the 3x3 (torchvision's v1.5)
            y = b.conv_bn(y, width, width * 4, 1, act=None)
            sc = b.conv_bn(x, cin, width * 4, 1, s, act=None) if i == 0 else x
            x = b.op("Relu", [b.op("Add", [y, sc])])
            cin = width * 4
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    b.gemm(x, 2048, 1000)
    b.nodes[-1].output[0] = "output"
    return b.model(*_image_io(3, 224, 1000))


def build_mobilenetv2():
    b = Builder(2)
    x = b.conv_bn("input", 3, 32, 3, 2, act="relu6")
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hid = cin * t
            y = x if t == 1 else b.conv_bn(x, cin, hid, 1, act="relu6")
            y = b.conv_bn(y, hid, hid, 3, stride, groups=hid, act="relu6")
            y = b.conv_bn(y, hid, c, 1, act=None)
            x = b.op("Add", [x, y]) if stride == 1 and cin == c else y
            cin = c
    x = b.conv_bn(x, cin, 1280, 1, act="relu6")
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    b.gemm(x, 1280, 1000)
    b.nodes[-1].output[0] = "output"
    return b.model(*_image_io(3, 224, 1000))


def build_digits_cnn():
    """examples/train_digits.py's CNN: 8x8 digits, two conv+BN+ReLU, max pool, two linear."""
    b = Builder(3)
    x = b.conv_bn("input", 1, 16, 3)
    x = b.conv_bn(x, 16, 32, 3)
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Flatten", [x])
    x = b.op("Relu", [b.gemm(x, 32 * 4 * 4, 64)])
    b.gemm(x, 64, 10)
    b.nodes[-1].output[0] = "output"
    return b.model(*_image_io(1, 8, 10))


def build_bert(layers=12, hidden=768, heads=12, ffn=3072, vocab=30522, max_pos=512, seq=128):
    """BERT-base encoder as PyTorch exports it at opset 17: LayerNormalization nodes,
    GELU written out with Erf, attention as MatMul/Reshape/Transpose/Softmax."""
    from onnx import TensorProto, helper
    b = Builder(4)
    r = b.rng
    hd = hidden // heads

    def ln(x):
        g = b.init(np.ones(hidden, np.float32), "ln_g")
        be = b.init(np.zeros(hidden, np.float32), "ln_b")
        return b.op("LayerNormalization", [x, g, be], axis=-1, epsilon=1e-12)

    def linear(x, fin, fout):
        w = b.init((r.standard_normal((fin, fout)) * 0.02).astype(np.float32), "lw")
        bias = b.init((r.standard_normal(fout) * 0.02).astype(np.float32), "lb")
        return b.op("Add", [b.op("MatMul", [x, w]), bias])

    def c64(v):
        return b.init(np.array(v, np.int64), "shape")

    word = b.init((r.standard_normal((vocab, hidden)) * 0.02).astype(np.float32), "emb_word")
    pos = b.init((r.standard_normal((max_pos, hidden)) * 0.02).astype(np.float32), "emb_pos")
    tok = b.init((r.standard_normal((2, hidden)) * 0.02).astype(np.float32), "emb_tok")
    pos_ids = b.init(np.arange(seq, dtype=np.int64)[None], "pos_ids")
    tok_ids = b.init(np.zeros((1, seq), np.int64), "tok_ids")
    x = b.op("Add", [b.op("Gather", [word, "input_ids"]), b.op("Gather", [tok, tok_ids])])  # Gather(table, ids)
    x = ln(b.op("Add", [x, b.op("Gather", [pos, pos_ids])]))
    # additive mask [N, 1, 1, S]: 0 where attended, -10000 where padded
    m = b.op("Unsqueeze", [b.op("Cast", ["attention_mask"], to=TensorProto.FLOAT), c64([1, 2])])
    mask = b.op("Mul", [b.op("Sub", [b.init(np.array(1.0, np.float32), "one"), m]),
                        b.init(np.array(-10000.0, np.float32), "neg")])
    split = c64([0, 0, heads, hd])
    for _ in range(layers):
        def heads_of(t):
            return b.op("Transpose", [b.op("Reshape", [t, split])], perm=[0, 2, 1, 3])
        q, k, v = (heads_of(linear(x, hidden, hidden)) for _ in range(3))
        kt = b.op("Transpose", [k], perm=[0, 1, 3, 2])
        s = b.op("Div", [b.op("MatMul", [q, kt]), b.init(np.array(np.sqrt(hd), np.float32), "scale")])
        p = b.op("Softmax", [b.op("Add", [s, mask])], axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [p, v])], perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, c64([0, 0, hidden])])
        x = ln(b.op("Add", [linear(ctx, hidden, hidden), x]))
        h = linear(x, hidden, ffn)
        # GELU (erf form): h * 0.5 * (1 + erf(h / sqrt(2)))
        e = b.op("Erf", [b.op("Div", [h, b.init(np.array(np.sqrt(2.0), np.float32), "sqrt2")])])
        g = b.op("Mul", [b.op("Mul", [h, b.op("Add", [e, b.init(np.array(1.0, np.float32), "one")])]),
                         b.init(np.array(0.5, np.float32), "half")])
        x = ln(b.op("Add", [linear(g, ffn, hidden), x]))
    b.nodes[-1].output[0] = "last_hidden_state"
    ins = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", seq]),
           helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", seq])]
    outs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["N", seq, hidden])]
    return b.model(ins, outs)


BUILDERS = {"resnet50": build_resnet50, "mobilenetv2": build_mobilenetv2, "bert_base": build_bert,
            "digits_cnn": build_digits_cnn}


def feed_for(name, model, batch, rng):
    if name == "bert_base":
        feed = {}
        for i in model.graph.input:
            if "mask" in i.name:
                mask = np.ones((batch, 128), np.int64)
                mask[:, 100:] = 0  # padded tail
                feed[i.name] = mask
            elif "type" in i.name:
                feed[i.name] = np.zeros((batch, 128), np.int64)
            else:
                feed[i.name] = rng.integers(0, 30522, (batch, 128)).astype(np.int64)
        return feed
    inp = model.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    dims[0] = batch
    return {inp.name: rng.standard_normal(dims).astype(np.float32)}


# --------------------------------------------------------------------------
# model files


def torch_models(cache, notes):
    """{name: path} from scripts/make_onnx_fixtures.py through the development PyTorch, or {}."""
    script = os.path.join(ROOT, "scripts", "make_onnx_fixtures.py")
    if not (os.path.exists(TORCHREF) and os.path.exists(script)):
        notes.append(f"full-size PyTorch exports unavailable ({TORCHREF} or {script} missing): "
                     "graphs built with onnx.helper and random weights")
        return {}
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import make_onnx_fixtures as m; "
            "print(json.dumps({k: str(v) for k, v in m.full_size_models(sys.argv[2]).items()}))")
    try:
        r = subprocess.run([TORCHREF, "-c", code, os.path.dirname(script), cache], capture_output=True,
                           text=True, timeout=1800)
        paths = json.loads(r.stdout.strip().splitlines()[-1])
    except Exception as e:  # the fallback below still benchmarks the same topologies
        notes.append(f"make_onnx_fixtures.full_size_models failed ({type(e).__name__}: {e}); using onnx.helper graphs")
        return {}
    aliases = {"resnet50": ("resnet50", "resnet_50"), "mobilenetv2": ("mobilenetv2", "mobilenet_v2"),
               "bert_base": ("bert_base", "bert", "bert-base"), "digits_cnn": ("digits_cnn", "digits")}
    out = {}
    for key, names in aliases.items():
        for n in names:
            if n in paths:
                out[key] = paths[n]
                break
    notes.append(f"PyTorch exports from scripts/make_onnx_fixtures.py: {sorted(out)}")
    return out


def model_path(name, cache, exported):
    if name in exported:
        return exported[name], "pytorch export"
    import onnx
    path = os.path.join(cache, f"{name}_helper_opset{OPSET}.onnx")
    if not os.path.exists(path):
        m = BUILDERS[name]()
        big = m.ByteSize() > 1_500_000_000
        onnx.save_model(m, path, save_as_external_data=big, location=os.path.basename(path) + ".data")
    return path, "onnx.helper graph, random weights"


# --------------------------------------------------------------------------
# FLOPs and peak


def count_flops(model, batch):
    """Multiply-adds x 2 of Conv, Gemm and MatMul, from ONNX shape inference at this batch."""
    import onnx
    from onnx import shape_inference
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in list(m.graph.input):
        d = vi.type.tensor_type.shape.dim
        if len(d) and not d[0].dim_value:
            d[0].dim_value = batch
    m = shape_inference.infer_shapes(m)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    total = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w, y = shapes.get(n.input[1]), shapes.get(n.output[0])
            if w and y:
                total += 2 * int(np.prod(y)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            a, y = shapes.get(n.input[0]), shapes.get(n.output[0])
            if a and y:
                trans_a = any(at.name == "transA" and at.i for at in n.attribute)
                k = a[0] if (n.op_type == "Gemm" and trans_a) else a[-1]
                total += 2 * int(np.prod(y)) * k
    return total


def fma_peak(flags, threads, notes):
    """GFLOP/s peak = cores x GHz x FMA units x lanes x 2 (assumptions printed)."""
    ghz = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    ghz = float(line.split(":")[1]) / 1000
                    break
    except OSError:
        pass
    if ghz is None:
        return None, "clock unknown: % of peak not computed"
    if "avx512f" in flags:
        lanes, units, isa = 16, 2, "AVX-512"
    elif "avx2" in flags and "fma" in flags:
        lanes, units, isa = 8, 2, "AVX2+FMA"
    else:
        lanes, units, isa = 4, 1, "SSE"
    per_core = ghz * units * lanes * 2
    return {t: per_core * t for t in threads}, (
        f"FMA peak assumed: {ghz:.2f} GHz (cpu MHz of /proc/cpuinfo, turbo ignored) x {units} FMA units x "
        f"{lanes} float32 lanes ({isa}) x 2 = {per_core:.1f} GFLOP/s per core, x threads")


# --------------------------------------------------------------------------
# running


SETTLE_S = 0.15  # untimed calls before each sample (side_by_side)


def side_by_side(f_ts, f_ort, repeat, target_s):
    """Median wall and CPU (process) time per call of tessel and onnxruntime,
    their samples interleaved (tessel, ort, tessel, ...) so that both see the
    same load; each sample averages `number` calls (about target_s). On a busy
    machine the CPU time is the steadier figure: it leaves out the time the
    process waits for a core (with several threads it sums their CPU time,
    spinning included). Each sample starts with SETTLE_S of untimed calls (at
    least one): with two thread pools in one process, the calls after a switch
    wait for the other runtime's threads to stop spinning, which a program using
    one runtime never pays. On the 2-core AMD VM (2026-12-05), MobileNetV2 batch
    1 at 2 threads ran 9.1 ms a call for the first 60 ms after onnxruntime and
    5.1 ms after that (5.0 ms from the first call with onnxruntime's
    `session.intra_op.allow_spinning` off); onnxruntime after tessel settled
    within 10 ms. 50 ms of settling (the earlier figure) left tessel's 2-thread
    cells 1.06-1.17x where runs with 0.5 s gave 0.98-1.02x."""
    f_ts(), f_ort()
    t0 = time.perf_counter()
    f_ts()
    number = max(1, int(target_s / max(time.perf_counter() - t0, 1e-6)))
    out = []
    for f in (f_ts, f_ort):
        out.append({"wall": [], "cpu": []})
    for k in range(repeat + 1):  # the first round is a warm-up
        for f, o in zip((f_ts, f_ort), out):
            t_settle = time.perf_counter() + SETTLE_S
            f()
            while time.perf_counter() < t_settle:
                f()
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(number):
                f()
            w, c = (time.perf_counter() - w0) / number, (time.process_time() - c0) / number
            if k:
                o["wall"].append(w), o["cpu"].append(c)
    res = []
    for o in out:
        wall = float(np.median(o["wall"]))
        res.append({"wall_ms": wall * 1e3, "cpu_ms": float(np.median(o["cpu"])) * 1e3, "number": number,
                    "spread": (max(o["wall"]) - min(o["wall"])) / wall if wall else 0.0})
    # The median of each round's own ratio: a round's two samples are taken
    # back to back, so a slow stretch of the shared VM (steal time, another
    # tenant) slows both and cancels, where the ratio of the two medians can
    # pair a fast tessel sample with a slow onnxruntime one or the reverse.
    res[0]["paired_ratio"] = float(np.median([a / b for a, b in zip(out[0]["wall"], out[1]["wall"]) if b > 0]))
    return res


def bench_model(ts, ort, name, path, source, batches, threads, peaks, args, rows, results, notes):
    import onnx
    model = onnx.load(path, load_external_data=False)
    rng = np.random.default_rng(0)
    try:
        tm = ts.onnx.load(path)
    except Exception as e:
        notes.append(f"{name}: tessel cannot load it: {type(e).__name__}: {str(e)[:200]}")
        print(notes[-1])
        return
    for t in threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = t, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        ts.set_num_threads(t)
        for bsz in batches:
            feed = feed_for(name, model, bsz, rng)
            tfeed = {k: ts.tensor(v) for k, v in feed.items()}
            ref = sess.run(None, feed)[0]
            try:
                got = tm.run(tfeed)
            except Exception as e:
                notes.append(f"{name} batch {bsz}: tessel fails: {type(e).__name__}: {str(e)[:200]}")
                print(notes[-1])
                continue
            got = np.asarray(next(iter(got.values())).numpy())
            err = float(np.max(np.abs(got - ref)) / (np.max(np.abs(ref)) + 1e-30))
            rep = 3 if args.quick else args.repeat
            target = 0.02 if args.quick else 0.2
            t_ts, t_ort = side_by_side(lambda: tm.run(tfeed), lambda: sess.run(None, feed), rep, target)
            flops = count_flops(model, bsz) if name != "bert_base" else None
            pct = (lambda tt: 100 * flops / (tt["wall_ms"] * 1e-3) / (peaks[t] * 1e9)) if (flops and peaks) else None
            r = t_ts["wall_ms"] / t_ort["wall_ms"]
            r_pair = t_ts["paired_ratio"]
            r_cpu = t_ts["cpu_ms"] / t_ort["cpu_ms"] if t_ort["cpu_ms"] > 0 else None
            rows.append([name, t, bsz, f"{t_ts['wall_ms']:.2f}", f"{t_ort['wall_ms']:.2f}",
                         common.fmt_ratio(r), common.fmt_ratio(r_pair), f"{t_ts['cpu_ms']:.2f}",
                         f"{t_ort['cpu_ms']:.2f}",
                         common.fmt_ratio(r_cpu), common.fmt(pct(t_ts) if pct else None, ".1f"),
                         common.fmt(pct(t_ort) if pct else None, ".1f"), f"{err:.1e}"])
            results.append({"model": name, "source": source, "threads": t, "batch": bsz,
                            "tessel_ms": t_ts["wall_ms"], "ort_ms": t_ort["wall_ms"], "ratio": r,
                            "paired_ratio": r_pair,
                            "tessel_cpu_ms": t_ts["cpu_ms"], "ort_cpu_ms": t_ort["cpu_ms"], "cpu_ratio": r_cpu,
                            "tessel_spread": t_ts["spread"], "ort_spread": t_ort["spread"],
                            "number": t_ts["number"], "gflop": flops / 1e9 if flops else None,
                            "max_rel_err": err})
            print("  " + "  ".join(str(c) for c in rows[-1]), flush=True)
        del sess


def bench_load(ts, ort, cache, quick, rows, results):
    """~100 MB of weights (MatMul chain), inline versus external data."""
    import onnx
    from onnx import TensorProto, helper
    n = 1024 if quick else 2560  # 4 x n^2 floats: 16 MB (quick) or 105 MB
    b = Builder(5)
    x = "x"
    for i in range(4):
        x = b.op("MatMul", [x, b.init(np.full((n, n), 1e-3, np.float32), "w")])
    b.nodes[-1].output[0] = "y"
    m = b.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])])
    d = tempfile.mkdtemp(prefix="onnx_load_", dir=cache)
    inline, ext = os.path.join(d, "inline.onnx"), os.path.join(d, "external.onnx")
    onnx.save_model(m, inline)
    onnx.save_model(m, ext, save_as_external_data=True, location="external.onnx.data", size_threshold=1024)
    mb = 4 * 4 * n * n / 1e6
    for label, path in (("inline", inline), ("external data", ext)):
        t_ts = common.measure(lambda: ts.onnx.load(path), repeat=3 if quick else 7, number=1, warmup=1)
        t_ort = common.measure(lambda: ort.InferenceSession(path, providers=["CPUExecutionProvider"]),
                               repeat=3 if quick else 7, number=1, warmup=1)
        rows.append([f"{label} ({mb:.0f} MB)", f"{t_ts.median_ns / 1e6:.1f}", f"{t_ort.median_ns / 1e6:.1f}",
                     common.fmt_ratio(t_ts.median_ns / t_ort.median_ns)])
        results.append({"load": label, "mb": mb, "tessel_ms": t_ts.median_ns / 1e6, "ort_ms": t_ort.median_ns / 1e6})
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    os.rmdir(d)


def profile(ts, ort, name, path, batch, threads, runs):
    """Per-op-type time: tessel node by node (each node run as a one-node model on
    the real intermediate values, so its figures include a small per-call cost),
    onnxruntime from its own profiler (after its fusions). Prints the top op types."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(path)
    rng = np.random.default_rng(0)
    feed = feed_for(name, m, batch, rng)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    # every intermediate value, from onnxruntime with all node outputs exposed (no graph optimisation)
    full = onnx.ModelProto()
    full.CopyFrom(m)
    have = {o.name for o in full.graph.output}
    for n in full.graph.node:
        for o in n.output:
            if o and o not in have:
                full.graph.output.append(helper.ValueInfoProto(name=o))
    so_plain = ort.SessionOptions()
    so_plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(full.SerializeToString(), so_plain, providers=["CPUExecutionProvider"])
    values = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))
    values.update(feed)
    inits = {t.name: t for t in m.graph.initializer}
    ts.set_num_threads(threads)
    per_type, count = {}, {}
    for node in m.graph.node:
        ins = [i for i in node.input if i and i not in inits]
        g = helper.make_graph([node], "one", [helper.make_tensor_value_info(
            i, helper.np_dtype_to_tensor_dtype(values[i].dtype), values[i].shape) for i in ins],
            [helper.ValueInfoProto(name=o) for o in node.output if o],
            [inits[i] for i in node.input if i in inits])
        one = helper.make_model(g, opset_imports=m.opset_import)
        one.ir_version = m.ir_version
        tm = ts.onnx.load(one.SerializeToString())
        tfeed = {i: ts.tensor(values[i]) for i in ins}
        t = common.measure(lambda: tm.run(tfeed), repeat=runs, number=1, warmup=1)
        per_type[node.op_type] = per_type.get(node.op_type, 0.0) + t.median_ns / 1e6
        count[node.op_type] = count.get(node.op_type, 0) + 1
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "bench_onnx_ort_profile")
    s2 = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        s2.run(None, feed)
    prof = s2.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    os.remove(prof)
    ort_type, ort_count = {}, {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            ort_type[op] = ort_type.get(op, 0.0) + e["dur"] / 1e3 / (runs + 1)
            ort_count[op] = ort_count.get(op, 0) + 1
    rows = [[op, count[op], f"{ms:.2f}"] for op, ms in sorted(per_type.items(), key=lambda kv: -kv[1])]
    common.print_table(["op (tessel, node by node)", "nodes", "ms"], rows + [["total", sum(count.values()),
                       f"{sum(per_type.values()):.2f}"]],
                       f"profile {name} batch {batch}, {threads} thread(s): tessel per op type")
    rows = [[op, ort_count[op] // (runs + 1), f"{ms:.2f}"] for op, ms in sorted(ort_type.items(), key=lambda kv: -kv[1])]
    common.print_table(["op (onnxruntime, after its fusions)", "nodes", "ms"], rows + [["total", "",
                       f"{sum(ort_type.values()):.2f}"]], "onnxruntime's profiler (kernel time per run)")


def main():
    p = common.base_parser(__doc__.split("\n")[0])
    p.add_argument("--models", default="digits_cnn,mobilenetv2,resnet50,bert_base",
                   help="comma-separated subset of digits_cnn,mobilenetv2,resnet50,bert_base")
    p.add_argument("--batches", default="1,32", help="comma-separated batch sizes (default 1,32)")
    p.add_argument("--repeat", type=int, default=7, help="timed samples per figure (median reported)")
    p.add_argument("--builtin", action="store_true", help="always use the onnx.helper graphs, never PyTorch")
    p.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                                   "tessel-bench-onnx"), help="folder for generated models")
    p.add_argument("--no-load", action="store_true", help="skip the load-time comparison")
    p.add_argument("--profile", metavar="MODEL", default=None,
                   help="per-op-type times of MODEL (first --batches and --threads value) instead of the benchmark")
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",") if b]
    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in BUILDERS:
            raise SystemExit(f"--models: unknown model {m!r} (known: {', '.join(BUILDERS)})")
    if args.quick and not args.profile:
        batches = [b for b in batches if b <= 8] or [1]
        models = [m for m in models if m in ("digits_cnn", "mobilenetv2")]
    os.makedirs(args.cache, exist_ok=True)

    ts = common.import_tessel()
    import onnxruntime as ort
    minfo = common.machine_info(np=np, ts=ts)
    common.print_machine(minfo)
    print(f"onnxruntime {ort.__version__} (CPUExecutionProvider, sequential, intra_op_num_threads = threads); "
          f"tessel graph passes: {'OFF' if os.environ.get('TESSEL_ONNX_PASSES') == '0' else 'on'}")
    # The wait policy decides the 2-thread figures (python/tessel/_omp_wait.py).
    from tessel import _omp_wait
    print(f"tessel's OpenMP wait: {_omp_wait.decision}")
    notes = []
    # % of peak against the FMA peak measured now (bench/fma_peak.cpp, as bench_matmul and
    # bench_audio do); the computed one is the fallback. It assumes two 512-bit FMA units per core
    # with AVX-512 and /proc/cpuinfo's clock, neither of which holds on Zen 4 (a 512-bit FMA runs
    # on its two 256-bit units; the clock boosts past cpuinfo's).
    from bench_matmul import measure_fma_peak, print_fma_peak
    peaks, peak_info = measure_fma_peak(threads, 0.1 if args.quick else 0.2, notes)
    if len(peaks) == len(threads):
        print_fma_peak(peaks, peak_info, threads)
        peak_note = f"FMA peak measured by bench/fma_peak.cpp: {peaks} GFLOP/s"
    else:
        peaks, peak_note = fma_peak(common._cpuinfo()["flags"], threads, [])
        print(peak_note)
    exported = {} if args.builtin else torch_models(args.cache, notes)
    for n in notes:
        print(n)
    if args.profile:
        path, source = model_path(args.profile, args.cache, exported)
        print(f"{args.profile}: {source} ({path})")
        return profile(ts, ort, args.profile, path, batches[0], threads[0], 3 if args.quick else 10)
    rows, results = [], []
    print("\nmodel  threads  batch  tessel_ms  ort_ms  ratio  paired  tessel_cpu_ms  ort_cpu_ms  cpu_ratio  "
          "%peak_tessel  %peak_ort  max_rel_err")
    for name in models:
        path, source = model_path(name, args.cache, exported)
        print(f"{name}: {source} ({path})", flush=True)
        bench_model(ts, ort, name, path, source, batches, threads, peaks, args, rows, results, notes)
    common.print_table(["model", "thr", "batch", "tessel ms", "ort ms", "tessel/ort", "paired", "ts cpu ms",
                        "ort cpu ms", "cpu ratio", "%peak ts", "%peak ort", "max rel err"], rows,
                       "time per batch (median wall and CPU time, interleaved samples); ratio < 1.00x: tessel faster;\n"
                       "paired: the median of each round's tessel/ort (back-to-back samples; the steadier figure)")
    load_rows = []
    if not args.no_load:
        bench_load(ts, ort, args.cache, args.quick, load_rows, results)
        common.print_table(["model file", "tessel load ms", "ort session ms", "tessel/ort"], load_rows,
                           "load time: ts.onnx.load vs ort.InferenceSession (includes ort's graph optimisation)")
    for n in notes:
        print("note:", n)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": minfo, "peak": peak_note, "results": results, "notes": notes}, f, indent=1)


if __name__ == "__main__":
    main()
