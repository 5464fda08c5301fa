#include "python/src/convert.h"

#include "tessel/trace.h"

#include <pybind11/complex.h>

#include <cstring>
#include <string>
#include <vector>

namespace tessel::python {

bool to_scalar(py::handle o, Scalar& out) {
  PyObject* p = o.ptr();
  if (PyBool_Check(p)) {
    out = Scalar(p == Py_True);
  } else if (PyLong_Check(p)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
    if (overflow > 0) {  // above int64: a uint64 value, or too large for any dtype
      const unsigned long long u = PyLong_AsUnsignedLongLong(p);
      if (PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error("Python int too large to convert to a tessel uint64 scalar");
      }
      out = Scalar(static_cast<uint64_t>(u));
    } else if (overflow < 0) {
      throw py::value_error("Python int too small to convert to a tessel int64 scalar");
    } else {
      out = Scalar(static_cast<int64_t>(v));
    }
  } else if (PyFloat_Check(p)) {
    out = Scalar(PyFloat_AS_DOUBLE(p));
  } else if (PyComplex_Check(p)) {
    out = Scalar(std::complex<double>(PyComplex_RealAsDouble(p), PyComplex_ImagAsDouble(p)));
  } else if (py::hasattr(o, "dtype") && py::hasattr(o, "item") && !py::hasattr(o, "__len__")) {
    // NumPy scalars: np.bool_, np.int32, np.float16, ...
    return to_scalar(o.attr("item")(), out);
  } else {
    return false;
  }
  return true;
}

py::object from_scalar(const Scalar& s) {
  switch (s.kind()) {
    case Scalar::Kind::Bool: return py::bool_(s.to<bool>());
    case Scalar::Kind::Int: return s.is_big_uint() ? py::int_(s.to<uint64_t>()) : py::int_(s.to<int64_t>());
    case Scalar::Kind::Float: return py::float_(s.to<double>());
    case Scalar::Kind::Complex: break;
  }
  return py::cast(s.to<complex128>());
}

namespace {
int64_t to_int(py::handle o, const char* what) {
  if (PyBool_Check(o.ptr()) || !PyIndex_Check(o.ptr())) {
    throw py::type_error(std::string(what) + " must be integers, got " + type_name(o));
  }
  PyObject* idx = PyNumber_Index(o.ptr());
  if (!idx) throw py::error_already_set();
  return py::cast<int64_t>(py::reinterpret_steal<py::object>(idx));
}
}  // namespace

Shape to_shape(py::handle o) {
  if (PyIndex_Check(o.ptr()) && !PyBool_Check(o.ptr())) return {to_int(o, "shape entries")};
  if (!PySequence_Check(o.ptr()) || PyUnicode_Check(o.ptr())) {
    throw py::type_error("a shape must be a tuple or list of ints, got " +
                         type_name(o));
  }
  Shape s;
  for (py::handle x : py::reinterpret_borrow<py::sequence>(o)) s.push_back(to_int(x, "shape entries"));
  return s;
}

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1 && !PyIndex_Check(args[0].ptr())) return to_shape(args[0]);
  Shape s;
  for (py::handle x : args) s.push_back(to_int(x, op));
  return s;
}

std::string type_name(py::handle o) { return py::str(py::type::handle_of(o).attr("__name__")); }

py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = py::int_(s[i]);
  return t;
}

Device to_device(py::handle o) {
  if (o.is_none()) return Device(DeviceType::CPU);
  if (py::isinstance<Device>(o)) return py::cast<Device>(o);
  if (py::isinstance<py::str>(o)) return Device(py::cast<std::string>(o));
  throw py::type_error("device must be a string like 'cpu' or 'cuda:0', or a tessel.device");
}

const Tensor* as_tensor_ptr(py::handle o) {
  if (!py::isinstance<Tensor>(o)) return nullptr;
  return &py::cast<const Tensor&>(o);
}

