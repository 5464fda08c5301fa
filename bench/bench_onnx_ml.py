"""scikit-learn models through ONNX-ML: tessel vs onnxruntime, side by side.

Each model is trained here, converted by skl2onnx (zipmap off), checked against
onnxruntime, then timed interleaved with it in this process: median time per
batch at batch 1 and 10,000 rows, 1 and 2 threads (tessel's OpenMP threads
through ts.set_num_threads, onnxruntime's intra_op_num_threads). Ratio = tessel /
onnxruntime time (below 1: tessel faster).

    .venv/bin/python bench/bench_onnx_ml.py [--threads 1,2] [--quick]
"""
import numpy as np

import common


def models(quick):
    from sklearn import ensemble, linear_model, pipeline, preprocessing, svm

    n = 20 if quick else 100
    return {
        "random_forest (100 trees, depth 10)": (ensemble.RandomForestClassifier(n, max_depth=10, random_state=0), "cls"),
        "gradient_boosting (100 trees, depth 3)": (ensemble.GradientBoostingClassifier(n_estimators=n), "cls"),
        "random_forest_regressor (100, depth 10)": (ensemble.RandomForestRegressor(n, max_depth=10, random_state=0), "reg"),
        "scaler + logistic_regression": (pipeline.make_pipeline(preprocessing.StandardScaler(),
                                                                linear_model.LogisticRegression(max_iter=500)), "cls"),
        "svc rbf (3 classes, 2,000 training rows)": (svm.SVC(), "svc"),
        "svr rbf (2,000 training rows)": (svm.SVR(), "svr"),
    }


def main():
    p = common.base_parser(__doc__.splitlines()[0])
    args = p.parse_args()
    threads = common.parse_threads(args.threads)
    ts = common.import_tessel()
    import onnxruntime as ort
    import skl2onnx
    from sklearn.datasets import make_classification, make_regression

    rep = common.start("bench_onnx_ml.py", __doc__.splitlines()[0], args, np, ts, None)
    print(f"onnxruntime {ort.__version__}, skl2onnx {skl2onnx.__version__}")
    xc, yc = make_classification(20000, 20, n_informative=10, n_classes=3, random_state=0)
    xr, yr = make_regression(20000, 20, random_state=0)
    rows = []
    for name, (model, kind) in models(args.quick).items():
        x, y = (xc, yc) if kind in ("cls", "svc") else (xr, yr)
        x = x.astype(np.float32)
        n_fit = 2000 if kind in ("svc", "svr") else 10000  # kernel SVMs: a fit on 10,000 rows takes minutes
        model.fit(x[:n_fit], y[:n_fit])
        last = model.steps[-1][1] if hasattr(model, "steps") else model
        opts = {id(last): {"zipmap": False}} if kind in ("cls", "svc") else None
        onx = skl2onnx.to_onnx(model, x[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": 3}).SerializeToString()
        for t in threads:
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = t, 1
            ref = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
            ts.set_num_threads(t)
            ours = ts.onnx.InferenceSession(onx)
            for batch in (1, 10000):
                feed = {"X": x[10000:10000 + batch]}
                common.check_close(f"{name} b{batch}", ours.run(None, feed)[-1], ref.run(None, feed)[-1],
                                   rtol=1e-4, atol=1e-5, notes=rep.notes)
                tt, tr = [], []
                for _ in range(2 if args.quick else 5):  # interleaved rounds
                    tt.append(common.measure(lambda: ours.run(None, feed), repeat=3, target_s=0.05).median_ns)
                    tr.append(common.measure(lambda: ref.run(None, feed), repeat=3, target_s=0.05).median_ns)
                mt, mr = float(np.median(tt)), float(np.median(tr))
                rows.append([name, t, batch, common.fmt(mt / 1e3, ".1f"), common.fmt(mr / 1e3, ".1f"),
                             common.fmt_ratio(common.ratio(mt, mr))])
    common.print_table(["model", "threads", "batch", "tessel us", "onnxruntime us", "ratio"], rows,
                       title="time per batch (median of interleaved rounds)")
    rep.finish(args.json)


if __name__ == "__main__":
    main()
