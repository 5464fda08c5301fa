#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessel/export.h"

namespace tessel {

// Every error carries the op name first: "[matmul] shapes [2, 3] and [4, 5] ...".
// Python maps the subclasses to the exception a Python user expects.
class TESSEL_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class TESSEL_API ValueError : public Error {
 public:
  using Error::Error;
};
class TESSEL_API TypeError : public Error {
 public:
  using Error::Error;
};
class TESSEL_API IndexError : public Error {
 public:
  using Error::Error;
};
class TESSEL_API NotImplementedError : public Error {
 public:
  using Error::Error;
};

// Shapes print as [2, 3] in messages (declared here so that cat() finds it).
TESSEL_API std::ostream& operator<<(std::ostream& os, const std::vector<int64_t>& s);

namespace detail {
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// The name of the outermost composite op running on this thread, or null.
TESSEL_API const char* op_scope();
TESSEL_API void set_op_scope(const char* name);

// A composite op (linear, einsum, var, ...) reports the errors of the ops it
// calls under its own name: "[linear] shapes ... cannot be multiplied".
class OpScope {
 public:
  explicit OpScope(const char* name) : owner_(op_scope() == nullptr) {
    if (owner_) set_op_scope(name);
  }
  ~OpScope() {
    if (owner_) set_op_scope(nullptr);
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  bool owner_;
};

// fail<ValueError>("add", "shapes ", a, " and ", b) throws "[add] shapes ... and ...".
template <class E = Error, class... Args>
[[noreturn]] void fail(const char* op, const Args&... args) {
  const char* scope = op_scope();
  throw E(detail::cat("[", scope ? scope : op, "] ", args...));
}

}  // namespace tessel

// Checks user-reachable conditions; never compiled out.
#define TS_CHECK(cond, Kind, op, ...)            \
  do {                                           \
    if (!(cond)) ::tessel::fail<::tessel::Kind>(op, __VA_ARGS__); \
  } while (0)