DType dtype_from_format(std::string fmt, ssize_t itemsz) {
  while (!fmt.empty() && (fmt[0] == '@' || fmt[0] == '=' || fmt[0] == '<')) fmt.erase(0, 1);
  if (fmt == "?") return DType::Bool;
  if (fmt == "B") return DType::UInt8;
  if (fmt == "b") return DType::Int8;
  if (fmt == "e") return DType::Float16;
  if (fmt == "f") return DType::Float32;
  if (fmt == "d") return DType::Float64;
  if (fmt == "Zf") return DType::Complex64;
  if (fmt == "Zd") return DType::Complex128;
  if (fmt == "h" || fmt == "i" || fmt == "l" || fmt == "q") {
    switch (itemsz) {
      case 2: return DType::Int16;
      case 4: return DType::Int32;
      case 8: return DType::Int64;
      default: break;
    }
  }
  if (fmt == "H" || fmt == "I" || fmt == "L" || fmt == "Q") {
    switch (itemsz) {
      case 2: return DType::UInt16;
      case 4: return DType::UInt32;
      case 8: return DType::UInt64;
      default: break;
    }
  }
  throw py::type_error("can't convert a buffer of format '" + fmt +
                       "': supported are bool, (u)int8/16/32/64, float16/32/64, complex64/128");
}

namespace {

// A tensor over a buffer's memory, valid while `buf` lives.
Tensor view_of_buffer(const py::buffer_info& buf) {
  const DType dt = dtype_from_format(buf.format, buf.itemsize);
  Shape sizes(buf.shape.begin(), buf.shape.end()), strides;
  for (ssize_t s : buf.strides) {
    if (s % buf.itemsize != 0) throw py::value_error("buffer strides must be multiples of the item size");
    strides.push_back(s / buf.itemsize);
  }
  auto st = std::make_shared<StorageImpl>(buf.ptr, 0, Device(DeviceType::CPU), nullptr, nullptr);
  return make_tensor(std::move(st), sizes, strides, 0, dt);
}

struct Leaves {
  std::vector<Scalar> values;
  Scalar::Kind kind = Scalar::Kind::Bool;
  bool big = false, negative = false;  // ints above int64 (uint64 values), ints below 0
};

void raise_leaf(py::handle o) {
  throw py::type_error("tessel.tensor: could not convert an element of type '" +
                       type_name(o) + "' to a number");
}

bool is_seq(py::handle o) {
  return (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr()) ||
          (PySequence_Check(o.ptr()) && !PyUnicode_Check(o.ptr()) && !PyBytes_Check(o.ptr()) &&
           !py::isinstance<Tensor>(o)));
}

void collect(py::handle o, size_t depth, Shape& shape, Leaves& out) {
  if (depth == shape.size()) {
    Scalar s;
    if (const Tensor* t = as_tensor_ptr(o)) {
      if (t->numel() != 1) throw py::value_error("only one-element tensors can be converted to Python scalars");
      s = t->item();
    } else if (!to_scalar(o, s)) {
      if (is_seq(o)) throw py::value_error("tessel.tensor: nested sequences have inconsistent depth");
      raise_leaf(o);
    }
    if (static_cast<int>(s.kind()) > static_cast<int>(out.kind)) out.kind = s.kind();
    if (s.is_int()) {
      out.big |= s.is_big_uint();
      out.negative |= !s.is_big_uint() && s.to<int64_t>() < 0;
    }
    out.values.push_back(s);
    return;
  }
  if (!is_seq(o)) throw py::value_error("tessel.tensor: nested sequences have inconsistent depth");
  const auto seq = py::reinterpret_borrow<py::sequence>(o);
  const int64_t n = static_cast<int64_t>(py::len(seq));
  if (n != shape[depth]) {
    throw py::value_error("tessel.tensor: expected a sequence of length " + std::to_string(shape[depth]) +
                          " at dim " + std::to_string(depth) + " (got " + std::to_string(n) + ")");
  }
  for (py::handle x : seq) collect(x, depth + 1, shape, out);
}

