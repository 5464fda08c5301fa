"""scikit-learn estimators and metrics, and SciPy's array-API-aware functions, on tessel tensors.

With sklearn.set_config(array_api_dispatch=True) scikit-learn computes with the input's own namespace
(x.__array_namespace__() is the tessel module); the results must equal NumPy float64's. The cases run
in one subprocess (sklearn_array_api_cases.py) because SciPy reads SCIPY_ARRAY_API=1 at import.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

HERE = Path(__file__).resolve().parent

CASES = [
    "standard_scaler", "minmax_scaler", "maxabs_scaler", "normalizer", "pca_full", "pca_covariance_eigh",
    "lda_predict_proba", "ridge_svd", "accuracy_score", "r2_score", "mean_squared_error",
    "scipy_special_logsumexp", "scipy_special_erf", "scipy_stats_zscore", "scipy_stats_moment",
]

# Cases that cannot run on tessel tensors, with the exact missing piece (none of them is in tessel).
UNSUPPORTED = {
    # KMeans has no array API support in scikit-learn 1.9.1: check_array gets NumPy dtypes
    # ([np.float64, np.float32]) and calls xp.isdtype on them, which is not a tessel dtype.
    "kmeans": "TypeError: [isdtype] expected a tessel dtype",
}


@pytest.fixture(scope="module")
def results():
    import tessel
    env = dict(os.environ, SCIPY_ARRAY_API="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(tessel.__file__))),
                                           os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(HERE / "sklearn_array_api_cases.py"), *CASES, *UNSUPPORTED],
                          env=env, capture_output=True, text=True, timeout=600)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            out[rec["case"]] = rec
    assert out, f"the worker printed nothing (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    return out


@pytest.mark.parametrize("case", CASES)
def test_case_matches_numpy(results, case):
    rec = results[case]
    assert rec["error"] is None, rec["error"]
    assert rec["ok"], f"{case}: max abs difference from NumPy float64 {rec['err']}"


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_case_fails_for_the_listed_reason(results, case):
    # When scikit-learn gains support this fails: move the case to CASES then.
    rec = results[case]
    assert rec["error"] is not None and rec["error"].startswith(UNSUPPORTED[case]), rec
