// safetensors: 8-byte little-endian header length N, N bytes of JSON header
// (padded with spaces to a multiple of 8), then the tensors' bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <numeric>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "src/io/json.h"
#include "tessel/autograd.h"
#include "tessel/io.h"

namespace tessel {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian data; a big-endian host would need byte swaps");

namespace {

using Metadata = std::map<std::string, std::string>;

// The reference's limit on the header, so that a corrupt length cannot ask for gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// `rank` is the dtype's position in the reference implementation's Dtype
// enum: its writer orders tensors by rank, largest first, then by name.
struct Code {
  DType dtype;
  const char* name;
  int rank;
};
constexpr Code kCodes[] = {
    {DType::Bool, "BOOL", 0},    {DType::UInt8, "U8", 4},     {DType::Int8, "I8", 5},
    {DType::Int16, "I16", 11},   {DType::Float16, "F16", 13}, {DType::BFloat16, "BF16", 14},
    {DType::Int32, "I32", 15},   {DType::Float32, "F32", 17}, {DType::Complex64, "C64", 18},
    {DType::Float64, "F64", 19}, {DType::Int64, "I64", 20},   {DType::UInt16, "U16", 12},
    {DType::UInt32, "U32", 16},  {DType::UInt64, "U64", 21},
    // The float8 codes as safetensors' PyTorch side maps them (F8_E4M3 is e4m3fn).
    {DType::Float8E5M2, "F8_E5M2", 6}, {DType::Float8E4M3FN, "F8_E4M3", 7}, {DType::Float8E8M0FNU, "F8_E8M0", 8},
};
// Codes of the format that tessel has no dtype for: a TypeError, not a corrupt file.
constexpr std::string_view kForeignCodes[] = {"F4", "F6_E2M3", "F6_E3M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"};

const Code* code_of(DType d) {
  for (const Code& c : kCodes)
    if (c.dtype == d) return &c;
  return nullptr;  // complex128
}

[[noreturn]] void file_error(const char* op, const char* action, const std::string& path, int err) {
  const char* scope = op_scope();
  throw FileError(detail::cat("[", scope ? scope : op, "] cannot ", action, " '", path,
                              "': ", std::generic_category().message(err)),
                  err);
}

// ---- writing ----

struct Entry {
  const std::string* name;
  const Tensor* tensor;
  const Code* code;
  uint64_t nbytes;
};

// Validates the input and lays it out as the reference writer does: the
// header, then the entries in the order of their data.
struct Layout {
  std::string header;  // JSON padded with spaces to a multiple of 8
  std::vector<Entry> entries;
  uint64_t data_bytes = 0;
};

void append_uint(std::string& out, uint64_t v) { out += std::to_string(v); }

Layout plan(const char* op, const NamedTensors& tensors, const Metadata& metadata) {
  Layout l;
  l.entries.reserve(tensors.size());
  std::unordered_set<std::string_view> seen;
  for (const auto& [name, t] : tensors) {
    TS_CHECK(t.defined(), ValueError, op, "tensor '", name, "' is undefined");
    TS_CHECK(name != "__metadata__", ValueError, op, "'__metadata__' is reserved for the metadata; rename the tensor");
    TS_CHECK(io::is_valid_utf8(name), ValueError, op, "tensor name '", name, "' is not valid UTF-8");
    TS_CHECK(seen.insert(name).second, ValueError, op, "duplicate tensor name '", name, "'");
    const Code* code = code_of(t.dtype());
    TS_CHECK(code, TypeError, op, "tensor '", name, "' is ", t.dtype(),
             ", which safetensors cannot store (it has complex64 but not complex128, and of the small types only "
             "float8_e4m3fn, float8_e5m2 and float8_e8m0fnu); convert it first");
    l.entries.push_back({&name, &t, code, t.nbytes()});
  }
  for (const auto& [k, v] : metadata) {
    TS_CHECK(io::is_valid_utf8(k) && io::is_valid_utf8(v), ValueError, op, "metadata entry '", k,
             "' is not valid UTF-8");
  }
  std::sort(l.entries.begin(), l.entries.end(), [](const Entry& a, const Entry& b) {
    if (a.code->rank != b.code->rank) return a.code->rank > b.code->rank;
    return *a.name < *b.name;  // char_traits<char> compares as unsigned: byte order, as Rust's
  });

  std::string& h = l.header;
  h += '{';
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      io::append_json_string(h, k);
      h += ':';
      io::append_json_string(h, v);
    }
    h += '}';
    if (!l.entries.empty()) h += ',';
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < l.entries.size(); ++i) {
    const Entry& e = l.entries[i];
    if (i) h += ',';
    io::append_json_string(h, *e.name);
    h += ":{\"dtype\":\"";
    h += e.code->name;
    h += "\",\"shape\":[";
    const Shape& shape = e.tensor->shape();
    for (size_t d = 0; d < shape.size(); ++d) {
      if (d) h += ',';
      append_uint(h, static_cast<uint64_t>(shape[d]));
    }
    h += "],\"data_offsets\":[";
    append_uint(h, offset);
    h += ',';
    offset += e.nbytes;
    append_uint(h, offset);
    h += "]}";
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  l.data_bytes = offset;
  return l;
}

std::string length_prefix(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// Calls sink(data, nbytes) for the length, the header and each tensor's
// contiguous host bytes, one tensor in memory at a time.
template <class Sink>
void emit(const Layout& l, Sink&& sink) {
  autograd::NoGradGuard no_grad;  // the copies below are data, not part of any graph
  const std::string prefix = length_prefix(l.header.size());
  sink(prefix.data(), prefix.size());
  sink(l.header.data(), l.header.size());
  for (const Entry& e : l.entries) {
    if (e.nbytes == 0) continue;
    Tensor t = *e.tensor;
    if (t.device().type != DeviceType::CPU) t = t.cpu();
    t = t.contiguous();
    sink(t.data_ptr(), static_cast<size_t>(e.nbytes));
  }
}

// ---- reading ----

struct Buffer {
  Storage storage;  // 64-byte aligned, so tensors can be views when their offset suits their dtype
  size_t size = 0;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads up to `n` bytes; fewer only at end of file.
size_t read_fully(int fd, char* dst, size_t n, const std::string& path) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, dst + got, std::min<size_t>(n - got, size_t{1} << 30));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) file_error("load_safetensors", "read", path, errno);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Buffer read_file(const std::string& path) {
  const Device cpu(DeviceType::CPU);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) file_error("load_safetensors", "open", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) file_error("load_safetensors", "stat", path, errno);
  if (S_ISDIR(st.st_mode)) file_error("load_safetensors", "read", path, EISDIR);
  Buffer b;
  if (S_ISREG(st.st_mode)) {
    b.storage = allocate(static_cast<size_t>(st.st_size), cpu);
    b.size = read_fully(fd.get(), static_cast<char*>(b.storage->data()), static_cast<size_t>(st.st_size), path);
    return b;
  }
  // A pipe or device: its size is known only at the end.
  std::string all;
  std::vector<char> chunk(size_t{1} << 20);
  while (size_t got = read_fully(fd.get(), chunk.data(), chunk.size(), path)) {
    all.append(chunk.data(), got);
    if (got < chunk.size()) break;
  }
  b.storage = allocate(all.size(), cpu);
  if (!all.empty()) std::memcpy(b.storage->data(), all.data(), all.size());
  b.size = all.size();
  return b;
}

