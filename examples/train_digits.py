"""The main job of `make demo`: train a small CNN on scikit-learn's digits.

1,797 8x8 grayscale digits, stratified 80/20 split with a fixed seed; the
model, optimizer and loop are tessel's Keras-style API. It reaches >= 97% test
accuracy in a few seconds, saves the model to safetensors, reloads it into a
fresh model and predicts a few test images.
"""
import os
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import tessel as ts
from tessel import nn


def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),                                  # 32 x 4 x 4
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


def load_data(seed=0):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # [N, 1, 8, 8] in [0, 1]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)


def main(epochs=20, threads=None, onnx_path=None, device="cpu"):
    if threads:
        ts.set_num_threads(threads)
    ts.manual_seed(0)
    x_train, x_test, y_train, y_test = load_data()
    where = f"{ts.get_num_threads()} threads" if device == "cpu" else device
    print(f"digits: {len(x_train)} train / {len(x_test)} test images of 8x8, {where}")

    model = make_model().to(device)  # fit moves each batch to the model's device
    print(model)
    opt = ts.optim.Adam(model.parameters(), lr=3e-3)
    # Cosine decay of the learning rate over the run settles the last epochs.
    model.compile(optimizer=opt, loss=nn.CrossEntropyLoss(), metrics=["accuracy"],
                  scheduler=ts.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_data=(x_test, y_test), seed=0)
    seconds = time.perf_counter() - start
    print(f"training: {epochs * len(x_train) / seconds:,.0f} samples/s ({seconds:.1f} s for {epochs} epochs)")

    result = model.evaluate(x_test, y_test, batch_size=256)
    print(f"test accuracy: {result['accuracy'] * 100:.2f}%  (loss {result['loss']:.4f})")

    path = os.path.join(tempfile.mkdtemp(), "digits_cnn.safetensors")
    ts.save(model.state_dict(), path)
    restored = make_model()
    restored.load_state_dict(ts.load(path))
    restored.eval()
    with ts.no_grad():
        logits = restored(ts.tensor(x_test[:8]))
        if device != "cpu":  # the reloaded model on the device gives the same answers
            on_device = restored.to(device)(ts.tensor(x_test[:8]).to(device)).cpu()
            assert np.allclose(on_device.numpy(), logits.numpy(), atol=1e-4), "device and CPU logits differ"
            restored.to("cpu")
    pred = logits.argmax(1).tolist()
    print(f"saved to {path} ({os.path.getsize(path):,} bytes), reloaded; predictions for 8 test images:")
    print("  predicted:", pred)
    print("  actual:   ", y_test[:8].tolist())
    if onnx_path:
        # Deployment: the trained model as an ONNX file (dynamic batch) that runs without Python,
        # from C++ (examples/cpp/onnx_digits.cpp) or onnxruntime (examples/onnx_digits_ort.py).
        ts.onnx.export(restored, (ts.tensor(x_test[:1]),), onnx_path, input_names=["image"],
                       output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        print(f"exported {onnx_path} ({os.path.getsize(onnx_path):,} bytes, ONNX opset 18)")
    if result["accuracy"] < 0.97:
        print("FAILED: test accuracy below 97%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # train_digits.py [--onnx model.onnx] [--device cuda]
    args = sys.argv[1:]
    sys.exit(main(onnx_path=args[args.index("--onnx") + 1] if "--onnx" in args else None,
                  device=args[args.index("--device") + 1] if "--device" in args else "cpu"))
