"""Graph passes of the ONNX importer (src/onnx/passes.cpp): every rewritten graph
gives onnxruntime's results, with the passes on and off (TESSEL_ONNX_PASSES=0),
and TESSEL_ONNX_PASSES_VERBOSE=1 reports which passes fired."""
import re

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built without ONNX support")

RNG = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs,
                          [numpy_helper.from_array(v, k) for k, v in dict(inits).items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    if all(o.type.tensor_type.HasField("shape") for o in m.graph.output):  # the checker wants output shapes
        onnx.checker.check_model(m)
    return m.SerializeToString()


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def load(data, monkeypatch, passes=True):
    monkeypatch.setenv("TESSEL_ONNX_PASSES", "1" if passes else "0")
    monkeypatch.setenv("TESSEL_ONNX_PASSES_VERBOSE", "1")
    return ts.onnx.load(data)


def report(capfd):
    """{pass: count} from the verbose line printed at load."""
    err = capfd.readouterr().err
    m = re.search(r"(\d+) constant nodes folded, (\d+) Conv\+BatchNormalization folded, (\d+) GELU fused, "
                  r"(\d+) LayerNorm fused, (\d+) dead nodes removed, (\d+) MatMul as 2-D, "
                  r"(\d+) Conv\+Add/activation fused, (\d+) MatMul/Gemm\+bias/activation fused", err)
    if m is None:
        return None
    return dict(zip(("folded", "conv_bn", "gelu", "layer_norm", "dead", "matmul2d", "conv_fused", "matmul_fused"),
                    map(int, m.groups())))


def run_both(data, feed, monkeypatch, capfd, rtol=1e-5, atol=1e-5):
    """Runs with passes on and off against onnxruntime; returns the passes' report."""
    ref = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feed)
    on = load(data, monkeypatch, True)
    rep = report(capfd)
    off = load(data, monkeypatch, False)
    assert report(capfd) is None  # passes off: nothing runs, nothing printed
    tfeed = {k: ts.tensor(v) for k, v in feed.items()}
    for mod in (on, off):
        got = mod.run(tfeed)
        for o, r in zip(mod.outputs, ref):
            np.testing.assert_allclose(got[o.name].numpy(), r, rtol=rtol, atol=atol)
    return rep


# ---------------------------------------------------------------------------
# constant folding


def test_constant_subgraph_is_folded(monkeypatch, capfd):
    # W = Transpose(C) * 2 + Constant: three constant nodes, evaluated at load.
    nodes = [
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.float32([0.5]), "k")),
        helper.make_node("Transpose", ["c"], ["ct"], perm=[1, 0]),
        helper.make_node("Mul", ["ct", "two"], ["c2"]),
        helper.make_node("Add", ["c2", "k"], ["w"]),
        helper.make_node("MatMul", ["x", "w"], ["y"]),
    ]
    data = model(nodes, [vi("x", [3, 4])], [vi("y", [3, 5])], {"c": f32(5, 4), "two": np.float32(2)})
    rep = run_both(data, {"x": f32(3, 4)}, monkeypatch, capfd)
    assert rep["folded"] == 4


def test_initializer_listed_as_graph_input(monkeypatch, capfd):
    # 'b' is a graph input with a default (initializer). tessel's loader drops such inputs
    # (they cannot be fed yet), so the pass may fold through it: results stay onnxruntime's.
    nodes = [helper.make_node("Mul", ["b", "three"], ["b3"]), helper.make_node("Add", ["x", "b3"], ["y"])]
    data = model(nodes, [vi("x", [2]), vi("b", [2])], [vi("y", [2])],
                 {"b": np.float32([1, 2]), "three": np.float32(3)})
    run_both(data, {"x": f32(2)}, monkeypatch, capfd)


def test_constant_node_that_fails_reports_its_node(monkeypatch, capfd):
    # Reshape of a constant to an impossible shape: the error names the node, passes on or off
    # (raised by shape inference at load, or at run time; folding never hides it).
    nodes = [helper.make_node("Reshape", ["c", "shape"], ["r"], name="bad_reshape"),
             helper.make_node("Add", ["x", "r"], ["y"])]
    g = helper.make_graph(nodes, "g", [vi("x", [4])], [vi("y", None)],
                          [numpy_helper.from_array(f32(4), "c"),
                           numpy_helper.from_array(np.int64([3]), "shape")])
    data = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    for passes in (True, False):
        with pytest.raises(ValueError, match="bad_reshape"):
            load(data, monkeypatch, passes).run({"x": ts.tensor(f32(4))})


# ---------------------------------------------------------------------------
# Conv + BatchNormalization


def conv_bn_nodes(bias, group=1, stride=1, eps=1e-5):
    conv_in = ["x", "w"] + (["b"] if bias else [])
    return [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1], group=group, strides=[stride, stride]),
            helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["bn"], epsilon=eps),
            helper.make_node("Relu", ["bn"], ["y"])]


def bn_inits(c):
    return {"g": f32(c) + 1, "beta": f32(c), "mean": f32(c), "var": RNG.random(c).astype(np.float32) + 0.5}


