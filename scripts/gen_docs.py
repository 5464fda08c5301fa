"""Regenerates the tables in docs/ from the library itself:
docs/ops.md (kernel coverage from ts.registry) and the promotion table in
docs/tensors.md (from ts.promote_types). tests/python/test_docs.py fails when
they are stale:  .venv/bin/python scripts/gen_docs.py"""
import pathlib
import re

import tessel as ts

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- promotion-table:begin -->", "<!-- promotion-table:end -->"


# tessel op -> the ONNX op type(s) it corresponds to, where the names differ.
ONNX_NAMES = {
    "eq": "Equal", "ne": "Equal+Not", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual",
    "maximum": "Max", "minimum": "Min", "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
    "logical_not": "Not", "amax": "ReduceMax", "amin": "ReduceMin", "sum": "ReduceSum", "prod": "ReduceProd",
    "max_dim": "ReduceMax+ArgMax", "min_dim": "ReduceMin+ArgMin", "clamp": "Clip", "leaky_relu": "LeakyRelu",
    "conv2d": "Conv", "max_pool2d": "MaxPool", "batch_norm": "BatchNormalization", "copy": "Identity/Cast",
    "take_offsets": "Gather/GatherND", "sort": "TopK", "topk": "TopK", "fill": "ConstantOfShape",
    "arange": "Range", "reciprocal": "Reciprocal", "isnan": "IsNaN", "isinf": "IsInf", "where": "Where",
    "remainder": "Mod", "cumsum": "CumSum", "softmax": "Softmax", "log_softmax": "LogSoftmax", "matmul": "MatMul",
    "bitwise_and": "BitwiseAnd", "bitwise_or": "BitwiseOr", "bitwise_xor": "BitwiseXor", "bitwise_not": "BitwiseNot",
    "nonzero": "NonZero", "fmod": "Mod", "erf": "Erf", "floor_divide": "Div+Floor", "bitwise_left_shift": "BitShift",
    "bitwise_right_shift": "BitShift", "fft_c2c": "DFT", "rfft_real": "DFT", "irfft_real": "DFT",
}
# Registry ops that export through the traced op of another name.
EXPORTED_AS = {"copy": "cast", "take_offsets": "advanced_index", "fill": "full", "max_dim": "max_dim",
               "max_pool2d": "max_pool2d", "conv2d": "conv2d", "fft_c2c": "fft"}


def onnx_import_name(op, imported):
    names = ONNX_NAMES.get(op, "".join(w.capitalize() for w in op.split("_")))
    parts = [n for n in names.replace("/", "+").split("+")]
    return names if all(p in imported for p in parts) else ""


def ops_page():
    builtin = [e for e in ts.registry() if e[3] == "builtin"]
    dtypes = [d for d in ts.dtype.__members__.values() if not d.is_cast_only]
    imported, exported = set(ts._C._onnx.import_ops()), set(ts._C._onnx.export_ops())
    cov = {}
    for op, dev, dt, _ in builtin:
        cov.setdefault((op, dev), set()).add(dt)
    lines = ["# Op coverage", "",
             "Generated from `ts.registry()` and the ONNX op tables by `scripts/gen_docs.py`; do not edit by hand.",
             "Rows are (op, device); `x` marks a registered kernel. Ops outside this table",
             "(views, cat, stack, indexing, mean, ...) are composed from these kernels.",
             "`onnx import`: the ONNX op type(s) the importer runs onto this kernel; `onnx export`: `x` when",
             "`ts.onnx.export` maps the op (lists of both below the table). The cast-only dtypes (float8, float4,",
             "int4, int2; docs/tensors.md) have copy and fill kernels and no others.", "",
             "| op | device | " + " | ".join(d.name for d in dtypes) + " | onnx import | onnx export |",
             "|---|---|" + "---|" * (len(dtypes) + 2)]
    for (op, dev) in sorted(cov):
        exp = "x" if EXPORTED_AS.get(op, op) in exported else ""
        lines.append(f"| {op} | {dev} | " + " | ".join("x" if d in cov[(op, dev)] else "" for d in dtypes)
                     + f" | {onnx_import_name(op, imported)} | {exp} |")
    lines += ["", "## ONNX import", "",
              f"{len(imported)} ONNX op types (the default domain and `ai.onnx.ml`) run in tessel's importer (`src/onnx/ops_*.cpp`):", "",
              ", ".join(f"`{o}`" for o in sorted(imported)), "",
              "## ONNX export", "",
              f"{len(exported)} traced ops map onto ONNX nodes (`src/onnx/export_ops.cpp`); composite ops",
              "(`linear`, `layer_norm`, `scaled_dot_product_attention`, `rnn`, ...) export as themselves:", "",
              ", ".join(f"`{o}`" for o in sorted(exported))]
    return "\n".join(lines) + "\n"


def promotion_table():
    dtypes = [d for d in ts.dtype.__members__.values() if not d.is_cast_only]  # they refuse promotion
    short = {d: d.name.replace("complex", "c").replace("float", "f").replace("bfloat", "bf").replace("uint", "u")
             .replace("int", "i") for d in dtypes}
    lines = ["| | " + " | ".join(short[d] for d in dtypes) + " |", "|---|" + "---|" * len(dtypes)]
    for a in dtypes:
        lines.append(f"| **{short[a]}** | " + " | ".join(short[ts.promote_types(a, b)] for b in dtypes) + " |")
    return "\n".join(lines)


def tensors_page(text):
    block = f"{BEGIN}\n{promotion_table()}\n{END}"
    return re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), block, text, flags=re.S)


if __name__ == "__main__":
    (ROOT / "docs" / "ops.md").write_text(ops_page())
    p = ROOT / "docs" / "tensors.md"
    p.write_text(tensors_page(p.read_text()))
    print("wrote docs/ops.md and the promotion table in docs/tensors.md")
