"""Evaluation metrics of `tessel train` / `tessel evaluate` (NumPy, no dependency).

classification: accuracy, macro precision/recall/F1, per-class F1 and the
confusion matrix (rows: true class, columns: predicted); regression: MAE,
RMSE, R^2 in the label's own units.
"""
import numpy as np


def softmax(logits):
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def classification_metrics(logits, y_true, classes):
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    k = len(classes)
    pred = logits.argmax(1)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    tp = np.diag(cm).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        recall = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = cm.sum(1) > 0  # macro averages over the classes that occur (as scikit-learn's labels=present)
    p = softmax(logits)
    loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)))) if len(y) else float("nan")
    return {"accuracy": float((pred == y).mean()) if len(y) else float("nan"),
            "f1_macro": float(f1[present].mean()) if present.any() else 0.0,
            "precision_macro": float(precision[present].mean()) if present.any() else 0.0,
            "recall_macro": float(recall[present].mean()) if present.any() else 0.0,
            "loss": loss, "samples": int(len(y)),
            "per_class_f1": {c: float(v) for c, v in zip(classes, f1)},
            "confusion_matrix": cm.tolist(), "classes": list(classes)}


def regression_metrics(pred, y_true):
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    y = np.asarray(y_true, dtype=np.float64).reshape(-1)
    err = pred - y
    ss_tot = float(((y - y.mean()) ** 2).sum()) if len(y) else 0.0
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err ** 2).mean())),
            "r2": float(1.0 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
            "samples": int(len(y))}


def scalar_metrics(m):
    """The numeric entries (for the registry and the tracking store)."""
    return {k: v for k, v in m.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
