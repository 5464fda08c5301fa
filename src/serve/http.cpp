// Boost.Beast server: one io_context per thread, an acceptor on the first that
// deals connections out round-robin, a parser per request with header and body
// limits, a deadline per request (slow clients are cut off) and a graceful stop.
#include "serve/http.h"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "serve/json.h"

namespace tessel::serve {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
class Session;
}

struct HttpServer::Impl {
  HttpOptions opts;
  Handler handler;
  std::vector<std::unique_ptr<asio::io_context>> loops;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  // Sessions of each loop, touched only on that loop's thread (closing idle ones at shutdown).
  std::vector<std::list<std::weak_ptr<Session>>> sessions;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::signal_set> signals;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> connections{0};
  size_t max_connections = 0;
  size_t next_loop = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool stop_requested = false;
  int loops_done = 0;

  void accept();
  void close_idle(size_t loop);
  void request_stop();
};

namespace {

Response error_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = json::error_body(message);
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& srv, size_t loop) : stream_(std::move(socket)), srv_(srv), loop_(loop) {
    ++srv_.connections;
  }
  ~Session() { --srv_.connections; }

  void start() {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    stream_.socket().set_option(tcp::no_delay(true), ec);
    wait_request();
  }

  // Idle or mid-request (nothing handed to the handler yet): safe to drop at shutdown.
  bool idle() const { return !busy_; }
  void close() {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

 private:
  // Keep-alive: wait for the first byte of the next request under the idle timeout.
  void wait_request() {
    if (srv_.stopping) return close();
    if (buffer_.size() > 0) return read_header();
    stream_.expires_after(srv_.opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(16384), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->close();
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(srv_.opts.max_header_bytes));
    parser_->body_limit(srv_.opts.max_body_bytes);
    // One deadline for the whole request: a client dribbling bytes is cut off.
    stream_.expires_after(srv_.opts.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->read_failed(ec);
      auto& req = self->parser_->get();
      if (beast::iequals(req[http::field::expect], "100-continue")) {
        // Clients such as curl wait for this before sending a large body.
        static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
        asio::async_write(self->stream_, asio::buffer(cont), [self](beast::error_code ec2, size_t) {
          if (ec2) return self->close();
          self->read_body();
        });
        return;
      }
      self->read_body();
    });
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->read_failed(ec);
      self->dispatch();
    });
  }

  void read_failed(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return send_and_close(error_response(
          413, "request body larger than the limit of " + std::to_string(srv_.opts.max_body_bytes) + " bytes"));
    if (ec == http::error::header_limit) return send_and_close(error_response(431, "request headers too large"));
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof)
      return close();
    if (ec == http::error::partial_message) return send_and_close(error_response(400, "truncated request body"));
    if (ec.category() == http::make_error_code(http::error::bad_method).category())
      return send_and_close(error_response(400, "malformed HTTP request: " + ec.message()));
    close();
  }

  void dispatch() {
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    auto q = req.target.find('?');
    req.path = q == std::string::npos ? req.target : req.target.substr(0, q);
    req.headers.reserve(8);
    for (auto& f : msg) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    req.remote = remote_;
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    head_ = msg.method() == http::verb::head;
    parser_.reset();
    busy_ = true;

    // The reply may come from a compute thread: it holds the loop's work so that
    // run() does not return before it is written, and it is taken once only.
    auto self = shared_from_this();
    auto once = std::make_shared<std::atomic<bool>>(false);
    auto work = asio::make_work_guard(stream_.get_executor());
    Reply reply = [self, once, work](Response&& r) mutable {
      if (once->exchange(true)) return;
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r), work = std::move(work)]() mutable { self->write(std::move(r)); });
    };
    try {
      srv_.handler(std::move(req), reply);
    } catch (const std::exception& e) {
      reply(error_response(500, std::string("internal error: ") + e.what()));
    }
  }

  void fill(Response&& r) {
    res_ = {};
    res_.version(version_ ? version_ : 11);
    res_.result(static_cast<unsigned>(r.status));
    res_.set(http::field::server, "tessel-serve");
    res_.set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res_.set(k, v);
    res_.body() = std::move(r.body);
    res_.prepare_payload();
    if (head_) res_.body().clear();  // Content-Length stays that of the GET answer
  }

  void write(Response&& r) {
    if (r.deferred) {
      auto make = std::move(r.deferred);
      try {
        r = make();
      } catch (const std::exception& e) {
        r = error_response(500, std::string("internal error: ") + e.what());
      }
    }
    fill(std::move(r));
    res_.keep_alive(keep_alive_ && !srv_.stopping);
    stream_.expires_after(srv_.opts.read_timeout);
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec || !self->res_.keep_alive()) return self->close();
      self->wait_request();
    });
  }

  // Errors found before the handler: answer, then close (the stream may be mid-message).
  void send_and_close(Response&& r) {
    version_ = 11;
    head_ = false;
    fill(std::move(r));
    res_.keep_alive(false);
    busy_ = true;
    stream_.expires_after(std::chrono::seconds(5));
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code, size_t) {
      self->busy_ = false;
      self->close();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  HttpServer::Impl& srv_;
  size_t loop_;
  std::string remote_;
  bool keep_alive_ = false, head_ = false, busy_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::accept() {
  size_t loop = next_loop++ % loops.size();
  acceptor->async_accept(*loops[loop], [this, loop](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor->is_open()) return;
    if (!ec && connections >= max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);  // over the cap: shed at once rather than run out of descriptors
    } else if (!ec) {
      asio::post(*loops[loop], [this, loop, s = std::make_shared<tcp::socket>(std::move(socket))]() mutable {
        if (stopping) return;
        auto session = std::make_shared<Session>(std::move(*s), *this, loop);
        auto& list = sessions[loop];
        if (list.size() > 64) list.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
        list.push_back(session);
        session->start();
      });
    } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
      // Out of file descriptors: back off briefly instead of spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    accept();
  });
}

