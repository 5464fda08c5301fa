// tessel-serve: serves ONNX models over the Open Inference Protocol v2 and
// TF-Serving REST APIs.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "serve/http.h"
#include "serve/protocol.h"

namespace {

const char* kUsage = R"(usage: tessel-serve [options]

Serves ONNX models over the Open Inference Protocol v2 (KServe v2) and TF-Serving REST APIs.

models:
  --model NAME=PATH            serve one .onnx file as model NAME, version 1 (repeatable)
  --model-repository DIR       serve DIR/NAME/VERSION/model.onnx
  --model-control MODE         none | poll | explicit (default none)
  --repository-poll-secs N     polling interval with --model-control poll (default 15)
  --compute-threads N          threads running models (default: cores / 2, at least 1)
  --max-queue-size N           requests waiting for a compute thread before 503 (default 1024)

network:
  --host ADDR                  address to bind (default 127.0.0.1)
  --http-port N                port (default 8000; 0 picks a free one)
  --port-file FILE             write the bound port to FILE once listening
  --threads N                  event-loop threads (default: one per core)
  --max-body-bytes N           larger request bodies get 413 (default 67108864)
  --max-header-bytes N         larger request headers get 431 (default 16384)
  --read-timeout-secs S        a request must arrive within S seconds (default 30)
  --idle-timeout-secs S        idle keep-alive connections close after S seconds (default 60)
  --drain-timeout-secs S       on SIGTERM/SIGINT, wait up to S seconds for requests in flight (default 30)

security and logs:
  --auth-token-file FILE       require "Authorization: Bearer <token>" (health routes stay open)
  --cors-origin ORIGIN         allow cross-origin requests from ORIGIN ("*": any); off by default
  --log-format FORMAT          access log on stdout: json | text | none (default json)
  --help                       show this text
)";

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "tessel-serve: %s\n(see tessel-serve --help)\n", msg.c_str());
  std::exit(2);
}

long long parse_int(const std::string& opt, const std::string& v, long long lo, long long hi) {
  try {
    size_t pos = 0;
    long long x = std::stoll(v, &pos);
    if (pos == v.size() && x >= lo && x <= hi) return x;
  } catch (...) {
  }
  usage_error(opt + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not '" + v +
              "'");
}

std::chrono::milliseconds parse_secs(const std::string& opt, const std::string& v) {
  try {
    size_t pos = 0;
    double x = std::stod(v, &pos);
    if (pos == v.size() && x > 0 && x <= 86400) return std::chrono::milliseconds(static_cast<long long>(x * 1000));
  } catch (...) {
  }
  usage_error(opt + " expects seconds in (0, 86400], not '" + v + "'");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessel::serve;
  HttpOptions http;
  RouterOptions router;
  std::vector<std::pair<std::string, std::string>> models;
  std::string repository, model_control = "none", port_file;
  int compute_threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  size_t max_queue = 1024;
  long long poll_secs = 15;

  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string v;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      usage_error(a + " needs a value");
    }
    if (a == "--model") {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) usage_error("--model expects NAME=PATH");
      models.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (a == "--model-repository") {
      repository = v;
    } else if (a == "--model-control") {
      if (v != "none" && v != "poll" && v != "explicit") usage_error("--model-control is none, poll or explicit");
      model_control = v;
    } else if (a == "--repository-poll-secs") {
      poll_secs = parse_int(a, v, 1, 86400);
    } else if (a == "--compute-threads") {
      compute_threads = static_cast<int>(parse_int(a, v, 1, 1024));
    } else if (a == "--max-queue-size") {
      max_queue = static_cast<size_t>(parse_int(a, v, 1, 1 << 24));
    } else if (a == "--host") {
      http.host = v;
    } else if (a == "--http-port") {
      http.port = static_cast<uint16_t>(parse_int(a, v, 0, 65535));
    } else if (a == "--port-file") {
      port_file = v;
    } else if (a == "--threads") {
      http.threads = static_cast<int>(parse_int(a, v, 1, 1024));
    } else if (a == "--max-body-bytes") {
      http.max_body_bytes = static_cast<size_t>(parse_int(a, v, 1, 1LL << 40));
    } else if (a == "--max-header-bytes") {
      http.max_header_bytes = static_cast<size_t>(parse_int(a, v, 256, 1 << 24));
    } else if (a == "--read-timeout-secs") {
      http.read_timeout = parse_secs(a, v);
    } else if (a == "--idle-timeout-secs") {
      http.idle_timeout = parse_secs(a, v);
    } else if (a == "--drain-timeout-secs") {
      http.drain_timeout = parse_secs(a, v);
    } else if (a == "--auth-token-file") {
      std::ifstream f(v);
      if (!f) usage_error("cannot read --auth-token-file '" + v + "'");
      std::stringstream ss;
      ss << f.rdbuf();
      std::string token = ss.str();
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
      if (token.empty()) usage_error("--auth-token-file '" + v + "' is empty");
      router.auth_token = token;
    } else if (a == "--cors-origin") {
      router.cors_origin = v;
    } else if (a == "--log-format") {
      if (v != "json" && v != "text" && v != "none") usage_error("--log-format is json, text or none");
      router.log_format = v;
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  (void)poll_secs;
  if (!repository.empty()) usage_error("--model-repository is not available in this build yet; use --model NAME=PATH");
  if (model_control != "none") usage_error("--model-control " + model_control + " needs --model-repository");
  if (models.empty()) usage_error("no model: give --model NAME=PATH or --model-repository DIR");

  std::unique_ptr<ModelBackend> backend;
  try {
    backend = make_file_backend(models, compute_threads, max_queue);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessel-serve: cannot load the models: %s\n", e.what());
    return 1;
  }
  HttpServer server(http, make_router(*backend, router));
  try {
    server.listen();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessel-serve: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "tessel-serve: listening on http://%s:%u\n", http.host.c_str(), unsigned(server.port()));
  if (!port_file.empty()) {
    // Written to a temporary name then renamed, so a reader never sees half a number.
    std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  server.run(true);
  backend.reset();  // finishes queued work
  std::fprintf(stderr, "tessel-serve: stopped\n");
  return 0;
}
