// Routing, bearer-token auth, CORS and the access log around the protocol handlers.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "serve/json.h"
#include "serve/protocol.h"
#include "tessel/error.h"

namespace tessel::serve {

extern const char* const kOpenApiJson;  // openapi.json, compiled in (CMake generates it)

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

std::string utc_timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[64];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return ts;
}

Response json_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response error_response(int status, std::string_view message) {
  return json_response(status, json::error_body(message));
}

Response exception_response(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const HttpError& err) {
    Response r = error_response(err.status, err.what());
    if (!err.retry_after.empty()) r.headers.emplace_back("Retry-After", err.retry_after);
    return r;
  } catch (const tessel::Error& err) {
    // tessel's ops refuse the values they were given (shapes that do not broadcast, ...).
    return error_response(400, err.what());
  } catch (const std::bad_alloc&) {
    return error_response(503, "out of memory");
  } catch (const std::exception& err) {
    return error_response(500, std::string("internal error: ") + err.what());
  } catch (...) {
    return error_response(500, "internal error");
  }
}

namespace {

// Compares without an early exit, so the time taken says nothing about the token.
bool same_token(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

std::string_view model_of(std::string_view path) {
  for (std::string_view prefix : {"/v2/models/", "/v1/models/"}) {
    if (path.substr(0, prefix.size()) == prefix) {
      path.remove_prefix(prefix.size());
      return path.substr(0, path.find_first_of("/:"));
    }
  }
  return {};
}

Response not_allowed(const char* allow, std::string_view message) {
  Response r = error_response(405, message);
  r.headers.emplace_back("Allow", allow);
  return r;
}

struct Router {
  ModelBackend& models;
  RouterOptions opts;
  Context ctx;
  std::mutex log_mu;

  Router(ModelBackend& m, RouterOptions o) : models(m), opts(std::move(o)), ctx{m, "0.1.0"} {}

  void log(const Request& req, const Response& res, double seconds) {
    if (opts.log_format == "none") return;
    std::string ts = utc_timestamp();
    std::string line;
    if (opts.log_format == "text") {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %d %zu %.3fms", res.status, res.body.size(), seconds * 1e3);
      line = ts + " " + req.remote + " " + req.method + " ";
      json::Writer w;
      w.str(req.target);  // quoted and escaped: the target is client text
      line += w.out + buf + "\n";
    } else {
      json::Writer w;
      w.begin_object().key("time").value(ts).key("remote").value(req.remote).key("method").value(req.method);
      w.key("path").value(req.target).key("status").value(res.status).key("bytes_in").value(req.body.size());
      w.key("bytes_out").value(res.body.size()).key("duration_ms").value(seconds * 1e3).end_object();
      line = std::move(w.out);
      line.push_back('\n');
    }
    std::lock_guard lock(log_mu);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  }

  void add_cors(const Request& req, Response& res) {
    if (opts.cors_origin.empty()) return;
    const std::string* origin = req.header("origin");
    if (!origin) return;
    if (opts.cors_origin == "*") {
      res.headers.emplace_back("Access-Control-Allow-Origin", "*");
    } else if (*origin == opts.cors_origin) {
      res.headers.emplace_back("Access-Control-Allow-Origin", *origin);
      res.headers.emplace_back("Vary", "Origin");
    }
    res.headers.emplace_back("Access-Control-Expose-Headers", "Inference-Header-Content-Length, Retry-After");
  }

  void route(Request& req, Reply& reply) {
    // Without CORS, OPTIONS goes through the routes, each answering 405 with its own Allow.
    if (req.method == "OPTIONS" && !opts.cors_origin.empty()) {
      Response r;
      r.status = 204;
      r.content_type = "text/plain";
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      r.headers.emplace_back("Access-Control-Allow-Headers",
                             "Authorization, Content-Type, Inference-Header-Content-Length");
      r.headers.emplace_back("Access-Control-Max-Age", "600");
      return reply(std::move(r));
    }
    // Health probes stay open: orchestrators call them without credentials.
    bool open = req.path == "/v2/health/live" || req.path == "/v2/health/ready";
    if (!opts.auth_token.empty() && !open) {
      const std::string* auth = req.header("authorization");
      std::string_view given = auth ? std::string_view(*auth) : std::string_view();
      if (given.substr(0, 7) != "Bearer " || !same_token(given.substr(7), opts.auth_token)) {
        Response r = error_response(401, "missing or wrong bearer token");
        r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return reply(std::move(r));
      }
    }
    if (const std::string* enc = req.header("content-encoding"); enc && !req.body.empty() && *enc != "identity")
      return reply(error_response(415, "Content-Encoding '" + *enc + "' is not supported; send the body uncompressed"));
    bool get = req.method == "GET" || req.method == "HEAD";
    if (req.path == "/v2/openapi.json" || req.path == "/openapi.json") {
      if (!get) return reply(not_allowed("GET", "method not allowed; use GET"));
      return reply(json_response(200, kOpenApiJson));
    }
    if (req.path == "/metrics") {
      if (!get) return reply(not_allowed("GET", "method not allowed; use GET"));
      Response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = models.metrics_text();
      return reply(std::move(r));
    }
    if (oip_route(ctx, req, reply)) return;
    if (tfserving_route(ctx, req, reply)) return;
    reply(error_response(404, "no route for " + req.method + " " + req.path));
  }

  void handle(Request&& req, Reply reply) {
    auto start = std::chrono::steady_clock::now();
    // The request moves into the reply so that the access log can see it.
    auto shared = std::make_shared<Request>(std::move(req));
    auto finish = [this, shared, start](Response& res) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      add_cors(*shared, res);
      std::string_view model = model_of(shared->path);
      if (!model.empty()) models.observe_request(model, {}, res.status, seconds);
      log(*shared, res, seconds);
    };
    Reply logged = [finish, reply = std::move(reply)](Response&& res) {
      if (res.deferred) {
        // Built on the connection's loop: CORS, metrics and the log follow it there.
        res.deferred = [finish, make = std::move(res.deferred)]() {
          Response out;
          try {
            out = make();
          } catch (...) {
            out = exception_response(std::current_exception());
          }
          finish(out);
          return out;
        };
        return reply(std::move(res));
      }
      finish(res);
      reply(std::move(res));
    };
    try {
      route(*shared, logged);
    } catch (...) {
      logged(exception_response(std::current_exception()));
    }
  }
};

}  // namespace

Handler make_router(ModelBackend& models, RouterOptions opts) {
  auto router = std::make_shared<Router>(models, std::move(opts));
  return [router](Request&& req, Reply reply) { router->handle(std::move(req), std::move(reply)); };
}

}  // namespace tessel::serve