struct Info {
  const std::string* name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// Parses and checks everything before any tensor is made. `where` names the
// file in messages ("'model.safetensors': ") or is empty for bytes in memory.
class Reader {
 public:
  Reader(const char* op, std::string where) : op_(op), where_(std::move(where)) {}

  SafetensorsFile read(const Buffer& buf) {
    const auto* bytes = static_cast<const unsigned char*>(buf.storage->data());
    check(buf.size >= 8, buf.size, " bytes is too short for a safetensors file (the 8-byte header length is missing)");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
    check(n <= kMaxHeaderBytes, "header length ", n, " exceeds the limit of ", kMaxHeaderBytes, " bytes");
    check(n <= buf.size - 8, "header length ", n, " is larger than the ", buf.size - 8, " bytes after it");
    const std::string_view text(reinterpret_cast<const char*>(bytes) + 8, n);
    check(io::is_valid_utf8(text), "the header is not valid UTF-8");
    io::JsonValue root;
    std::string err;
    check(io::parse_json(text, root, err), "invalid JSON in the header: ", err);
    check(root.kind == io::JsonValue::Kind::Object, "the header is not a JSON object");

    SafetensorsFile out;
    std::vector<Info> infos;
    std::unordered_set<std::string_view> seen;
    bool have_metadata = false;
    for (const auto& [key, value] : root.members) {
      if (key == "__metadata__") {
        check(!have_metadata, "duplicate \"__metadata__\" entry");
        have_metadata = true;
        read_metadata(value, out.metadata);
      } else {
        check(seen.insert(key).second, "duplicate tensor name '", key, "'");
        infos.push_back(read_info(key, value));
      }
    }
    check_coverage(infos, buf.size - 8 - n);

    out.tensors.reserve(infos.size());
    for (const Info& info : infos) out.tensors.emplace_back(*info.name, make(buf, 8 + n + info.begin, info));
    return out;
  }

