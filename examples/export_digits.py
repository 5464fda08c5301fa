"""Writes scikit-learn's digits, split as examples/train_digits.py splits them,
to a safetensors file for the C++ example (examples/cpp/train_digits.cpp)."""
import sys

import tessel as ts

sys.path.insert(0, __import__("os").path.dirname(__file__))
from train_digits import load_data  # noqa: E402

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "digits.safetensors"
    x_train, x_test, y_train, y_test = load_data()
    ts.save({"x_train": ts.tensor(x_train), "y_train": ts.tensor(y_train),
             "x_test": ts.tensor(x_test), "y_test": ts.tensor(y_test)}, out)
    print(f"wrote {out}: {len(x_train)} train / {len(x_test)} test images")