@pytest.mark.parametrize("bias,group,stride", [(False, 1, 1), (True, 1, 2), (True, 4, 1), (False, 8, 1)])
def test_conv_bn_folded(monkeypatch, capfd, bias, group, stride):
    inits = {"w": f32(8, 8 // group, 3, 3, scale=0.3), **bn_inits(8)}
    if bias:
        inits["b"] = f32(8)
    data = model(conv_bn_nodes(bias, group, stride, eps=1e-3), [vi("x", [2, 8, 9, 9])], [vi("y", None)], inits)
    rep = run_both(data, {"x": f32(2, 8, 9, 9)}, monkeypatch, capfd)
    assert rep["conv_bn"] == 1


def test_conv_bn_not_folded_when_conv_output_is_read_elsewhere(monkeypatch, capfd):
    nodes = conv_bn_nodes(True) + [helper.make_node("Identity", ["c"], ["c_out"])]
    inits = {"w": f32(4, 4, 3, 3, scale=0.3), "b": f32(4), **bn_inits(4)}
    data = model(nodes, [vi("x", [1, 4, 5, 5])], [vi("y", None), vi("c_out", None)], inits)
    rep = run_both(data, {"x": f32(1, 4, 5, 5)}, monkeypatch, capfd)
    assert rep["conv_bn"] == 0


def test_conv_bn_not_folded_when_weights_are_fed(monkeypatch, capfd):
    data = model(conv_bn_nodes(False), [vi("x", [1, 4, 5, 5]), vi("w", [4, 4, 3, 3])], [vi("y", None)], bn_inits(4))
    rep = run_both(data, {"x": f32(1, 4, 5, 5), "w": f32(4, 4, 3, 3)}, monkeypatch, capfd)
    assert rep["conv_bn"] == 0


def test_shared_conv_weight_folded_into_one_conv_only(monkeypatch, capfd):
    # Two convs share W; only the one followed by BN gets folded weights.
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["y1"]),
             helper.make_node("Conv", ["x", "w"], ["y2"], pads=[1, 1, 1, 1])]
    data = model(nodes, [vi("x", [1, 4, 6, 6])], [vi("y1", None), vi("y2", None)],
                 {"w": f32(4, 4, 3, 3, scale=0.3), **bn_inits(4)})
    rep = run_both(data, {"x": f32(1, 4, 6, 6)}, monkeypatch, capfd)
    assert rep["conv_bn"] == 1


def test_small_resnet_block(monkeypatch, capfd):
    # conv-bn-relu, conv-bn, residual add, relu, pooled and classified: the shape of ResNet.
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "g1", "b1", "m1", "v1"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "g2", "b2", "m2", "v2"], ["n2"]),
        helper.make_node("Add", ["n2", "x"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    inits = {"w1": f32(16, 16, 3, 3, scale=0.1), "w2": f32(16, 16, 3, 3, scale=0.1), "fc": f32(10, 16),
             "fcb": f32(10)}
    for k in "12":
        inits.update({"g" + k: f32(16) + 1, "b" + k: f32(16), "m" + k: f32(16),
                      "v" + k: RNG.random(16).astype(np.float32) + 0.5})
    data = model(nodes, [vi("x", ["N", 16, 8, 8])], [vi("y", ["N", 10])], inits)
    rep = run_both(data, {"x": f32(3, 16, 8, 8)}, monkeypatch, capfd, rtol=1e-4, atol=1e-4)
    assert rep["conv_bn"] == 2


# ---------------------------------------------------------------------------
# GELU


def gelu_nodes(form):
    sqrt2 = "sqrt2" if form != "mul_rsqrt2" else "rsqrt2"
    first = (helper.make_node("Div", ["x", sqrt2], ["d"]) if form != "mul_rsqrt2"
             else helper.make_node("Mul", [sqrt2, "x"], ["d"]))
    nodes = [first, helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["one", "e"], ["a"])]
    if form in ("x_a_half", "mul_rsqrt2"):
        nodes += [helper.make_node("Mul", ["x", "a"], ["m"]), helper.make_node("Mul", ["m", "half"], ["y"])]
    elif form == "half_x_a":
        nodes += [helper.make_node("Mul", ["x", "half"], ["h"]), helper.make_node("Mul", ["h", "a"], ["y"])]
    else:  # "x_a_half_inner": x * (a * 0.5)
        nodes += [helper.make_node("Mul", ["a", "half"], ["m"]), helper.make_node("Mul", ["x", "m"], ["y"])]
    return nodes


GELU_CONSTS = {"sqrt2": np.float32(np.sqrt(2.0)), "rsqrt2": np.float32(np.sqrt(0.5)), "one": np.float32(1.0),
               "half": np.float32(0.5)}


@pytest.mark.parametrize("form", ["x_a_half", "half_x_a", "x_a_half_inner", "mul_rsqrt2"])
def test_gelu_erf_pattern_fused(monkeypatch, capfd, form):
    data = model(gelu_nodes(form), [vi("x", [4, 33])], [vi("y", [4, 33])], GELU_CONSTS)
    rep = run_both(data, {"x": f32(4, 33, scale=3)}, monkeypatch, capfd)
    assert rep["gelu"] == 1
    assert rep["dead"] == 0


def test_gelu_like_pattern_with_other_constant_is_not_fused(monkeypatch, capfd):
    consts = dict(GELU_CONSTS, half=np.float32(0.6))
    data = model(gelu_nodes("x_a_half"), [vi("x", [4, 8])], [vi("y", [4, 8])], consts)
    rep = run_both(data, {"x": f32(4, 8)}, monkeypatch, capfd)
    assert rep["gelu"] == 0


def test_gelu_not_fused_when_an_inner_value_is_an_output(monkeypatch, capfd):
    data = model(gelu_nodes("x_a_half"), [vi("x", [4, 8])], [vi("y", [4, 8]), vi("e", [4, 8])], GELU_CONSTS)
    rep = run_both(data, {"x": f32(4, 8)}, monkeypatch, capfd)
    assert rep["gelu"] == 0


# ---------------------------------------------------------------------------
# LayerNorm written out


def layer_norm_nodes(opset, square="pow", extra_use=False):
    def mean(i, o):
        if opset >= 18:
            return helper.make_node("ReduceMean", [i, "axes"], [o])
        return helper.make_node("ReduceMean", [i], [o], axes=[-1])
    sq = (helper.make_node("Pow", ["d", "two"], ["p"]) if square == "pow"
          else helper.make_node("Mul", ["d", "d"], ["p"]))
    nodes = [mean("x", "mu"), helper.make_node("Sub", ["x", "mu"], ["d"]), sq, mean("p", "var"),
             helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["d", "sd"], ["n"]), helper.make_node("Mul", ["n", "gamma"], ["g"]),
             helper.make_node("Add", ["g", "beta"], ["y"])]
    if extra_use:
        nodes.append(helper.make_node("Identity", ["d"], ["d_out"]))
    return nodes