 private:
  template <class... Args>
  void check(bool ok, const Args&... args) const {
    if (!ok) fail<ValueError>(op_, where_, args...);
  }

  void read_metadata(const io::JsonValue& v, std::map<std::string, std::string>& out) const {
    if (v.kind == io::JsonValue::Kind::Null) return;  // the reference writes none, but reads null
    check(v.kind == io::JsonValue::Kind::Object, "\"__metadata__\" must be an object of strings");
    for (const auto& [k, s] : v.members) {
      check(s.kind == io::JsonValue::Kind::String, "metadata value of '", k, "' is not a string");
      check(out.emplace(k, s.text).second, "duplicate metadata key '", k, "'");
    }
  }

  Info read_info(const std::string& name, const io::JsonValue& v) const {
    using Kind = io::JsonValue::Kind;
    check(v.kind == Kind::Object, "tensor '", name, "': expected an object with dtype, shape and data_offsets");
    const io::JsonValue *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
    for (const auto& [k, field] : v.members) {
      const io::JsonValue** slot = k == "dtype"          ? &dtype
                                   : k == "shape"        ? &shape
                                   : k == "data_offsets" ? &offsets
                                                         : nullptr;
      if (!slot) continue;  // other fields are ignored, as the reference does
      check(*slot == nullptr, "tensor '", name, "': duplicate field '", k, "'");
      *slot = &field;
    }
    check(dtype && shape && offsets, "tensor '", name, "': missing field '",
          !dtype   ? "dtype"
          : !shape ? "shape"
                   : "data_offsets",
          "'");

    Info info{&name, DType::Float32, {}, 0, 0};
    check(dtype->kind == Kind::String, "tensor '", name, "': dtype must be a string");
    info.dtype = parse_dtype(name, dtype->text);

    check(shape->kind == Kind::Array, "tensor '", name, "': shape must be a list of non-negative integers");
    // Sizes must fit int64, and so must the product of the non-zero ones (strides are made of them).
    uint64_t product = 1;
    bool empty = false, overflow = false;
    for (const io::JsonValue& d : shape->items) {
      const auto size = d.as_uint64();
      check(size.has_value(), "tensor '", name, "': shape must be a list of non-negative integers");
      check(*size <= INT64_MAX, "tensor '", name, "': size ", *size, " overflows int64");
      info.shape.push_back(static_cast<int64_t>(*size));
      if (*size == 0) {
        empty = true;
      } else {
        overflow |= __builtin_mul_overflow(product, *size, &product) || product > INT64_MAX;
      }
    }
    check(!overflow, "tensor '", name, "': the number of elements of shape ", info.shape, " overflows int64");
    const uint64_t numel = empty ? 0 : product;
    const uint64_t item = itemsize(info.dtype);
    check(numel <= INT64_MAX / item, "tensor '", name, "': shape ", info.shape, " is too large");

    check(offsets->kind == Kind::Array && offsets->items.size() == 2 && offsets->items[0].as_uint64() &&
              offsets->items[1].as_uint64(),
          "tensor '", name, "': data_offsets must be two non-negative integers [begin, end]");
    info.begin = *offsets->items[0].as_uint64();
    info.end = *offsets->items[1].as_uint64();
    check(info.begin <= info.end, "tensor '", name, "': data_offsets [", info.begin, ", ", info.end,
          "] end before they begin");
    check(info.end - info.begin == numel * item, "tensor '", name, "': data_offsets [", info.begin, ", ", info.end,
          "] hold ", info.end - info.begin, " bytes, but ", code_of(info.dtype)->name, " of shape ", info.shape,
          " needs ", numel * item);
    return info;
  }

