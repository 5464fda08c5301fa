// The HTTP side of tessel-serve: JSON parsing limits, the writer, base64, the
// tensor codec (BYTES included), and the server and routes over a loopback socket
// with an in-process backend.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "serve/codec.h"
#include "serve/http.h"
#include "serve/json.h"
#include "serve/protocol.h"
#include "tessel/ops.h"

using namespace tessel;
using namespace tessel::serve;

namespace {

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e.status;
  }
  return 0;
}

std::vector<simdjson::dom::element> leaves_of(const std::string& text) {
  std::vector<simdjson::dom::element> out;
  collect_leaves(json::parse(text), out);
  return out;
}

}  // namespace

TEST(ServeJson, RefusesHostileInput) {
  EXPECT_EQ(status_of([] { json::parse("[NaN]"); }), 400);
  EXPECT_EQ(status_of([] { json::parse("[Infinity]"); }), 400);
  EXPECT_EQ(status_of([] { json::parse("[1e999]"); }), 400);
  EXPECT_EQ(status_of([] { json::parse("\"\xff\""); }), 400);
  EXPECT_EQ(status_of([] { json::parse(""); }), 400);
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    json::parse(deep);
    FAIL() << "nesting bomb accepted";
  } catch (const HttpError& e) {
    EXPECT_NE(std::string(e.what()).find("nesting deeper"), std::string::npos);
  }
  std::string ok = std::string(json::kMaxDepth - 1, '[') + std::string(json::kMaxDepth - 1, ']');
  EXPECT_EQ(status_of([&] { json::parse(ok); }), 0);
}

TEST(ServeJson, WriterEscapesAndFormats) {
  json::Writer w;
  w.begin_object().key("s").value(std::string_view("a\"b\\c\n\x01 \xc3\xa9 \xff")).key("n").value(1.5f);
  w.key("nan").value(std::nan("")).key("i").value(int64_t{-3}).key("b").value(true).key("a").begin_array();
  w.value(1).value(2).end_array().end_object();
  EXPECT_EQ(w.out,
            "{\"s\":\"a\\\"b\\\\c\\n\\u0001 \xc3\xa9 \\ufffd\",\"n\":1.5,\"nan\":null,\"i\":-3,\"b\":true,"
            "\"a\":[1,2]}");
  // Whatever the writer emits, the parser accepts.
  EXPECT_EQ(status_of([&] { json::parse(w.out); }), 0);
}

TEST(ServeJson, Base64) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(json::base64_decode(json::base64_encode(s), "t"), s);
  EXPECT_EQ(json::base64_encode("hello"), "aGVsbG8=");
  EXPECT_EQ(json::base64_decode("aGVsbG8", "t"), "hello");  // padding optional
  EXPECT_EQ(status_of([] { json::base64_decode("a", "t"); }), 400);
  EXPECT_EQ(status_of([] { json::base64_decode("a*bc", "t"); }), 400);
}

