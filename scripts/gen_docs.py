"""Regenerates the tables in docs/ from the library itself:
docs/ops.md (kernel coverage from ts.registry) and the promotion table in
docs/tensors.md (from ts.promote_types). tests/python/test_docs.py fails when
they are stale:  .venv/bin/python scripts/gen_docs.py"""
import pathlib
import re

import tessel as ts

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- promotion-table:begin -->", "<!-- promotion-table:end -->"


def ops_page():
    builtin = [e for e in ts.registry() if e[3] == "builtin"]
    dtypes = list(ts.dtype.__members__.values())
    cov = {}
    for op, dev, dt, _ in builtin:
        cov.setdefault((op, dev), set()).add(dt)
    lines = ["# Op coverage", "",
             "Generated from `ts.registry()` by `scripts/gen_docs.py`; do not edit by hand.",
             "Rows are (op, device); `x` marks a registered kernel. Ops outside this table",
             "(views, cat, stack, indexing, mean, ...) are composed from these kernels.", "",
             "| op | device | " + " | ".join(d.name for d in dtypes) + " |",
             "|---|---|" + "---|" * len(dtypes)]
    for (op, dev) in sorted(cov):
        lines.append(f"| {op} | {dev} | " + " | ".join("x" if d in cov[(op, dev)] else "" for d in dtypes) + " |")
    return "\n".join(lines) + "\n"


def promotion_table():
    dtypes = list(ts.dtype.__members__.values())
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
