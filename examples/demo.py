"""The Python half of `make demo`: tensors, broadcasting, matmul and reductions."""
import tessel as ts

ts.manual_seed(0)
x = ts.arange(6, dtype=ts.float32).reshape(2, 3)
row = ts.tensor([10.0, 20.0, 30.0])
print("x =", x, sep="\n")
print("x + row (broadcast) =", x + row, sep="\n")
w = ts.randn(3, 2)
print("x @ w =", x @ w, sep="\n")
print("sum over dim 1 =", x.sum(dim=1))
print("max over dim 0 =", x.max(dim=0))
print("int8 + 1.5 promotes to", (ts.ones(2, dtype=ts.int8) + 1.5).dtype)
print("x[:, 1:] =", x[:, 1:], sep="\n")
print("kernels registered:", len(ts.registry()), "across", len(ts.registry.ops()), "ops")