TEST(ServeCodec, NumericFromJson) {
  NamedTensor t = tensor_from_leaves("x", "FP32", {2, 2}, leaves_of("[[1, 2.5], [-3, 4e2]]"), false);
  ASSERT_EQ(t.tensor.dtype(), DType::Float32);
  EXPECT_EQ(t.tensor.shape(), (Shape{2, 2}));
  const float* p = t.tensor.data<float>();
  EXPECT_EQ(p[0], 1.0f);
  EXPECT_EQ(p[1], 2.5f);
  EXPECT_EQ(p[3], 400.0f);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "FP32", {3}, leaves_of("[1, 2]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "INT8", {1}, leaves_of("[128]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "UINT16", {1}, leaves_of("[65536]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "INT32", {1}, leaves_of("[1.5]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "BOOL", {1}, leaves_of("[1]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("x", "FP8", {1}, leaves_of("[1]"), false); }), 400);
  // The unsigned types keep their dtype and whole range.
  NamedTensor u = tensor_from_leaves("u", "UINT32", {1}, leaves_of("[4294967295]"), false);
  EXPECT_EQ(u.tensor.dtype(), DType::UInt32);
  EXPECT_EQ(u.tensor.data<uint32_t>()[0], 4294967295u);
  NamedTensor big = tensor_from_leaves("u", "UINT64", {1}, leaves_of("[18446744073709551615]"), false);
  EXPECT_EQ(big.tensor.data<uint64_t>()[0], UINT64_MAX);
  EXPECT_EQ(status_of([] { tensor_from_leaves("u", "UINT64", {1}, leaves_of("[-1]"), false); }), 400);
  EXPECT_EQ(status_of([] { tensor_from_leaves("u", "UINT32", {1}, leaves_of("[4294967296]"), false); }), 400);
}

TEST(ServeCodec, ShapeOverflowRefusedBeforeAllocating) {
  EXPECT_EQ(status_of([] { checked_numel({int64_t{1} << 40, int64_t{1} << 40}, "x"); }), 400);
  EXPECT_EQ(status_of([] { checked_numel({-1}, "x"); }), 400);
  EXPECT_EQ(checked_numel({}, "x"), 1);
  EXPECT_EQ(checked_numel({0, int64_t{1} << 62}, "x"), 0);
  // 2^62 elements claimed with 4 bytes of data: refused from the sizes alone.
  EXPECT_EQ(status_of([] { tensor_from_binary("x", "FP32", {int64_t{1} << 62}, std::string(4, '\0')); }), 400);
}

TEST(ServeCodec, BytesJsonBinaryAndB64) {
  NamedTensor t = tensor_from_leaves("s", "BYTES", {3}, leaves_of(R"(["ab", "", "\u00e9"])"), false);
  EXPECT_EQ(t.bytes, (std::vector<std::string>{"ab", "", "\xc3\xa9"}));
  // b64 objects only where allowed (TF-Serving), decoded.
  EXPECT_EQ(status_of([] { tensor_from_leaves("s", "BYTES", {1}, leaves_of(R"([{"b64": "aGk="}])"), false); }), 400);
  NamedTensor b = tensor_from_leaves("s", "BYTES", {1}, leaves_of(R"([{"b64": "AP8="}])"), true);
  EXPECT_EQ(b.bytes[0], std::string("\0\xff", 2));
  // Binary: 4-byte little-endian length, then the bytes.
  std::string raw = tensor_to_binary(t);
  EXPECT_EQ(raw, std::string("\2\0\0\0ab\0\0\0\0\2\0\0\0\xc3\xa9", 16));
  NamedTensor back = tensor_from_binary("s", "BYTES", {3}, raw);
  EXPECT_EQ(back.bytes, t.bytes);
  EXPECT_EQ(status_of([&] { tensor_from_binary("s", "BYTES", {3}, raw.substr(0, 15)); }), 400);  // truncated
  EXPECT_EQ(status_of([&] { tensor_from_binary("s", "BYTES", {2}, raw); }), 400);  // more than the shape holds
  EXPECT_EQ(status_of([&] { tensor_from_binary("s", "BYTES", {4}, raw); }), 400);  // fewer
  // Written back as JSON strings, or as {"b64": ...}.
  json::Writer w;
  write_values(w, b, 0, {1}, true, true);
  EXPECT_EQ(w.out, R"([{"b64":"AP8="}])");
}

TEST(ServeCodec, BinaryRoundTripEveryNumericType) {
  for (const char* dt : {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "BF16",
                         "FP32", "FP64"}) {
    size_t size = datatype_size(dt);
    std::string raw(6 * size, '\0');
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(i % 2);  // bools stay 0/1
    NamedTensor t = tensor_from_binary("x", dt, {2, 3}, raw);
    EXPECT_EQ(t.tensor.shape(), (Shape{2, 3})) << dt;
    EXPECT_EQ(tensor_to_binary(t), raw) << dt;
    EXPECT_EQ(status_of([&] { tensor_from_binary("x", dt, {2, 3}, raw.substr(1)); }), 400) << dt;
  }
  NamedTensor u = tensor_from_binary("u", "UINT16", {1}, std::string("\xff\xff", 2));
  EXPECT_EQ(u.tensor.data<uint16_t>()[0], 65535);
  NamedTensor w = tensor_from_binary("w", "UINT64", {1}, std::string(8, '\xff'));
  EXPECT_EQ(w.tensor.data<uint64_t>()[0], UINT64_MAX);
  EXPECT_EQ(tensor_to_binary(w), std::string(8, '\xff'));
}

TEST(ServeCodec, NestedWriting) {
  NamedTensor t = named_output("y", arange(6).to(DType::Float32).reshape({2, 3}));
  json::Writer w;
  write_values(w, t, 0, t.shape, true, false);
  EXPECT_EQ(w.out, "[[0,1,2],[3,4,5]]");
  json::Writer flat;
  write_values(flat, t, 3, {3}, false, false);
  EXPECT_EQ(flat.out, "[3,4,5]");
  EXPECT_EQ(t.datatype, "FP32");
}

TEST(ServeRoutes, ValidNames) {
  for (const char* ok : {"mlp", "a.b-c_d", "1", "resnet-18.v2"}) EXPECT_TRUE(valid_name(ok)) << ok;
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a b", "a%2F", "\xc3\xa9"})
    EXPECT_FALSE(valid_name(bad)) << bad;
  EXPECT_FALSE(valid_name(std::string(129, 'a')));
}

namespace {

// A backend with one model "add1": y = x + 1 on FP32 [-1, 2], run inline.
class AddOneBackend final : public ModelBackend {
 public:
  bool ready() const override { return true; }
  ModelMetadata metadata(const std::string& name, const std::string& version) const override {
    if (name != "add1") throw HttpError(404, "unknown model '" + name + "'");
    if (!version.empty() && version != "1") throw HttpError(404, "no version");
    ModelMetadata m;
    m.name = "add1";
    m.version = "1";
    m.versions = {"1"};
    m.inputs = {{"x", "FP32", {-1, 2}, true}};
    m.outputs = {{"y", "FP32", {-1, 2}, true}};
    return m;
  }
  bool model_ready(const std::string& name, const std::string& version) const override {
    metadata(name, version);
    return true;
  }
  std::vector<VersionState> versions(const std::string& name) const override {
    metadata(name, "");
    return {{"1", "AVAILABLE", ""}};
  }
  void infer(InferRequest&& req, Done done) override {
    ++calls;
    if (req.id == "full") throw HttpError(503, "the queue is full", "1");
    InferResponse r{req.model, "1", req.id, {}};
    r.outputs.push_back(named_output("y", add(req.inputs[0].tensor, ones_like(req.inputs[0].tensor))));
    done(std::move(r), nullptr);
  }
  std::atomic<int> calls{0};
};

// Minimal blocking HTTP/1.1 exchange over loopback; returns the whole answer.
std::string roundtrip(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string post(const std::string& path, const std::string& body) {
  return "POST " + path +
         " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         body;
}

struct Running {
  AddOneBackend backend;
  HttpServer server;
  std::thread thread;
  explicit Running(HttpOptions opts, RouterOptions ropts = {})
      : server(std::move(opts), make_router(backend, std::move(ropts))) {
    server.listen();
    thread = std::thread([this] { server.run(false); });
  }
  ~Running() {
    server.stop();
    thread.join();
  }
};

HttpOptions loopback() {
  HttpOptions o;
  o.port = 0;
  o.threads = 2;
  o.max_body_bytes = 4096;
  o.read_timeout = std::chrono::milliseconds(800);
  return o;
}

}  // namespace

TEST(ServeHttp, OipAndTfServingOverLoopback) {
  RouterOptions ro;
  ro.log_format = "none";
  Running r(loopback(), ro);
  uint16_t port = r.server.port();
  ASSERT_GT(port, 0);
  std::string live = roundtrip(port, "GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(live.rfind("HTTP/1.1 200", 0), 0u) << live;
  EXPECT_NE(live.find("{\"live\":true}"), std::string::npos);

  std::string out = roundtrip(port, post("/v2/models/add1/infer", R"({"id":"q","inputs":[{"name":"x","shape":[1,2],)"
                                                                  R"("datatype":"FP32","data":[1,2]}]})"));
  EXPECT_NE(out.find(R"("id":"q")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("data":[2,3])"), std::string::npos) << out;

  out = roundtrip(port, post("/v1/models/add1:predict", R"({"instances":[[1,2],[3,4]]})"));
  EXPECT_NE(out.find(R"({"predictions":[[2,3],[4,5]]})"), std::string::npos) << out;

  // Backend refusals keep their status and Retry-After.
  out = roundtrip(port, post("/v2/models/add1/infer", R"({"id":"full","inputs":[{"name":"x","shape":[1,2],)"
                                                      R"("datatype":"FP32","data":[1,2]}]})"));
  EXPECT_EQ(out.rfind("HTTP/1.1 503", 0), 0u) << out;
  EXPECT_NE(out.find("Retry-After: 1"), std::string::npos) << out;

  out = roundtrip(port, post("/v2/models/nope/infer", "{}"));
  EXPECT_EQ(out.rfind("HTTP/1.1 404", 0), 0u) << out;
  out = roundtrip(port, post("/v2/models/add1/infer", std::string(5000, ' ')));
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u) << out;
  out = roundtrip(port, post("/v2/models/add1/infer", R"({"inputs":[{"name":"x","shape":[1,3],)"
                                                      R"("datatype":"FP32","data":[1,2,3]}]})"));
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
}

TEST(ServeHttp, SlowClientCutOffOthersServed) {
  RouterOptions ro;
  ro.log_format = "none";
  Running r(loopback(), ro);
  uint16_t port = r.server.port();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto start = std::chrono::steady_clock::now();
  ::send(fd, "GET /v2/health/live HTTP/1.1\r\n", 30, MSG_NOSIGNAL);  // and never the rest
  std::string other = roundtrip(port, "GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(other.rfind("HTTP/1.1 200", 0), 0u);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[16];
  EXPECT_EQ(::recv(fd, buf, sizeof buf, 0), 0);  // closed by the server
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(waited, 0.5);
  EXPECT_LT(waited, 4.0);
  ::close(fd);
}

TEST(ServeHttp, AuthTokenAndOpenHealth) {
  RouterOptions ro;
  ro.log_format = "none";
  ro.auth_token = "tok";
  Running r(loopback(), ro);
  uint16_t port = r.server.port();
  auto get = [&](const std::string& path, const std::string& extra) {
    return roundtrip(port, "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + "\r\n");
  };
  EXPECT_EQ(get("/v2/health/ready", "").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(get("/v2/models/add1", "").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(get("/v2/models/add1", "Authorization: Bearer tok2\r\n").rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(get("/v2/models/add1", "Authorization: Bearer tok\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

// With HttpOptions::io_sched_batch the event loops run under SCHED_BATCH (a
// request arriving does not preempt a model running on the same core); by
// default they keep the process's SCHED_OTHER.
TEST(ServeHttp, EventLoopsRunUnderSchedBatchWhenAsked) {
#ifndef SCHED_BATCH
  GTEST_SKIP() << "no SCHED_BATCH on this platform";
#else
  if (::sched_getscheduler(0) != SCHED_OTHER) GTEST_SKIP() << "the test process is not SCHED_OTHER";
  EXPECT_FALSE(HttpOptions{}.io_sched_batch);
  for (bool batch : {true, false}) {
    std::atomic<int> seen{-1};
    Handler handler = [&](Request&&, Reply reply) {
      int policy = -1;
      sched_param p{};
      ::pthread_getschedparam(::pthread_self(), &policy, &p);
      seen = policy;
      Response r;
      r.body = "{}";
      reply(std::move(r));
    };
    HttpOptions o = loopback();
    o.io_sched_batch = batch;
    HttpServer server(o, handler);
    server.listen();
    std::thread run([&] { server.run(false); });
    std::string out = roundtrip(server.port(), "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    server.stop();
    run.join();
    EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
    EXPECT_EQ(seen.load(), batch ? SCHED_BATCH : SCHED_OTHER) << "io_sched_batch " << batch;
  }
#endif
}

// A reply from another thread (a batcher worker) with Response::deferred: the
// response is built on the connection's event loop, and the access-log/CORS
// wrapping of the router sees the built response.
TEST(ServeHttp, DeferredResponsesAreBuiltOnTheLoop) {
  std::atomic<bool> built_on_worker{true};
  std::thread::id worker_id;
  std::thread worker;
  Handler handler = [&](Request&&, Reply reply) {
    worker = std::thread([&, reply] {
      worker_id = std::this_thread::get_id();
      Response r;
      r.deferred = [&] {
        built_on_worker = std::this_thread::get_id() == worker_id;
        Response out;
        out.body = "{\"built\":true}";
        return out;
      };
      reply(std::move(r));
    });
  };
  HttpServer server(loopback(), handler);
  server.listen();
  std::thread run([&] { server.run(false); });
  std::string out = roundtrip(server.port(), "GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  server.stop();
  run.join();
  if (worker.joinable()) worker.join();
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("{\"built\":true}"), std::string::npos) << out;
  EXPECT_FALSE(built_on_worker.load());

  // Through the router: the CORS header is added to the built response, and an
  // encoder that throws becomes an error response.
  struct Deferring final : ModelBackend {
    bool ready() const override { return true; }
    ModelMetadata metadata(const std::string&, const std::string&) const override {
      ModelMetadata m;
      m.name = "d";
      m.version = "1";
      m.inputs = {{"x", "FP32", {-1}, true}};
      m.outputs = {{"y", "FP64", {-1}, true}};
      return m;
    }
    bool model_ready(const std::string&, const std::string&) const override { return true; }
    std::vector<VersionState> versions(const std::string&) const override { return {}; }
    void infer(InferRequest&& req, Done done) override {
      InferResponse r{req.model, "1", req.id, {}};
      // A complex output no OIP datatype holds: the encoder (on the loop) fails.
      NamedTensor t{"y", "FP64", {1}, zeros({1}, TensorOptions(DType::Complex64)), {}};
      if (req.id == "bad") r.outputs.push_back(t);
      std::thread([done, r = std::move(r)]() mutable { done(std::move(r), nullptr); }).detach();
    }
  } backend;
  RouterOptions ro;
  ro.log_format = "none";
  ro.cors_origin = "*";
  HttpServer routed(loopback(), make_router(backend, ro));
  routed.listen();
  std::thread run2([&] { routed.run(false); });
  auto infer = [&](const std::string& id) {
    std::string body = R"({"id":")" + id + R"(","inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})";
    return roundtrip(routed.port(),
                     "POST /v2/models/d/infer HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n"
                     "Connection: close\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body);
  };
  out = infer("ok");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("Access-Control-Allow-Origin: *"), std::string::npos) << out;
  out = infer("bad");
  EXPECT_EQ(out.rfind("HTTP/1.1 500", 0), 0u) << out;
  EXPECT_NE(out.find("Access-Control-Allow-Origin: *"), std::string::npos) << out;
  routed.stop();
  run2.join();
}
