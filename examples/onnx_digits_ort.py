"""The ONNX digits model run by onnxruntime (the reference runtime), on the
same test images as examples/cpp/onnx_digits.cpp. Usage: onnx_digits_ort.py model.onnx digits.safetensors"""
import sys

import numpy as np
import onnxruntime as ort

import tessel as ts

model, data = sys.argv[1], ts.load(sys.argv[2])
x, y = data["x_test"].numpy(), data["y_test"].numpy()
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
(logits,) = sess.run(None, {sess.get_inputs()[0].name: x})
pred = logits.argmax(1)
print(f"onnxruntime {ort.__version__} predictions for 8 test images: [{', '.join(str(p) for p in pred[:8])}]")
print(f"test accuracy: {100 * np.mean(pred == y):.2f}%")