void HttpServer::Impl::close_idle(size_t loop) {
  for (auto& w : sessions[loop])
    if (auto s = w.lock())
      if (s->idle()) s->close();
  sessions[loop].clear();
}

void HttpServer::Impl::request_stop() {
  if (stopping.exchange(true)) return;
  if (opts.on_stop) opts.on_stop();
  asio::post(*loops[0], [this] {
    boost::system::error_code ec;
    if (acceptor) acceptor->close(ec);
    if (signals) signals->cancel(ec);
    for (size_t i = 0; i < loops.size(); ++i) asio::post(*loops[i], [this, i] { close_idle(i); });
    // The loops now run until the requests in flight are answered.
    for (auto& g : guards) g.reset();
  });
  std::lock_guard lock(mu);
  stop_requested = true;
  cv.notify_all();
}

HttpServer::HttpServer(HttpOptions opts, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(opts);
  impl_->handler = std::move(handler);
  int n = impl_->opts.threads > 0 ? impl_->opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) {
    impl_->loops.push_back(std::make_unique<asio::io_context>(1));
    impl_->guards.push_back(asio::make_work_guard(*impl_->loops.back()));
  }
  impl_->sessions.resize(static_cast<size_t>(n));
  size_t cap = impl_->opts.max_connections;
  if (cap == 0) {
    // Raise the soft descriptor limit to the hard one, and keep some for models and logs.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
      }
      cap = rl.rlim_cur == RLIM_INFINITY ? 1000000 : static_cast<size_t>(rl.rlim_cur);
      cap = cap > 128 ? cap - 64 : cap / 2;
    } else {
      cap = 1000;
    }
  }
  impl_->max_connections = cap;
}

HttpServer::~HttpServer() = default;

void HttpServer::listen() {
  auto& im = *impl_;
  asio::io_context& io = *im.loops[0];
  tcp::resolver resolver(io);
  auto results = resolver.resolve(im.opts.host, std::to_string(im.opts.port));
  std::string last_error = "no address";
  for (auto& r : results) {
    try {
      tcp::acceptor a(io);
      a.open(r.endpoint().protocol());
      a.set_option(asio::socket_base::reuse_address(true));
      a.bind(r.endpoint());
      a.listen(asio::socket_base::max_listen_connections);
      im.acceptor.emplace(std::move(a));
      return;
    } catch (const std::exception& e) {
      last_error = e.what();
    }
  }
  throw std::runtime_error("cannot listen on " + im.opts.host + ":" + std::to_string(im.opts.port) + ": " + last_error);
}

uint16_t HttpServer::port() const { return impl_->acceptor ? impl_->acceptor->local_endpoint().port() : 0; }

void HttpServer::stop() { impl_->request_stop(); }

void HttpServer::run(bool handle_signals) {
  auto& im = *impl_;
  if (!im.acceptor) listen();
  if (handle_signals) {
    im.signals.emplace(*im.loops[0], SIGINT, SIGTERM);
    im.signals->async_wait([this](beast::error_code ec, int) {
      if (!ec) impl_->request_stop();
    });
  }
  im.accept();
  std::vector<std::thread> threads;
  for (auto& loop : im.loops)
    threads.emplace_back([&im, io = loop.get()] {
#ifdef SCHED_BATCH
      if (im.opts.io_sched_batch) {
        sched_param p{};
        p.sched_priority = 0;
        ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &p);  // best effort: the loop runs either way
      }
#endif
      for (;;) {
        try {
          io->run();
          break;
        } catch (const std::exception&) {
          // A handler threw past its own catch: keep serving the other connections.
        }
      }
      std::lock_guard lock(im.mu);
      ++im.loops_done;
      im.cv.notify_all();
    });
  {
    std::unique_lock lock(im.mu);
    im.cv.wait(lock, [&] { return im.stop_requested; });
    if (!im.cv.wait_for(lock, im.opts.drain_timeout,
                        [&] { return im.loops_done == static_cast<int>(im.loops.size()); }))
      for (auto& loop : im.loops) loop->stop();  // drain deadline passed
  }
  for (auto& t : threads) t.join();
}

}  // namespace tessel::serve