def ln_inits(opset, width, eps=1e-5):
    inits = {"two": np.float32(2), "eps": np.float32(eps), "gamma": f32(width) + 1, "beta": f32(width)}
    if opset >= 18:
        inits["axes"] = np.int64([-1])
    return inits


@pytest.mark.parametrize("opset,square,eps", [(17, "pow", 1e-5), (13, "mul", 1e-12), (18, "pow", 1e-3)])
def test_layer_norm_pattern_fused(monkeypatch, capfd, opset, square, eps):
    data = model(layer_norm_nodes(opset, square), [vi("x", [2, 5, 32])], [vi("y", [2, 5, 32])],
                 ln_inits(opset, 32, eps), opset=opset)
    rep = run_both(data, {"x": f32(2, 5, 32, scale=3) + 1}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["layer_norm"] == 1


def test_layer_norm_pattern_not_fused_when_centered_value_is_an_output(monkeypatch, capfd):
    data = model(layer_norm_nodes(17, extra_use=True), [vi("x", [2, 16])], [vi("y", [2, 16]), vi("d_out", [2, 16])],
                 ln_inits(17, 16))
    rep = run_both(data, {"x": f32(2, 16)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["layer_norm"] == 0


def test_layer_norm_pattern_over_other_axis_not_fused(monkeypatch, capfd):
    nodes = layer_norm_nodes(17)
    for n in nodes:
        if n.op_type == "ReduceMean":
            n.attribute[0].ints[:] = [1]
    data = model(nodes, [vi("x", [2, 8, 8])], [vi("y", [2, 8, 8])], ln_inits(17, 8))
    rep = run_both(data, {"x": f32(2, 8, 8)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["layer_norm"] == 0


# ---------------------------------------------------------------------------
# MatMul by a constant weight as one 2-D product


@pytest.mark.parametrize("xshape", [[6], [2, 3, 6], [2, 1, 3, 6], [0, 3, 6], [2, 0, 6]])
def test_matmul_by_constant_weight_runs_as_2d(monkeypatch, capfd, xshape):
    # The addend has one element (not a [5] bias): no FusedMatMul, the MatMul runs as 2-D.
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    data = model(nodes, [vi("x", xshape)], [vi("y", xshape[:-1] + [5])], {"w": f32(6, 5), "b": f32(1)})
    rep = run_both(data, {"x": f32(*xshape)}, monkeypatch, capfd)
    assert rep["matmul2d"] == 1 and rep["matmul_fused"] == 0


def test_matmul_with_symbolic_batch_dims_runs_as_2d(monkeypatch, capfd):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    data = model(nodes, [vi("x", ["N", "S", 6])], [vi("y", ["N", "S", 5])], {"w": f32(6, 5)})
    rep = run_both(data, {"x": f32(3, 4, 6)}, monkeypatch, capfd)
    assert rep["matmul2d"] == 1


def test_matmul_of_2d_input_is_left_as_is(monkeypatch, capfd):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    data = model(nodes, [vi("x", [3, 6])], [vi("y", [3, 5])], {"w": f32(6, 5)})
    rep = run_both(data, {"x": f32(3, 6)}, monkeypatch, capfd)
    assert rep["matmul2d"] == 0


def test_matmul_of_two_activations_is_left_alone(monkeypatch, capfd):
    nodes = [helper.make_node("MatMul", ["x", "z"], ["y"])]
    data = model(nodes, [vi("x", [2, 3, 4]), vi("z", [4, 5])], [vi("y", [2, 3, 5])])
    rep = run_both(data, {"x": f32(2, 3, 4), "z": f32(4, 5)}, monkeypatch, capfd)
    assert rep["matmul2d"] == 0


def test_matmul_by_batched_constant_is_left_alone(monkeypatch, capfd):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
    data = model(nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 3, 5])], {"w": f32(2, 4, 5)})
    rep = run_both(data, {"x": f32(2, 3, 4)}, monkeypatch, capfd)
    assert rep["matmul2d"] == 0


# ---------------------------------------------------------------------------
# dead nodes, subgraphs


def test_dead_nodes_removed(monkeypatch, capfd):
    # 'unused' feeds nothing: its op (of a custom domain) cannot run, so only the pass lets the model run.
    nodes = [helper.make_node("Relu", ["x"], ["y"]),
             helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Frobnicate", ["s"], ["unused"], domain="com.example")]
    g = helper.make_graph(nodes, "g", [vi("x", [3])], [vi("y", [3])])
    data = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                               helper.make_opsetid("com.example", 1)]).SerializeToString()
    x = f32(3)
    mod = load(data, monkeypatch, True)
    assert report(capfd)["dead"] == 2
    np.testing.assert_allclose(mod.run({"x": ts.tensor(x)})["y"].numpy(), np.maximum(x, 0))
    off = load(data, monkeypatch, False)
    with pytest.raises(NotImplementedError, match="Frobnicate"):
        off.run({"x": ts.tensor(x)})


def test_graph_with_subgraph_only_folds_constants(monkeypatch, capfd):
    # The If branches read 'n' (a BatchNormalization output) from the enclosing graph by name:
    # Conv+BN folding would rename it, so it must not run; the results stay onnxruntime's.
    then_g = helper.make_graph([helper.make_node("Relu", ["n"], ["t"])], "then", [], [vi("t", None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["n"], ["e"])], "else", [], [vi("e", None)])
    nodes = [helper.make_node("Mul", ["two", "two"], ["four"]),
             helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"]),
             helper.make_node("If", ["cond"], ["r"], then_branch=then_g, else_branch=else_g),
             helper.make_node("Mul", ["r", "four"], ["y"])]
    inits = {"w": f32(4, 4, 3, 3, scale=0.3), "two": np.float32(2), **bn_inits(4)}
    data = model(nodes, [vi("x", [1, 4, 5, 5]), vi("cond", [], TensorProto.BOOL)], [vi("y", None)], inits)
    for cond in (True, False):
        rep = run_both(data, {"x": f32(1, 4, 5, 5), "cond": np.array(cond)}, monkeypatch, capfd)
        assert rep == {"folded": 1, "conv_bn": 0, "gelu": 0, "layer_norm": 0, "dead": 0, "matmul2d": 0,
                       "conv_fused": 0, "matmul_fused": 0}


def test_passes_off_by_env(monkeypatch, capfd):
    data = model(gelu_nodes("x_a_half"), [vi("x", [2, 3])], [vi("y", [2, 3])], GELU_CONSTS)
    load(data, monkeypatch, False)
    assert "[onnx.passes]" not in capfd.readouterr().err
    load(data, monkeypatch, True)
    assert "[onnx.passes]" in capfd.readouterr().err


# ---------------------------------------------------------------------------
# constant conv weights: the CPU kernel keeps them reordered (kernels/cpu/conv.cpp)


def conv_model(w, b):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])]
    return model(nodes, [vi("x", [2, 16, 7, 7])], [vi("y", [2, 16, 7, 7])], {"w": w, "b": b})


