"""The generated tables in docs/ match the library (run scripts/gen_docs.py to refresh)."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
gen_docs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_docs)


def test_op_coverage_table_is_current():
    text = (ROOT / "docs" / "ops.md").read_text()
    if not gen_docs.ts._C._cuda.is_compiled():  # a build without CUDA (TESSEL_WITH_CUDA=OFF) has no cuda rows
        text = "".join(line for line in text.splitlines(keepends=True) if "| cuda |" not in line)
    assert text == gen_docs.ops_page(), "run scripts/gen_docs.py"


def test_promotion_table_is_current():
    text = (ROOT / "docs" / "tensors.md").read_text()
    assert gen_docs.BEGIN in text
    assert text == gen_docs.tensors_page(text), "run scripts/gen_docs.py"
