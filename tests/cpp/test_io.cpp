#include <gtest/gtest.h>
#include <tessel/tessel.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

using namespace tessel;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tessel_io_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A file of the format built by hand: length prefix, header as given, data.
std::string file_of(const std::string& header, const std::string& data = "") {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return s + header + data;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

NamedTensors sample() {
  Tensor x = arange(Scalar(0), Scalar(12), Scalar(1), DType::Float32).reshape({3, 4});
  return {{"weight", x.transpose(0, 1)},  // non-contiguous: written as its contiguous bytes
          {"bias", arange(Scalar(0), Scalar(3), Scalar(1), DType::Int64)},
          {"flag", ones({2}, DType::Bool)},
          {"half", x.to(DType::Float16).select(0, 1)},
          {"bf", x.to(DType::BFloat16)},
          {"scalar", scalar_tensor(Scalar(7), DType::Int16)},
          {"empty", zeros({0, 5}, DType::Float64)},
          {"z", ones({2}, DType::Complex64)}};
}

}  // namespace

TEST(Safetensors, FileRoundTripKeepsValuesAndMetadata) {
  const std::string path = temp_path("round_trip.safetensors");
  const NamedTensors in = sample();
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "é \"quoted\"\n"}};
  save_safetensors(path, in, metadata);
  EXPECT_EQ(read_all(path), serialize_safetensors(in, metadata));
  const SafetensorsFile f = read_safetensors(path);
  ASSERT_EQ(f.tensors.size(), in.size());
  for (const auto& [name, t] : in) {
    const auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [&](const auto& p) { return p.first == name; });
    ASSERT_NE(it, f.tensors.end()) << name;
    EXPECT_TRUE(same_values(it->second, t)) << name;
    EXPECT_TRUE(it->second.is_contiguous());
  }
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("note"), "é \"quoted\"\n");
  EXPECT_EQ(load_safetensors(path).size(), in.size());
  std::filesystem::remove(path);
}

TEST(Safetensors, LayoutMatchesTheReferenceWriter) {
  // Largest dtype rank first (I64 > F32 > I8), then names; header padded to 8 with spaces.
  const NamedTensors in = {
      {"b", zeros({2}, DType::Int8)}, {"a", zeros({1}, DType::Float32)}, {"c", zeros({}, DType::Int64)}};
  const std::string bytes = serialize_safetensors(in);
  const std::string header =
      R"({"c":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
      R"("b":{"dtype":"I8","shape":[2],"data_offsets":[12,14]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  EXPECT_EQ(bytes.substr(8, padded.size()), padded);
  EXPECT_EQ(bytes.size(), 8 + padded.size() + 14);
  EXPECT_EQ(serialize_safetensors({}), file_of("{}      "));
}

TEST(Safetensors, TensorsShareTheFileBufferAndStayIndependent) {
  const std::string bytes = serialize_safetensors({{"a", ones({4})}, {"b", zeros({4})}});
  const SafetensorsFile f = deserialize_safetensors(bytes.data(), bytes.size());
  Tensor a = f.tensors.at(0).second, b = f.tensors.at(1).second;
  EXPECT_EQ(static_cast<char*>(b.data_ptr()) - static_cast<char*>(a.data_ptr()), 16);  // views of one buffer
  a.fill_(Scalar(5));
  EXPECT_EQ(sum(b).item<float>(), 0.0f);
  EXPECT_EQ(sum(a).item<float>(), 20.0f);
}

TEST(Safetensors, UnalignedDataIsCopied) {
  // Trailing spaces (valid JSON) put the F32 data at an odd byte offset, as another writer might.
  std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  while ((8 + header.size()) % 4 != 1) header += ' ';
  const float v[2] = {1.5f, -2.0f};
  const std::string bytes = file_of(header, std::string(reinterpret_cast<const char*>(v), 8));
  const SafetensorsFile f = deserialize_safetensors(bytes.data(), bytes.size());
  const Tensor& x = f.tensors.at(0).second;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data_ptr()) % 4, 0u);
  EXPECT_EQ(x.data<float>()[0], 1.5f);
  EXPECT_EQ(x.data<float>()[1], -2.0f);
}

TEST(Safetensors, HeaderEscapesAreDecoded) {
  const std::string header = R"({"\u00e9\ud83d\ude00\/\n":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}})";
  const std::string bytes = file_of(header, "\x05");
  const SafetensorsFile f = deserialize_safetensors(bytes.data(), bytes.size());
  EXPECT_EQ(f.tensors.at(0).first, "\xc3\xa9\xf0\x9f\x98\x80/\n");
  // And the writer escapes them back as the reference does.
  const std::string out = serialize_safetensors(f.tensors);
  EXPECT_NE(out.find(R"("é😀/\n")"), std::string::npos);
}