def test_models_with_same_shapes_keep_their_own_weights(monkeypatch, capfd):
    x = f32(2, 16, 7, 7)
    datas = [conv_model(f32(16, 16, 3, 3), f32(16)) for _ in range(3)]
    refs = [ort.InferenceSession(d, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0] for d in datas]
    mods = [load(d, monkeypatch) for d in datas]
    for _ in range(2):  # interleaved: each run must use its own model's weights
        for mod, ref in zip(mods, refs):
            np.testing.assert_allclose(mod.run({"x": ts.tensor(x)})["y"].numpy(), ref, rtol=1e-5, atol=1e-5)
    # Freed models whose weight buffers may be reused by the next ones at the same addresses.
    for _ in range(5):
        del mods
        datas = [conv_model(f32(16, 16, 3, 3), f32(16)) for _ in range(3)]
        refs = [ort.InferenceSession(d, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0] for d in datas]
        mods = [load(d, monkeypatch) for d in datas]
        for mod, ref in zip(mods, refs):
            np.testing.assert_allclose(mod.run({"x": ts.tensor(x)})["y"].numpy(), ref, rtol=1e-5, atol=1e-5)


def test_eager_conv_weight_written_in_place_is_seen():
    # Weights of eager code are never cached: an in-place write shows in the next call.
    x = ts.tensor(f32(1, 4, 6, 6))
    w = ts.tensor(f32(4, 4, 3, 3))
    y1 = ts.nn.functional.conv2d(x, w, padding=1).numpy()
    w.mul_(2.0)
    y2 = ts.nn.functional.conv2d(x, w, padding=1).numpy()
    np.testing.assert_allclose(y2, 2 * y1, rtol=1e-5, atol=1e-5)


