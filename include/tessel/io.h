#pragma once
// Serialization in the safetensors format (https://github.com/huggingface/safetensors),
// byte-compatible with the reference writer. See docs/serialization.md.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessel/error.h"
#include "tessel/export.h"
#include "tessel/tensor.h"

namespace tessel {

// The operating system refused a file operation (open, read, write). Carries
// errno so that Python can raise the matching OSError subclass.
class TESSEL_API FileError : public Error {
 public:
  FileError(const std::string& what, int error_number) : Error(what), errno_(error_number) {}
  int error_number() const { return errno_; }

 private:
  int errno_;
};

// A loaded file: tensors in the order of the header, and the free-form
// string metadata ("__metadata__").
struct SafetensorsFile {
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;
};

// Writes `tensors` (any dtype but complex128, any device, any strides: their
// contiguous bytes are written) and `metadata`. An empty `metadata` writes no
// "__metadata__" entry. Errors: ValueError (duplicate or reserved name,
// invalid UTF-8), TypeError (complex128), FileError.
TESSEL_API void save_safetensors(const std::string& path, const NamedTensors& tensors,
                                 const std::map<std::string, std::string>& metadata = {});
TESSEL_API std::string serialize_safetensors(const NamedTensors& tensors,
                                             const std::map<std::string, std::string>& metadata = {});

// Reads a file (once, into one buffer) and returns CPU tensors. Tensors from
// one file share that buffer when their data is aligned for their dtype and
// are copied otherwise. Malformed input raises ValueError naming the file; a
// dtype that safetensors knows and tessel lacks (U16, F8_E4M3, ...) raises
// TypeError; the operating system's refusals raise FileError.
TESSEL_API NamedTensors load_safetensors(const std::string& path);
TESSEL_API SafetensorsFile read_safetensors(const std::string& path);
// The same from bytes in memory (copied once; `data` may be freed afterwards).
TESSEL_API SafetensorsFile deserialize_safetensors(const void* data, size_t size);

}  // namespace tessel
