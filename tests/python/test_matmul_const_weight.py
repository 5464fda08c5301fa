"""ONNX MatMul/Gemm-style nodes with a constant weight: the runtime keeps a
reordered copy of the weight (blocked with AVX-512, transposed from 16 rows up
where oneDNN has no blocked layout, kernels/cpu/matmul.cpp), so the rows on
either side of that threshold, fused (bias, activation) and not, must equal the
float64 product."""
import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(7)


def matmul_model(m, k, n, w, bias=None, act=None, trans_b=False):
    # trans_b: Gemm(transB=1) with the weight stored [N, K], as PyTorch exports a Linear.
    nodes = [helper.make_node("Gemm", ["a", "wt"], ["y0"], transB=1) if trans_b
             else helper.make_node("MatMul", ["a", "w"], ["y0"])]
    inits = [numpy_helper.from_array(np.ascontiguousarray(w.T), "wt") if trans_b else numpy_helper.from_array(w, "w")]
    last = "y0"
    if bias is not None:
        nodes.append(helper.make_node("Add", [last, "bias"], ["y1"]))
        inits.append(numpy_helper.from_array(bias, "bias"))
        last = "y1"
    if act is not None:
        nodes.append(helper.make_node(act, [last], ["y2"]))
        last = "y2"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["m", k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["m", n])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("k,n", [(64, 512), (96, 40)])  # rows 2 KiB apart (the slow packing case), and odd sizes
@pytest.mark.parametrize("fused", [None, "bias", "relu"])
@pytest.mark.parametrize("trans_b", [False, True])
def test_constant_weight_matmul_across_row_counts(k, n, fused, trans_b):
    # One row takes one pass over the weights (kernels/cpu/gemv.cpp; the runtime
    # keeps a Gemm's transB weight as [K, N]) with the bias and ReLU after it;
    # more rows take oneDNN's packed weights.
    w = RNG.standard_normal((k, n)).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32) if fused else None
    sess = ts.onnx.InferenceSession(matmul_model(None, k, n, w, bias, "Relu" if fused == "relu" else None, trans_b))
    for m in (1, 2, 4, 5, 15, 16, 17, 64, 16, 1):  # 16 and 1 again: cached weights and paths are reused
        a = RNG.standard_normal((m, k)).astype(np.float32)
        want = a.astype(np.float64) @ w.astype(np.float64)
        if bias is not None:
            want = want + bias
        if fused == "relu":
            want = np.maximum(want, 0)
        (got,) = sess.run(None, {"a": a})
        assert got.shape == (m, n)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_constant_weight_matmul_threads():
    k, n = 128, 256
    w = RNG.standard_normal((k, n)).astype(np.float32)
    sess = ts.onnx.InferenceSession(matmul_model(None, k, n, w))
    a = RNG.standard_normal((32, k)).astype(np.float32)
    old = ts.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ts.set_num_threads(t)
            outs.append(sess.run(None, {"a": a})[0])
    finally:
        ts.set_num_threads(old)
    np.testing.assert_allclose(outs[0], a.astype(np.float64) @ w, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(outs[1], a.astype(np.float64) @ w, rtol=1e-4, atol=1e-3)