def gemm_matmul_model(w1, w2):
    # MatMul by w1 [K, N], then Gemm by w2 stored [N', N] with transB=1: both weights packed once.
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Gemm", ["h", "w2"], ["y"], transB=1)]
    return model(nodes, [vi("x", [4, 24])], [vi("y", [4, 20])], {"w1": w1, "w2": w2})


def test_packed_matmul_weights_stay_per_model(monkeypatch, capfd):
    x = f32(4, 24)
    for _ in range(3):  # later rounds may reuse the freed weights' addresses
        datas = [gemm_matmul_model(f32(24, 40), f32(20, 40)) for _ in range(3)]
        refs = [ort.InferenceSession(d, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0] for d in datas]
        mods = [load(d, monkeypatch) for d in datas]
        for _ in range(2):
            for mod, ref in zip(mods, refs):
                np.testing.assert_allclose(mod.run({"x": ts.tensor(x)})["y"].numpy(), ref, rtol=1e-5, atol=1e-5)
        del mods


def test_eager_matmul_weight_written_in_place_is_seen():
    a, w = ts.tensor(f32(3, 8)), ts.tensor(f32(8, 5))
    y1 = (a @ w).numpy()
    w.mul_(3.0)
    np.testing.assert_allclose((a @ w).numpy(), 3 * y1, rtol=1e-5, atol=1e-5)


# ---- kernels the ONNX runtime leans on (fast paths; references are NumPy) ----

@pytest.mark.parametrize("dtype,lo,hi", [(np.float32, 0.0, 6.0), (np.float32, 1.0, -1.0), (np.int32, -2, 3),
                                         (np.float32, None, 0.5), (np.int64, 1, None)])
