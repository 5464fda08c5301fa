"""Seed corpora for the fuzz targets: small valid files of every format each
decoder reads (scripts/fuzz.sh). Usage: make_corpus.py OUT_DIR"""
import io
import os
import sys

import numpy as np


def audio(out):
    import soundfile as sf
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(np.arange(800) / 5)[:, None] + 0.01 * rng.standard_normal((800, 2))).astype(np.float32)
    for fmt, sub, ch in [("WAV", "PCM_16", 1), ("WAV", "PCM_24", 2), ("WAV", "FLOAT", 2), ("WAV", "PCM_U8", 1),
                         ("FLAC", "PCM_16", 2), ("OGG", "VORBIS", 1), ("AIFF", "PCM_16", 1)]:
        b = io.BytesIO()
        sf.write(b, x[:, :ch], 8000, format=fmt, subtype=sub)
        open(os.path.join(out, f"{fmt}_{sub}_{ch}"), "wb").write(b.getvalue())


def image(out):
    from PIL import Image
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (9, 7, 3), dtype=np.uint8)
    for name, img, fmt in [("png_rgb", Image.fromarray(rgb), "PNG"), ("png_rgba", Image.fromarray(rgb).convert("RGBA"), "PNG"),
                           ("png_gray", Image.fromarray(rgb[..., 0]), "PNG"),
                           ("png16", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257), "PNG"),
                           ("jpeg", Image.fromarray(rgb), "JPEG"), ("bmp", Image.fromarray(rgb), "BMP"),
                           ("webp", Image.fromarray(rgb), "WEBP")]:
        b = io.BytesIO()
        img.save(b, format=fmt)
        open(os.path.join(out, name), "wb").write(b.getvalue())


def text(out):
    seeds = ["hello world", "Grüße, naïve café", "日本語のテキスト", "ภาษาไทย", "مرحبا", "👩‍👩‍👧 🇯🇵",
             "[CLS] un ##aff ##able [SEP]", '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}',
             "\xff\xfe invalid", "a\u0301e\u0308"]
    for i, s in enumerate(seeds):
        open(os.path.join(out, f"text_{i}"), "wb").write(s.encode("utf-8", "surrogateescape"))