  DType parse_dtype(const std::string& name, const std::string& text) const {
    for (const Code& c : kCodes)
      if (text == c.name) return c.dtype;
    for (std::string_view foreign : kForeignCodes) {
      if (text == foreign) {
        fail<TypeError>(op_, where_, "tensor '", name, "' has dtype ", text, ", which tessel does not support");
      }
    }
    check(false, "tensor '", name, "': unknown dtype '", text, "'");
    return DType::Float32;
  }

  // As the reference: the tensors, ordered by offsets, tile the data section
  // exactly, with no gap, overlap or trailing bytes.
  void check_coverage(const std::vector<Info>& infos, uint64_t data_bytes) const {
    std::vector<size_t> order(infos.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::pair(infos[a].begin, infos[a].end) < std::pair(infos[b].begin, infos[b].end);
    });
    uint64_t expected = 0;
    for (size_t i : order) {
      const Info& info = infos[i];
      check(info.begin == expected, "tensor '", *info.name, "': data_offsets [", info.begin, ", ", info.end, "] ",
            info.begin < expected ? "overlap another tensor" : "leave a gap after the previous tensor",
            " (expected it to begin at ", expected, ")");
      expected = info.end;
    }
    check(expected == data_bytes, "the tensors' data_offsets cover ", expected, " bytes, but ", data_bytes,
          " bytes follow the header");
  }

  // A view of the file buffer when the data is aligned for its dtype, else a copy.
  static Tensor make(const Buffer& buf, uint64_t at, const Info& info) {
    const Device cpu(DeviceType::CPU);
    const size_t nbytes = info.end - info.begin;
    char* src = static_cast<char*>(buf.storage->data()) + at;
    Storage st;
    if (nbytes == 0) {
      st = allocate(0, cpu);
    } else if (at % itemsize(info.dtype) == 0) {
      auto owner = std::make_unique<Storage>(buf.storage);
      st = std::make_shared<StorageImpl>(
          src, nbytes, cpu, [](void* ctx, void*) { delete static_cast<Storage*>(ctx); }, owner.get());
      owner.release();
    } else {
      st = allocate(nbytes, cpu);
      std::memcpy(st->data(), src, nbytes);
    }
    return make_tensor(std::move(st), info.shape, contiguous_strides(info.shape), 0, info.dtype);
  }

  const char* op_;
  std::string where_;
};

std::string quoted(const std::string& path) { return "'" + path + "': "; }

}  // namespace

std::string serialize_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  const Layout l = plan("serialize_safetensors", tensors, metadata);
  std::string out;
  out.reserve(8 + l.header.size() + l.data_bytes);
  emit(l, [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); });
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  constexpr const char* op = "save_safetensors";
  const Layout l = plan(op, tensors, metadata);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
  if (fd.get() < 0) file_error(op, "open", path, errno);
  struct stat st {};
  const bool regular = ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode);
  // A failed write leaves no truncated file behind to be mistaken for a good
  // one (only regular files are removed: never /dev/null or a pipe).
  auto remove_partial = [&] {
    ::close(fd.release());
    if (regular) ::unlink(path.c_str());
  };
  try {
    emit(l, [&](const void* p, size_t n) {
      const char* src = static_cast<const char*>(p);
      while (n > 0) {
        const ssize_t w = ::write(fd.get(), src, std::min<size_t>(n, size_t{1} << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) file_error(op, "write", path, errno);
        src += w;
        n -= static_cast<size_t>(w);
      }
    });
  } catch (...) {  // a write or a device copy failed midway
    remove_partial();
    throw;
  }
  if (::close(fd.release()) != 0) {
    const int err = errno;
    if (regular) ::unlink(path.c_str());
    file_error(op, "write", path, err);
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  return Reader("load_safetensors", quoted(path)).read(read_file(path));
}

NamedTensors load_safetensors(const std::string& path) { return read_safetensors(path).tensors; }

SafetensorsFile deserialize_safetensors(const void* data, size_t size) {
  TS_CHECK(data != nullptr || size == 0, ValueError, "deserialize_safetensors", "got a null pointer");
  Buffer b{allocate(size, Device(DeviceType::CPU)), size};
  if (size) std::memcpy(b.storage->data(), data, size);
  return Reader("deserialize_safetensors", "").read(b);
}

}  // namespace tessel