def test_clip_with_one_element_bounds(dtype, lo, hi):
    # ReLU6 as exporters write it: bounds as 0-d (or [1]) initializers; min > max gives max everywhere.
    tt = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    x = (RNG.standard_normal((2, 3, 5)) * 5).astype(dtype)
    if dtype == np.float32:
        x[0, 0, 0] = np.nan
    inits, ins = {}, ["x"]
    for name, v, shape in (("lo", lo, ()), ("hi", hi, (1,))):
        if v is None:
            ins.append("")
        else:
            inits[name] = np.full(shape, v, dtype)
            ins.append(name)
    while ins[-1] == "":
        ins.pop()
    data = model([helper.make_node("Clip", ins, ["y"])], [vi("x", [2, 3, 5], tt)], [vi("y", [2, 3, 5], tt)], inits)
    got = ts.onnx.load(data).run({"x": ts.tensor(x)})["y"].numpy()
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def pool_ref(x, k, s, p, d, ceil):
    """Max pooling in float64 NumPy, NaN propagating (PyTorch's semantics), padding never chosen."""
    N, C, H, W = x.shape
    out_hw = []
    for L, i in ((H, 0), (W, 1)):
        span = L + 2 * p[i] - d[i] * (k[i] - 1) - 1
        o = (-(-span // s[i]) if ceil else span // s[i]) + 1
        if ceil and (o - 1) * s[i] >= L + p[i]:
            o -= 1
        out_hw.append(o)
    y = np.full((N, C, *out_hw), -np.inf)
    for oh in range(out_hw[0]):
        for ow in range(out_hw[1]):
            hs = [oh * s[0] - p[0] + a * d[0] for a in range(k[0])]
            ws = [ow * s[1] - p[1] + b * d[1] for b in range(k[1])]
            hs = [h for h in hs if 0 <= h < H]
            ws = [w for w in ws if 0 <= w < W]
            win = x[:, :, hs][:, :, :, ws].reshape(N, C, -1).astype(np.float64)
            m = win.max(axis=2)
            y[:, :, oh, ow] = np.where(np.isnan(win).any(axis=2), np.nan, m)
    return y


@pytest.mark.parametrize("k,s,p,d,ceil,shape", [((3, 3), (2, 2), (1, 1), (1, 1), False, (2, 3, 12, 13)),
                                                ((2, 2), (2, 2), (0, 0), (1, 1), False, (1, 2, 7, 9)),
                                                ((3, 2), (1, 2), (1, 0), (2, 1), True, (1, 2, 9, 8)),
                                                ((2, 3), (3, 2), (1, 1), (1, 2), True, (2, 1, 10, 11))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_without_indices_matches_reference(k, s, p, d, ceil, shape, dtype):
    # Inference (no grad) runs the kernel's index-free form; with grad, the indexed one.
    x = RNG.standard_normal(shape).astype(dtype)
    x[0, 0, 1, 2] = np.nan
    x[-1, -1, -1, -1] = np.nan
    want = pool_ref(x, k, s, p, d, ceil)
    with ts.no_grad():
        got = ts.nn.functional.max_pool2d(ts.tensor(x), k, s, p, d, ceil_mode=ceil).numpy()
    np.testing.assert_array_equal(got, want.astype(dtype))
    xg = ts.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(ts.nn.functional.max_pool2d(xg, k, s, p, d, ceil_mode=ceil).detach().numpy(),
                                  want.astype(dtype))
    # Unbatched input [C, H, W].
    with ts.no_grad():
        got3 = ts.nn.functional.max_pool2d(ts.tensor(x[0]), k, s, p, d, ceil_mode=ceil).numpy()
    np.testing.assert_array_equal(got3, want[0].astype(dtype))


@pytest.mark.parametrize("ashape,bshape", [((4, 3, 5), (5, 6)), ((2, 3, 4, 5), (5, 2)), ((3, 4, 5), (5,)),
                                           ((2, 1, 5), (5, 7))])
def test_batched_matmul_by_2d_weight(ashape, bshape):
    # The batch dims fold into the rows of one 2-D product (no copy of b per batch item).
    a = RNG.standard_normal(ashape)
    b = RNG.standard_normal(bshape)
    got = ts.matmul(ts.tensor(a), ts.tensor(b)).numpy()
    np.testing.assert_allclose(got, a @ b, rtol=1e-12)
    # A non-contiguous a (a transposed view) too.
    at = np.ascontiguousarray(np.swapaxes(a, 0, -2))
    got_t = ts.matmul(ts.tensor(at).transpose(0, -2), ts.tensor(b)).numpy()
    np.testing.assert_allclose(got_t, a @ b, rtol=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    np.testing.assert_allclose(ts.matmul(ts.tensor(a32), ts.tensor(b32)).numpy(), a32 @ b32, rtol=1e-5, atol=1e-5)


def test_batched_matmul_by_2d_weight_gradients():
    a = ts.tensor(RNG.standard_normal((2, 3, 4)), requires_grad=True)
    b = ts.tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    assert ts.autograd.gradcheck(lambda u, v: ts.matmul(u, v), (a, b))
    a4 = ts.tensor(RNG.standard_normal((2, 2, 3, 4)), requires_grad=True)
    v = ts.tensor(RNG.standard_normal(4), requires_grad=True)
    assert ts.autograd.gradcheck(lambda u, w: ts.matmul(u, w), (a4, v))


# ---------------------------------------------------------------------------
# Conv(+bias)(+residual Add)(+activation) as one ai.tessel.FusedConv node

ACTS = {
    "Relu": lambda y, b: [helper.make_node("Relu", [y], ["out"])],
    "Clip": lambda y, b: [helper.make_node("Clip", [y, "c_lo", "c_hi"], ["out"])],
    "Sigmoid": lambda y, b: [helper.make_node("Sigmoid", [y], ["out"])],
    "LeakyRelu": lambda y, b: [helper.make_node("LeakyRelu", [y], ["out"], alpha=0.2)],
    None: lambda y, b: [helper.make_node("Identity", [y], ["out"])],
}


def fused_conv_model(act, residual, bias=True, group=1, stride=1, pads=(1, 1, 1, 1), res_shape=None):
    cin, cout = 4, 8
    inits = {"W": f32(cout, cin // group, 3, 3, scale=0.3), "c_lo": np.array(0.0, np.float32),
             "c_hi": np.array(1.5, np.float32)}
    ins = ["x", "W"]
    if bias:
        inits["B"] = f32(cout)
        ins.append("B")
    nodes = [helper.make_node("Conv", ins, ["y"], pads=list(pads), strides=[stride, stride], group=group)]
    y = "y"
    graph_in = [vi("x", ["N", cin, 9, 10])]
    if residual == "input":
        nodes.append(helper.make_node("Add", ["r", y], ["s"]))
        graph_in.append(vi("r", ["N", cout, "H", "W"]))
        y = "s"
    elif residual == "const":  # broadcasting residual: composed ops
        inits["R"] = f32(*res_shape)
        nodes.append(helper.make_node("Add", [y, "R"], ["s"]))
        y = "s"
    nodes += ACTS[act](y, bias)
    return model(nodes, graph_in, [vi("out", None)], inits)


def conv_out_hw(stride, pads):
    return ((9 + pads[0] + pads[2] - 3) // stride + 1, (10 + pads[1] + pads[3] - 3) // stride + 1)


@pytest.mark.parametrize("act,residual", [(a, r) for a in ("Relu", "Clip", "Sigmoid", "LeakyRelu", None)
                                          for r in (None, "input") if (a, r) != (None, None)])
@pytest.mark.parametrize("bias,group,stride,pads", [(True, 1, 1, (1, 1, 1, 1)), (False, 2, 2, (0, 1, 2, 0)),
                                                    (True, 4, 1, (1, 0, 1, 2))])
def test_conv_activation_residual_fused(monkeypatch, capfd, act, residual, bias, group, stride, pads):
    data = fused_conv_model(act, residual, bias, group, stride, pads)
    feed = {"x": f32(2, 4, 9, 10)}
    if residual == "input":
        feed["r"] = f32(2, 8, *conv_out_hw(stride, pads))
    rep = run_both(data, feed, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["conv_fused"] == 1


def test_fused_conv_with_broadcast_residual_runs_the_composed_ops(monkeypatch, capfd):
    data = fused_conv_model("Relu", "const", res_shape=(1, 8, 1, 1))
    rep = run_both(data, {"x": f32(3, 4, 9, 10)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["conv_fused"] == 1


def test_conv_with_auto_pad_not_fused(monkeypatch, capfd):
    w = f32(3, 2, 3, 3)
    data = model([helper.make_node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2]),
                  helper.make_node("Relu", ["y"], ["out"])],
                 [vi("x", [1, 2, 5, 6])], [vi("out", None)], {"W": w})
    rep = run_both(data, {"x": f32(1, 2, 5, 6)}, monkeypatch, capfd)
    assert rep["conv_fused"] == 0


def test_conv_not_fused_when_its_output_is_read_elsewhere(monkeypatch, capfd):
    w = f32(8, 4, 3, 3, scale=0.3)
    data = model([helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["y"], ["out"])],
                 [vi("x", [1, 4, 6, 6])], [vi("out", None), vi("y", None)], {"W": w})
    rep = run_both(data, {"x": f32(1, 4, 6, 6)}, monkeypatch, capfd)
    assert rep["conv_fused"] == 0


def test_clip_with_crossed_bounds_not_fused(monkeypatch, capfd):
    w = f32(8, 4, 3, 3, scale=0.3)
    data = model([helper.make_node("Conv", ["x", "W"], ["y"], pads=[1, 1, 1, 1]),
                  helper.make_node("Clip", ["y", "lo", "hi"], ["out"])],
                 [vi("x", [1, 4, 6, 6])], [vi("out", None)],
                 {"W": w, "lo": np.array(1.0, np.float32), "hi": np.array(-1.0, np.float32)})
    rep = run_both(data, {"x": f32(1, 4, 6, 6)}, monkeypatch, capfd)
    assert rep["conv_fused"] == 0


def test_resnet_block_fuses_each_conv(monkeypatch, capfd):
    # conv-bn-relu, conv-bn + identity add + relu: BN folds, then two fused convs.
    c = 4
    nodes = conv_bn_nodes(True)  # x -> Conv -> BN -> Relu -> y
    inits = {"w": f32(c, c, 3, 3, scale=0.3), "b": f32(c), **bn_inits(c)}
    nodes.append(helper.make_node("Conv", ["y", "W2"], ["y2"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Add", ["y2", "x"], ["s"]))
    nodes.append(helper.make_node("Relu", ["s"], ["out"]))
    inits["W2"] = f32(c, c, 3, 3, scale=0.3)
    data = model(nodes, [vi("x", [2, c, 7, 7])], [vi("out", None)], inits)
    rep = run_both(data, {"x": f32(2, c, 7, 7)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["conv_bn"] == 1 and rep["conv_fused"] == 2


def test_loader_refuses_the_internal_fused_domain():
    node = helper.make_node("FusedConv", ["x", "W"], ["y"], domain="ai.tessel")
    g = helper.make_graph([node], "g", [vi("x", [1, 1, 3, 3])], [vi("y", None)],
                          [numpy_helper.from_array(f32(1, 1, 1, 1), "W")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.tessel", 1)])
    m.ir_version = 8
    with pytest.raises(Exception, match="ai.tessel is reserved"):
        ts.onnx.load(m.SerializeToString())


def test_add_of_two_convs_is_fused_into_one_of_them(monkeypatch, capfd):
    # ResNet's downsampling block: Relu(Conv_a(x) + Conv_b(x)); one conv takes the Add, the other
    # output is its residual.
    data = model([helper.make_node("Conv", ["x", "Wa"], ["a"], pads=[1, 1, 1, 1], strides=[2, 2]),
                  helper.make_node("Conv", ["x", "Wb", "Bb"], ["b"], strides=[2, 2]),
                  helper.make_node("Add", ["a", "b"], ["s"]),
                  helper.make_node("Relu", ["s"], ["out"])],
                 [vi("x", [2, 4, 8, 8])], [vi("out", None)],
                 {"Wa": f32(6, 4, 3, 3, scale=0.3), "Wb": f32(6, 4, 1, 1), "Bb": f32(6)})
    rep = run_both(data, {"x": f32(2, 4, 8, 8)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["conv_fused"] == 1


# ---------------------------------------------------------------------------
# MatMul/Gemm(+bias)(+Relu/Gelu) as one ai.tessel.FusedMatMul node

@pytest.mark.parametrize("act", [None, "Relu", "Gelu", "GeluTanh"])
@pytest.mark.parametrize("xshape", [[5, 6], [2, 3, 6], ["B", "S", 6], [0, 3, 6], [2, 0, 6]])
@pytest.mark.parametrize("bias_first", [False, True])
def test_matmul_bias_activation_fused(monkeypatch, capfd, act, xshape, bias_first):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]),
             helper.make_node("Add", ["B", "m"] if bias_first else ["m", "B"], ["a"])]
    out = "a"
    if act == "Relu":
        nodes.append(helper.make_node("Relu", ["a"], ["r"]))
        out = "r"
    elif act is not None:
        nodes.append(helper.make_node("Gelu", ["a"], ["r"], approximate="tanh" if act == "GeluTanh" else "none"))
        out = "r"
    data = model(nodes, [vi("x", xshape)], [vi(out, None)], {"W": f32(6, 7), "B": f32(7)}, opset=20)
    shape = [2 if isinstance(d, str) else d for d in xshape]
    if xshape[0] == "B":
        shape = [4, 3, 6]
    rep = run_both(data, {"x": f32(*shape)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["matmul_fused"] == 1


@pytest.mark.parametrize("trans_b,bias,act", [(0, True, None), (1, True, "Relu"), (1, False, None), (0, False, "Relu")])
def test_gemm_fused(monkeypatch, capfd, trans_b, bias, act):
    w = f32(7, 6) if trans_b else f32(6, 7)
    inits = {"W": w}
    ins = ["x", "W"]
    if bias:
        inits["C"] = f32(7)
        ins.append("C")
    nodes = [helper.make_node("Gemm", ins, ["g"], transB=trans_b)]
    out = "g"
    if act:
        nodes.append(helper.make_node("Relu", ["g"], ["r"]))
        out = "r"
    data = model(nodes, [vi("x", [5, 6])], [vi(out, None)], inits)
    rep = run_both(data, {"x": f32(5, 6)}, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["matmul_fused"] == 1


def test_gemm_with_alpha_not_fused(monkeypatch, capfd):
    data = model([helper.make_node("Gemm", ["x", "W", "C"], ["g"], alpha=0.5)], [vi("x", [5, 6])], [vi("g", None)],
                 {"W": f32(6, 7), "C": f32(7)})
    rep = run_both(data, {"x": f32(5, 6)}, monkeypatch, capfd)
    assert rep["matmul_fused"] == 0


def test_matmul_with_broadcast_2d_bias_not_fused(monkeypatch, capfd):
    # A [5, 7] addend is not a bias: the MatMul stays as it is (run as 2-D).
    data = model([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["a"])],
                 [vi("x", [2, 5, 6])], [vi("a", None)], {"W": f32(6, 7), "B": f32(5, 7)})
    rep = run_both(data, {"x": f32(2, 5, 6)}, monkeypatch, capfd)
    assert rep["matmul_fused"] == 0 and rep["matmul2d"] == 1


def test_fused_matmul_of_1d_input_runs_the_composed_ops(monkeypatch, capfd):
    data = model([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["a"]),
                  helper.make_node("Relu", ["a"], ["r"])],
                 [vi("x", [6])], [vi("r", None)], {"W": f32(6, 7), "B": f32(7)})
    rep = run_both(data, {"x": f32(6)}, monkeypatch, capfd)
    assert rep["matmul_fused"] == 1


def test_matmul_weights_of_fused_nodes_stay_per_model(monkeypatch, capfd):
    # Two models with same shapes: packed weights are per weight storage.
    w1, w2, b = f32(6, 7), f32(6, 7), f32(7)
    def mk(w):
        return model([helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "B"], ["a"])],
                     [vi("x", [3, 6])], [vi("a", None)], {"W": w, "B": b})
    x = f32(3, 6)
    m1, m2 = ts.onnx.load(mk(w1)), ts.onnx.load(mk(w2))
    for _ in range(2):
        np.testing.assert_allclose(m1.run({"x": ts.tensor(x)})["a"].numpy(), x @ w1 + b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(m2.run({"x": ts.tensor(x)})["a"].numpy(), x @ w2 + b, rtol=1e-5, atol=1e-5)


def test_fused_nodes_off_by_env(monkeypatch, capfd):
    # TESSEL_ONNX_FUSE=0: the other passes run, no ai.tessel node is made.
    monkeypatch.setenv("TESSEL_ONNX_FUSE", "0")
    data = fused_conv_model("Relu", "input")
    feed = {"x": f32(2, 4, 9, 10), "r": f32(2, 8, 9, 10)}
    rep = run_both(data, feed, monkeypatch, capfd, rtol=1e-4, atol=1e-5)
    assert rep["conv_fused"] == 0 and rep["matmul_fused"] == 0


def test_profile_table_printed_at_exit(tmp_path):
    # TESSEL_ONNX_PROFILE=1: per-op-type times of every run, on stderr when the process exits.
    import os
    import subprocess
    import sys
    path = tmp_path / "m.onnx"
    path.write_bytes(fused_conv_model("Relu", None))
    code = ("import numpy as np, tessel as ts\n"
            f"m = ts.onnx.load({str(path)!r})\n"
            "for _ in range(3): m.run({'x': ts.tensor(np.ones((1, 4, 9, 10), np.float32))})\n")
    env = dict(os.environ, TESSEL_ONNX_PROFILE="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "[onnx.profile]" in r.stderr
    row = [ln for ln in r.stderr.splitlines() if ln.startswith("ai.tessel.FusedConv")]
    assert len(row) == 1 and row[0].split()[2] == "3"  # calls
    env["TESSEL_ONNX_PROFILE"] = "0"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "[onnx.profile]" not in r.stderr