def onnx_models(out):
    # Small valid models covering every op family the importer runs; fixed
    # shapes so the target also executes them (it skips symbolic inputs).
    import onnx
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    rng = np.random.default_rng(0)

    def w(name, *shape, dtype=np.float32):
        return nh.from_array(rng.standard_normal(shape).astype(dtype), name)

    def i64(name, vals):
        return nh.from_array(np.array(vals, np.int64), name)

    def save(name, nodes, ins, outs, inits=(), opset=13):
        g = h.make_graph(nodes, name, ins, outs, list(inits))
        m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        open(os.path.join(out, f"onnx_{name}"), "wb").write(m.SerializeToString())

    tv = h.make_tensor_value_info
    mlp = [h.make_node("Gemm", ["x", "W1", "b1"], ["h"], transB=1), h.make_node("Relu", ["h"], ["r"]),
           h.make_node("MatMul", ["r", "W2"], ["o"]), h.make_node("Add", ["o", "b2"], ["a"]),
           h.make_node("Sigmoid", ["a"], ["s"]), h.make_node("Tanh", ["a"], ["t"]),
           h.make_node("Mul", ["s", "t"], ["m"]), h.make_node("Sub", ["m", "b2"], ["d"]),
           h.make_node("Div", ["d", "b2"], ["q"]), h.make_node("Softmax", ["q"], ["y"], axis=-1),
           h.make_node("LogSoftmax", ["q"], ["z"], axis=1)]
    mlp_inits = [w("W1", 6, 4), w("b1", 6), w("W2", 6, 3), w("b2", 3)]
    save("mlp", mlp, [tv("x", T.FLOAT, [2, 4])], [tv("y", T.FLOAT, [2, 3]), tv("z", T.FLOAT, [2, 3])], mlp_inits)
    save("mlp_symbolic", mlp, [tv("x", T.FLOAT, ["batch", 4])], [tv("y", T.FLOAT, ["batch", 3])], mlp_inits)
    save("softmax_opset11", [h.make_node("Softmax", ["x"], ["y"], axis=1)], [tv("x", T.FLOAT, [2, 3, 4])],
         [tv("y", T.FLOAT, [2, 3, 4])], opset=11)
    cnn = [h.make_node("Conv", ["x", "Wc", "bc"], ["c"], kernel_shape=[3, 3], pads=[1, 0, 1, 2], strides=[1, 1]),
           h.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["bn"], epsilon=1e-3),
           h.make_node("MaxPool", ["bn"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
           h.make_node("Conv", ["p", "Wg"], ["c2"], kernel_shape=[3, 3], group=2, auto_pad="SAME_UPPER"),
           h.make_node("AveragePool", ["c2"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
           h.make_node("GlobalAveragePool", ["ap"], ["gp"]), h.make_node("GlobalMaxPool", ["c2"], ["gm"]),
           h.make_node("Add", ["gp", "gm"], ["gs"]), h.make_node("Flatten", ["gs"], ["f"], axis=1),
           h.make_node("Gemm", ["f", "Wf", "bf"], ["y"], transB=1)]
    save("cnn", cnn, [tv("x", T.FLOAT, [1, 2, 8, 8])], [tv("y", T.FLOAT, [1, 5])],
         [w("Wc", 4, 2, 3, 3), w("bc", 4), w("g", 4), w("beta", 4), w("mu", 4),
          nh.from_array(np.full(4, 1.5, np.float32), "var"), w("Wg", 4, 2, 3, 3), w("Wf", 5, 4), w("bf", 5)])
    same = [h.make_node("Conv", ["x", "Wc"], ["c"], strides=[2, 1], dilations=[1, 2], auto_pad="SAME_LOWER"),
            h.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[1, 2], auto_pad="SAME_UPPER",
                        ceil_mode=1),
            h.make_node("AveragePool", ["p"], ["y"], kernel_shape=[2, 2], pads=[0, 1, 0, 1], count_include_pad=1)]
    save("same_pads", same, [tv("x", T.FLOAT, [1, 2, 7, 6])], [tv("y", T.FLOAT, [None] * 4)], [w("Wc", 3, 2, 3, 3)])
    conv1d = [h.make_node("Conv", ["x", "W", "b"], ["y"], strides=[2], pads=[1, 2], group=2)]
    save("conv1d", conv1d, [tv("x", T.FLOAT, [1, 4, 9])], [tv("y", T.FLOAT, [None] * 3)], [w("W", 2, 2, 3), w("b", 2)])
    shape = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             h.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
             h.make_node("Constant", [], ["rest"], value=nh.from_array(np.array([-1], np.int64))),
             h.make_node("Concat", ["n1", "rest"], ["shape"], axis=0), h.make_node("Reshape", ["x", "shape"], ["r"]),
             h.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]), h.make_node("Identity", ["t"], ["t2"]),
             h.make_node("Gather", ["x", "idx"], ["g"], axis=2), h.make_node("Squeeze", ["g", "axes0"], ["sq"]),
             h.make_node("Concat", ["x", "x"], ["c"], axis=-1)]
    shape_inits = [i64("zero", 0), i64("axes0", [0]), i64("idx", [[0, -1], [2, 1]])]
    outs = [tv("r", T.FLOAT, [1, 12]), tv("t2", T.FLOAT, [1, 4, 3]), tv("sq", T.FLOAT, [3, 2, 2]),
            tv("c", T.FLOAT, [1, 3, 8])]
    save("shape_ops", shape, [tv("x", T.FLOAT, [1, 3, 4])], outs, shape_inits)
    save("shape_ops_symbolic", shape, [tv("x", T.FLOAT, ["N", 3, 4])], outs[:1], shape_inits)
    # Typed-field initializers (not raw_data) and an int64 input.
    typed = [h.make_node("MatMul", ["x", "W"], ["y"]), h.make_node("Reshape", ["y", "shape"], ["z"]),
             h.make_node("Gather", ["z", "ix"], ["g"], axis=0)]
    save("typed_fields", typed, [tv("x", T.FLOAT, [2, 2]), tv("ix", T.INT64, [3])], [tv("g", T.FLOAT, [3])],
         [h.make_tensor("W", T.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0]), h.make_tensor("shape", T.INT64, [1], [4])])

    # ai.onnx.ml: a tree ensemble (ml 3), the flat TreeEnsemble (ml 5) and a linear classifier + ZipMap.
    def save_ml(name, nodes, ins, outs, ml):
        g = h.make_graph(nodes, name, ins, outs)
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("ai.onnx.ml", ml)])
        m.ir_version = 9
        open(os.path.join(out, f"onnx_{name}"), "wb").write(m.SerializeToString())

    trees = h.make_node(
        "TreeEnsembleClassifier", ["x"], ["label", "p"], domain="ai.onnx.ml",
        nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2], nodes_featureids=[0, 0, 0, 1, 0, 0],
        nodes_values=[0.5, 0, 0, -1.0, 0, 0], nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_GT", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0],
        class_treeids=[0, 0, 1, 1, 1], class_nodeids=[1, 2, 1, 2, 2], class_ids=[0, 1, 2, 0, 1],
        class_weights=[0.5, 1.0, 0.25, 0.75, 0.1], classlabels_int64s=[3, 5, 7], post_transform="SOFTMAX")
    save_ml("ml_trees", [trees], [tv("x", T.FLOAT, [4, 2])], [tv("label", T.INT64, [4]), tv("p", T.FLOAT, [4, 3])], 3)
    v5 = h.make_node(
        "TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", n_targets=1, aggregate_function=0,
        nodes_featureids=[0, 1], nodes_modes=h.make_tensor("m", T.UINT8, [2], [6, 1]),
        nodes_splits=h.make_tensor("s", T.FLOAT, [2], [np.nan, 2.0]), nodes_truenodeids=[0, 1],
        nodes_trueleafs=[1, 1], nodes_falsenodeids=[1, 2], nodes_falseleafs=[0, 1],
        membership_values=h.make_tensor("mv", T.FLOAT, [3], [1.0, 3.0, np.nan]), leaf_targetids=[0, 0, 0],
        leaf_weights=h.make_tensor("w", T.FLOAT, [3], [1.0, 2.0, 3.0]), tree_roots=[0])
    save_ml("ml_tree_v5", [v5], [tv("x", T.FLOAT, [3, 2])], [tv("y", T.FLOAT, [3, 1])], 5)
    linear = [h.make_node("Scaler", ["x"], ["xs"], domain="ai.onnx.ml", offset=[0.5], scale=[2.0, 1.0]),
              h.make_node("LinearClassifier", ["xs"], ["label", "p"], domain="ai.onnx.ml",
                          coefficients=[1.0, -1.0, 0.5, 0.5], intercepts=[0.0, 0.1],
                          classlabels_strings=["a", "b"], post_transform="LOGISTIC"),
              h.make_node("ZipMap", ["p"], ["z"], domain="ai.onnx.ml", classlabels_strings=["a", "b"])]
    zipmap_t = h.make_sequence_type_proto(h.make_map_type_proto(T.STRING, h.make_tensor_type_proto(T.FLOAT, [])))
    save_ml("ml_linear_zipmap", linear, [tv("x", T.FLOAT, [2, 2])],
            [tv("label", T.STRING, [2]), h.make_value_info("z", zipmap_t)], 1)


if __name__ == "__main__":
    root = sys.argv[1]
    for kind, fn in [("audio", audio), ("image", image), ("text", text), ("onnx", onnx_models)]:
        os.makedirs(os.path.join(root, kind), exist_ok=True)
        fn(os.path.join(root, kind))
    print(f"[fuzz] seed corpora in {root}")
