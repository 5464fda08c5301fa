"""The tutorials under examples/notebooks run top to bottom without an error."""
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is installed by scripts/setup.sh")
nbclient = pytest.importorskip("nbclient", reason="nbclient is installed by scripts/setup.sh")

NOTEBOOKS = sorted((pathlib.Path(__file__).parents[2] / "examples" / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_train_digits.ipynb", "02_data_conversion.ipynb", "03_export_and_deploy.ipynb",
            "04_track_and_compare.ipynb", "05_agent.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    # Any failing cell raises CellExecutionError with the cell's traceback.
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
