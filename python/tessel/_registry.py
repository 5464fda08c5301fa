"""The kernel registry as Python sees it: coverage listing and ops by name."""
from . import _C


class _Registry:
    """ts.registry: which (op, device, dtype) have kernels.

    ts.registry()                  -> list of (op, device, dtype, source)
    ts.registry.ops()              -> sorted op names
    ts.registry.coverage("add")    -> {device: [dtype, ...]}
    ts.registry.table()            -> Markdown table (ops x devices x dtypes)
    """

    def __call__(self):
        return _C._registry_list()

    def ops(self):
        return sorted({k[0] for k in _C._registry_list()})

    def coverage(self, op):
        out = {}
        for name, dev, dt, _ in _C._registry_list():
            if name == op:
                out.setdefault(dev, []).append(dt)
        return out

    def table(self):
        entries = _C._registry_list()
        devices = sorted({e[1] for e in entries}, key=lambda d: (d != "cpu", d))
        dtypes = list(_C.dtype.__members__.values())
        cov = {}
        for name, dev, dt, _ in entries:
            cov.setdefault((name, dev), set()).add(dt)
        lines = ["| op | device | " + " | ".join(d.name for d in dtypes) + " |",
                 "|---|---|" + "---|" * len(dtypes)]
        for name in sorted({e[0] for e in entries}):
            for dev in devices:
                have = cov.get((name, dev))
                if have:
                    cells = ["x" if d in have else "" for d in dtypes]
                    lines.append(f"| {name} | {dev} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


registry = _Registry()


class _Ops:
    """ts.ops.NAME(*tensors, num_outputs=1): call any registered op by name (plugins' ops)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*inputs, num_outputs=1):
            return _C.call_op(name, list(inputs), num_outputs)

        call.__name__ = name
        return call


ops = _Ops()
