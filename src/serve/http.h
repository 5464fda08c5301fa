#pragma once
// The HTTP/1.1 front of tessel-serve (Boost.Beast/Asio; only http.cpp includes
// Boost). Requests reach a Handler as plain structs; the handler answers through
// `Reply`, exactly once, from any thread.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tessel::serve {

struct Request {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // as sent: path and query
  std::string path;                                          // target without the query
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;  // peer address
  // The first header of that (lower-case) name, or null.
  const std::string* header(std::string_view name) const {
    for (auto& [k, v] : headers)
      if (k == name) return &v;
    return nullptr;
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, called on the connection's event loop to build the response that
  // is sent, so that a compute thread answering a request only hands its result
  // over and encoding (JSON of the outputs) runs on the I/O threads.
  std::function<Response()> deferred;
};

using Reply = std::function<void(Response&&)>;
using Handler = std::function<void(Request&&, Reply)>;

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0: any free port (see HttpServer::port)
  int threads = 0;       // event loops; 0: one per core
  size_t max_body_bytes = size_t{64} << 20;
  size_t max_header_bytes = size_t{16} << 10;
  // A request (headers and body) must arrive within this time: slow clients are cut off.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};   // keep-alive connections with no request
  std::chrono::milliseconds drain_timeout{30000};  // at shutdown, for requests in flight
  // Open connections beyond this are closed at once, so that idle or slow clients
  // cannot take every file descriptor; 0: from the descriptor limit.
  size_t max_connections = 0;
  // Linux, opt-in: the event loops run under SCHED_BATCH, so that a request arriving
  // while a model runs on the same core does not preempt the run; the loop reads what
  // has arrived once the model's thread blocks or its time slice ends. With the loop and
  // a batcher worker pinned to one core (ResNet-18, binary bodies, 64 connections) the
  // server's CPU per request fell 12-17 % without dynamic batching and 3 % with it. Off
  // by default: a SCHED_BATCH loop cannot preempt other processes either, and on a
  // shared core one connection's p50 went from 0.2 to 4 ms (bench/README.md).
  bool io_sched_batch = false;
  // Called once when a stop is requested (a signal or stop()), on the thread that
  // asked, before the requests in flight drain: tessel-serve flushes its batch
  // queues there, so a queued request is not held for a batch no one will fill.
  std::function<void()> on_stop;
};

class HttpServer {
 public:
  HttpServer(HttpOptions opts, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (throws std::runtime_error when it cannot).
  void listen();
  uint16_t port() const;
  // Serves until stop() or, with `handle_signals`, SIGINT/SIGTERM; then stops
  // accepting, lets requests in flight finish (up to drain_timeout) and returns.
  void run(bool handle_signals = true);
  void stop();  // thread-safe; run() returns once drained

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessel::serve
