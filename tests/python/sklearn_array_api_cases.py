"""Worker for test_sklearn_array_api.py: runs each scikit-learn / SciPy case on tessel tensors with
array_api_dispatch and on NumPy float64, and prints one JSON line per case:
{"case": name, "ok": bool, "err": max abs difference or null, "error": message or null}.

Runs in its own process because SciPy reads SCIPY_ARRAY_API=1 once, at import.
"""
import json
import os
import sys
import traceback

assert os.environ.get("SCIPY_ARRAY_API") == "1", "run with SCIPY_ARRAY_API=1"

import numpy as np  # noqa: E402
import sklearn  # noqa: E402

import tessel as ts  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 5)) @ rng.normal(size=(5, 5))
X_cls = np.concatenate([rng.normal(size=(30, 4)), rng.normal(loc=1.5, size=(30, 4))])
y_cls = np.repeat([0, 1], 30)
y_reg = X @ rng.normal(size=5) + 0.1 * rng.normal(size=60)
W = rng.normal(size=(20, 3))  # no Xt: each case converts what it uses


def _np(a):
    return np.asarray(a.numpy() if isinstance(a, ts.Tensor) else a, dtype=np.float64)


def _fit_transform(est_factory, X):
    with sklearn.config_context(array_api_dispatch=True):
        got = est_factory().fit_transform(ts.asarray(X))
    assert isinstance(got, ts.Tensor), f"returned {type(got).__name__}, not a tessel Tensor"
    return _np(got), est_factory().fit_transform(X)


def _pca_sign(a):
    # components are defined up to sign: make each column's largest entry positive
    idx = np.abs(a).argmax(axis=0)
    return a * np.sign(a[idx, range(a.shape[1])])


def case_standard_scaler():
    from sklearn.preprocessing import StandardScaler
    return _fit_transform(StandardScaler, X)


def case_minmax_scaler():
    from sklearn.preprocessing import MinMaxScaler
    return _fit_transform(MinMaxScaler, X)


def case_maxabs_scaler():
    from sklearn.preprocessing import MaxAbsScaler
    return _fit_transform(MaxAbsScaler, X)


def case_normalizer():
    from sklearn.preprocessing import Normalizer
    return _fit_transform(Normalizer, X)


def case_pca_full():
    from sklearn.decomposition import PCA
    got, want = _fit_transform(lambda: PCA(n_components=3, svd_solver="full"), X)
    return _pca_sign(got), _pca_sign(want)


def case_pca_covariance_eigh():
    from sklearn.decomposition import PCA
    got, want = _fit_transform(lambda: PCA(n_components=3, svd_solver="covariance_eigh"), X)
    return _pca_sign(got), _pca_sign(want)


def case_lda_predict_proba():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
    with sklearn.config_context(array_api_dispatch=True):
        got = LDA().fit(ts.asarray(X_cls), ts.asarray(y_cls)).predict_proba(ts.asarray(X_cls))
    return _np(got), LDA().fit(X_cls, y_cls).predict_proba(X_cls)


def case_ridge_svd():
    from sklearn.linear_model import Ridge
    with sklearn.config_context(array_api_dispatch=True):
        got = Ridge(alpha=0.5, solver="svd").fit(ts.asarray(X), ts.asarray(y_reg)).predict(ts.asarray(X))
    return _np(got), Ridge(alpha=0.5, solver="svd").fit(X, y_reg).predict(X)


def case_kmeans():
    from sklearn.cluster import KMeans
    init = X_cls[[0, 45]]
    with sklearn.config_context(array_api_dispatch=True):
        got = KMeans(2, init=ts.asarray(init), n_init=1).fit(ts.asarray(X_cls)).cluster_centers_
    return _np(got), KMeans(2, init=init, n_init=1).fit(X_cls).cluster_centers_


def case_accuracy_score():
    from sklearn.metrics import accuracy_score
    y_pred = np.roll(y_cls, 3)
    with sklearn.config_context(array_api_dispatch=True):
        got = accuracy_score(ts.asarray(y_cls), ts.asarray(y_pred))
    return np.float64(got), accuracy_score(y_cls, y_pred)


def case_r2_score():
    from sklearn.metrics import r2_score
    pred = y_reg + rng.normal(size=60)
    with sklearn.config_context(array_api_dispatch=True):
        got = r2_score(ts.asarray(y_reg), ts.asarray(pred))
    return np.float64(got), r2_score(y_reg, pred)


def case_mean_squared_error():
    from sklearn.metrics import mean_squared_error
    pred = y_reg + 0.5
    with sklearn.config_context(array_api_dispatch=True):
        got = mean_squared_error(ts.asarray(y_reg), ts.asarray(pred))
    return np.float64(got), mean_squared_error(y_reg, pred)


def case_scipy_special_logsumexp():
    from scipy.special import logsumexp
    got = logsumexp(ts.asarray(W), axis=1)
    assert isinstance(got, ts.Tensor), f"returned {type(got).__name__}"
    return _np(got), logsumexp(W, axis=1)


def case_scipy_special_erf():
    from scipy.special import erf
    got = erf(ts.asarray(W))
    assert isinstance(got, ts.Tensor), f"returned {type(got).__name__}"
    return _np(got), erf(W)


def case_scipy_stats_zscore():
    from scipy.stats import zscore
    got = zscore(ts.asarray(W), axis=0)
    assert isinstance(got, ts.Tensor), f"returned {type(got).__name__}"
    return _np(got), zscore(W, axis=0)


def case_scipy_stats_moment():
    from scipy.stats import moment
    got = moment(ts.asarray(W), order=3, axis=0)
    assert isinstance(got, ts.Tensor), f"returned {type(got).__name__}"
    return _np(got), moment(W, order=3, axis=0)


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


def main(names):
    for name in names or CASES:
        rec = {"case": name, "ok": False, "err": None, "error": None}
        try:
            got, want = CASES[name]()
            rec["err"] = float(np.max(np.abs(np.asarray(got) - np.asarray(want)))) if np.size(want) else 0.0
            rec["ok"] = bool(np.allclose(got, want, rtol=1e-7, atol=1e-9))
        except Exception as exc:  # the test reports it by case
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            rec["error"] = f"{type(exc).__name__}: {exc} (at {os.path.basename(tb.filename)}:{tb.lineno})"
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