DType dtype_of_kind(Scalar::Kind k) {
  switch (k) {
    case Scalar::Kind::Bool: return DType::Bool;
    case Scalar::Kind::Int: return DType::Int64;
    case Scalar::Kind::Float: return default_float_dtype();
    case Scalar::Kind::Complex: break;
  }
  return default_float_dtype() == DType::Float64 ? DType::Complex128 : DType::Complex64;
}

}  // namespace

Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, const Device& device) {
  // A copy without history, as torch.tensor(t) makes.
  if (const Tensor* t = as_tensor_ptr(data)) return t->detach().to(dtype.value_or(t->dtype())).to(device).clone();
  Scalar s;
  if (to_scalar(data, s)) return scalar_tensor(s, TensorOptions(dtype.value_or(s.is_big_uint() ? DType::UInt64 : dtype_of_kind(s.kind())), device));
  if (PyObject_CheckBuffer(data.ptr()) && !PyBytes_Check(data.ptr())) {
    std::optional<py::buffer_info> buf;
    Tensor v;
    try {
      buf = py::reinterpret_borrow<py::buffer>(data).request();
      v = view_of_buffer(*buf);
    } catch (py::error_already_set&) {
      v = from_numpy(data);  // ml_dtypes' arrays (float8, int4, bfloat16) have no buffer format
    }
    // One constant for export: the view does not own the buffer, so a trace must not hold it as copy_'s input.
    trace::Op rec{"constant"};
    Tensor out = empty(v.shape(), TensorOptions(dtype.value_or(v.dtype()), Device(DeviceType::CPU)));
    out.copy_(v);
    if (rec) rec.out(out);
    return out.to(device);
  }
  if (!is_seq(data)) raise_leaf(data);
  Shape shape;
  for (py::handle o = data; is_seq(o);) {
    const auto seq = py::reinterpret_borrow<py::sequence>(o);
    shape.push_back(static_cast<int64_t>(py::len(seq)));
    if (shape.size() > 64) throw py::value_error("tessel.tensor: too many dimensions (over 64; a list that contains itself?)");
    if (shape.back() == 0) break;
    o = seq[0];
    if (const Tensor* t = as_tensor_ptr(o); t && t->dim() > 0) {
      throw py::value_error("tessel.tensor: lists of multi-element tensors are not supported; use tessel.stack");
    }
  }
  Leaves leaves;
  leaves.values.reserve(static_cast<size_t>(shape_numel(shape)));
  collect(data, 0, shape, leaves);
  if (!dtype && leaves.kind == Scalar::Kind::Int && leaves.big && leaves.negative) {
    throw py::value_error("tessel.tensor: the ints fit neither int64 (some are above 2**63 - 1) nor uint64 (some are "
                          "negative); pass a dtype");
  }
  const bool u64 = leaves.kind == Scalar::Kind::Int && leaves.big;
  const DType dt = dtype.value_or(leaves.values.empty() ? default_float_dtype()
                                  : u64                 ? DType::UInt64
                                                        : dtype_of_kind(leaves.kind));
  Tensor out = empty(shape, TensorOptions(dt));
  visit_any_dtype(dt, [&]<class T>(std::type_identity<T>) {
    T* p = static_cast<T*>(out.data_ptr());
    for (size_t i = 0; i < leaves.values.size(); ++i) p[i] = leaves.values[i].to<T>();
  });
  return out.to(device);
}

namespace {
template <class T>
py::object element(const T& v) {
  if constexpr (std::is_same_v<T, bool>) return py::bool_(v);
  else if constexpr (is_small_int_v<T>) return py::int_(static_cast<int>(v));
  else if constexpr (std::is_unsigned_v<T>) return py::int_(static_cast<uint64_t>(v));
  else if constexpr (std::is_integral_v<T>) return py::int_(static_cast<int64_t>(v));
  else if constexpr (is_complex_v<T>) return py::cast(complex128(v.real(), v.imag()));
  else return py::float_(static_cast<double>(v));
}

template <class T>
py::object list_rec(const T* p, const Shape& shape, const Shape& strides, size_t d) {
  if (d == shape.size()) return element(*p);
  py::list l(shape[d]);
  for (int64_t i = 0; i < shape[d]; ++i) l[i] = list_rec(p + i * strides[d], shape, strides, d + 1);
  return l;
}
}  // namespace

py::object to_list(const Tensor& t) {
  const Tensor c = t.cpu().contiguous();
  return visit_any_dtype(c.dtype(), [&]<class T>(std::type_identity<T>) {
    return list_rec(static_cast<const T*>(c.data_ptr()), c.shape(), c.strides(), 0);
  });
}

}  // namespace tessel::python
