"""Data sources of `tessel train` (data.kind): image and audio class folders,
text CSV/JSONL, tabular CSV, NumPy/safetensors arrays and scikit-learn's
bundled datasets."""

# scikit-learn's bundled (offline) datasets: name -> (loader function, task).
SKLEARN_DATASETS = {
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
    "linnerud": ("load_linnerud", "regression"),
}
