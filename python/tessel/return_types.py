"""Named results of ops that return (values, indices), as torch.return_types.

``x.max(dim=1)`` returns ``tessel.return_types.max(values=..., indices=...)``:
a tuple (unpack it as ``v, i = ...``) whose fields also read as ``.values`` and
``.indices``.
"""
from collections import namedtuple

__all__ = ["max", "min", "sort", "topk", "kthvalue", "median", "nanmedian", "mode", "aminmax", "cummax", "cummin", "histogram", "linalg_inv_ex", "linalg_solve_ex",
           "linalg_slogdet", "linalg_cholesky_ex", "linalg_lu_factor", "linalg_lu_factor_ex", "linalg_lu", "linalg_qr",
           "linalg_eigh", "linalg_eig", "linalg_svd", "linalg_lstsq", "linalg_ldl_factor", "linalg_ldl_factor_ex",
           "slogdet", "qr", "svd", "triangular_solve", "lu_unpack"]


def _make(name, fields=("values", "indices")):
    base = namedtuple(name, fields, module=__name__)

    def __repr__(self):
        body = ",\n".join(f"{f}={getattr(self, f)!r}" for f in fields)
        return f"tessel.return_types.{name}(\n{body})"

    return type(name, (base,), {"__slots__": (), "__repr__": __repr__, "__module__": __name__,
                                "__qualname__": name})


max = _make("max")  # noqa: A001  (the op's name, as in torch.return_types)
min = _make("min")  # noqa: A001
sort = _make("sort")
topk = _make("topk")
kthvalue = _make("kthvalue")
median = _make("median")
nanmedian = _make("nanmedian")
mode = _make("mode")
aminmax = _make("aminmax", ("min", "max"))
cummax = _make("cummax")
cummin = _make("cummin")
histogram = _make("histogram", ("hist", "bin_edges"))

# ts.linalg's named results (torch.return_types.linalg_*)
linalg_inv_ex = _make("linalg_inv_ex", ("inverse", "info"))
linalg_solve_ex = _make("linalg_solve_ex", ("result", "info"))
linalg_slogdet = _make("linalg_slogdet", ("sign", "logabsdet"))
linalg_cholesky_ex = _make("linalg_cholesky_ex", ("L", "info"))
linalg_lu_factor = _make("linalg_lu_factor", ("LU", "pivots"))
linalg_lu_factor_ex = _make("linalg_lu_factor_ex", ("LU", "pivots", "info"))
linalg_lu = _make("linalg_lu", ("P", "L", "U"))
linalg_qr = _make("linalg_qr", ("Q", "R"))
linalg_eigh = _make("linalg_eigh", ("eigenvalues", "eigenvectors"))
linalg_eig = _make("linalg_eig", ("eigenvalues", "eigenvectors"))
linalg_svd = _make("linalg_svd", ("U", "S", "Vh"))
linalg_lstsq = _make("linalg_lstsq", ("solution", "residuals", "rank", "singular_values"))
linalg_ldl_factor = _make("linalg_ldl_factor", ("LD", "pivots"))
linalg_ldl_factor_ex = _make("linalg_ldl_factor_ex", ("LD", "pivots", "info"))

# PyTorch's older top-level names (ts.slogdet, ts.qr, ts.svd, ...: _linalg_aliases.py)
slogdet = _make("slogdet", ("sign", "logabsdet"))
qr = _make("qr", ("Q", "R"))
svd = _make("svd", ("U", "S", "V"))
triangular_solve = _make("triangular_solve", ("solution", "cloned_coefficient"))
lu_unpack = _make("lu_unpack", ("P", "L", "U"))