TEST(Safetensors, MalformedInputRaisesValueErrorNamingTheFile) {
  const std::string path = temp_path("bad.safetensors");
  const std::string good = serialize_safetensors({{"a", ones({3})}});
  auto message_of = [&](const std::string& bytes) -> std::string {
    write_all(path, bytes);
    try {
      load_safetensors(path);
    } catch (const ValueError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string expect_prefix = "[load_safetensors] '" + path + "': ";
  EXPECT_EQ(message_of("abc").rfind(expect_prefix, 0), 0u) << message_of("abc");
  EXPECT_NE(message_of("abc").find("too short"), std::string::npos);
  EXPECT_NE(message_of(good.substr(0, 20)).find("is larger than"), std::string::npos);
  EXPECT_NE(message_of(good.substr(0, good.size() - 1)).find("cover 12 bytes, but 11"), std::string::npos);
  EXPECT_NE(message_of(good + "x").find("cover 12 bytes, but 13"), std::string::npos);
  const std::string d4(4, '\0');
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"X8","shape":[4],"data_offsets":[0,4]}})", d4)).find("unknown dtype"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[3],"data_offsets":[0,4]}})", d4)).find("needs 3"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[-4],"data_offsets":[0,4]}})", d4)).find("non-negative"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[2],"data_offsets":[0,2]},)"
                               R"("a":{"dtype":"I8","shape":[2],"data_offsets":[2,4]}})",
                               d4))
                .find("duplicate tensor name 'a'"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[3],"data_offsets":[0,3]},)"
                               R"("b":{"dtype":"I8","shape":[2],"data_offsets":[2,4]}})",
                               d4))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[2],"data_offsets":[2,4]}})", d4)).find("gap"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", d4))
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]},})", d4)).find("invalid JSON"),
            std::string::npos);
  EXPECT_NE(message_of(file_of(std::string(200, '[') + std::string(200, ']'))).find("nesting too deep"),
            std::string::npos);
  write_all(path, file_of(R"({"a":{"dtype":"F4","shape":[2],"data_offsets":[0,4]}})", d4));
  EXPECT_THROW(load_safetensors(path), TypeError);
  std::filesystem::remove(path);
}

TEST(Safetensors, WriterRejectsWhatTheFormatCannotHold) {
  EXPECT_THROW(serialize_safetensors({{"z", zeros({2}, DType::Complex128)}}), TypeError);
  EXPECT_THROW(serialize_safetensors({{"a", ones({1})}, {"a", ones({1})}}), ValueError);
  EXPECT_THROW(serialize_safetensors({{"__metadata__", ones({1})}}), ValueError);
  EXPECT_THROW(serialize_safetensors({{"\xff", ones({1})}}), ValueError);
  EXPECT_THROW(serialize_safetensors({{"a", Tensor()}}), ValueError);
}

TEST(Safetensors, OperatingSystemErrorsCarryErrno) {
  try {
    load_safetensors(temp_path("does_not_exist"));
    FAIL() << "expected FileError";
  } catch (const FileError& e) {
    EXPECT_EQ(e.error_number(), ENOENT);
  }
  EXPECT_THROW(load_safetensors(std::filesystem::temp_directory_path().string()), FileError);
  EXPECT_THROW(save_safetensors(temp_path("no_such_dir/x.safetensors"), {}), FileError);
}

// Every truncation and many byte flips of a valid file either load or raise a
// tessel::Error; nothing crashes, hangs or throws anything else.
TEST(Safetensors, CorruptBytesNeverCrash) {
  NamedTensors in = sample();
  const std::string good = serialize_safetensors(in, {{"k", "v"}});
  auto try_load = [](const std::string& bytes) {
    try {
      const SafetensorsFile f = deserialize_safetensors(bytes.data(), bytes.size());
      for (const auto& [name, t] : f.tensors) (void)t.contiguous().nbytes();
    } catch (const Error&) {
    }
  };
  for (size_t n = 0; n <= good.size(); ++n) try_load(good.substr(0, n));
  std::mt19937 rng(1234);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (unsigned mask : {0x01u, 0x80u, 0xffu, static_cast<unsigned>(rng() % 255 + 1)}) {
      std::string bad = good;
      bad[pos] = static_cast<char>(bad[pos] ^ mask);
      try_load(bad);
    }
  }
  for (int i = 0; i < 2000; ++i) {  // a few bytes set to characters that matter to JSON
    std::string bad = good;
    static constexpr char kSpecial[] = "{}[]\":,\\-0123456789eE. \x00\xff";
    for (int k = 0; k < 3; ++k) bad[rng() % bad.size()] = kSpecial[rng() % (sizeof(kSpecial) - 1)];
    try_load(bad);
  }
}
