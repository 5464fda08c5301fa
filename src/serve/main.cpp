// tessel-serve: serves ONNX models over the Open Inference Protocol v2 and
// TF-Serving REST APIs.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "serve/http.h"
#include "serve/input_log.h"
#include "serve/metrics.h"
#include "serve/protocol.h"
#include "serve/repository.h"

namespace {

const char* kUsage = R"(usage: tessel-serve [options]

Serves ONNX models over the Open Inference Protocol v2 (KServe v2) and TF-Serving REST APIs.

models:
  --model NAME=PATH            serve one .onnx file as model NAME, version 1 (repeatable)
  --model-repository DIR       serve DIR/NAME/VERSION/model.onnx (optional DIR/NAME/config.pbtxt)
  --model-control MODE         none | poll | explicit (default none); explicit turns on
                               POST /v2/repository/models/NAME/load|unload
  --repository-poll-secs N     polling interval with --model-control poll (default 15)
  --load-model NAME            with --model-control explicit: load NAME at start (repeatable)
  --max-queue-size N           queue bound of a model whose config sets none; 503 past it (default 1024)
  --startup-load MODE          wait | background (default wait): load the models, then listen (as
                               Triton does); or listen at once, ready (503) only once they have loaded

network:
  --host ADDR                  address to bind (default 127.0.0.1)
  --http-port N                port (default 8000; 0 picks a free one)
  --port-file FILE             write the bound port to FILE once listening
  --threads N                  event-loop threads (default: one per core)
  --io-sched POLICY            normal | batch (default normal). batch (Linux): event loops under
                               SCHED_BATCH do not preempt a model running on the same core when a
                               request arrives (less CPU per request on a core shared with the model,
                               but a request waits out whatever else holds the core: higher latency
                               at low load on a busy machine)
  --max-body-bytes N           larger request bodies get 413 (default 67108864)
  --max-header-bytes N         larger request headers get 431 (default 16384)
  --max-connections N          connections beyond N are closed at once (default: the descriptor limit - 64)
  --read-timeout-secs S        a request must arrive within S seconds (default 30)
  --idle-timeout-secs S        idle keep-alive connections close after S seconds (default 60)
  --drain-timeout-secs S       on SIGTERM/SIGINT, wait up to S seconds for requests in flight (default 30)

security and logs:
  --auth-token-file FILE       require "Authorization: Bearer <token>" (health routes stay open)
  --cors-origin ORIGIN         allow cross-origin requests from ORIGIN ("*": any); off by default
  --log-format FORMAT          access log on stdout: json | text | none (default json)
  --input-log DIR              log the inputs of answered inference requests as JSON lines in
                               DIR/MODEL/VERSION/inputs.jsonl (for `tessel agent watch`); off by default
  --input-log-max-mb N         rotate a log file past N MB (default 64)
  --input-log-keep N           rotated files kept per model version (default 10)
  --input-log-sample R         share of requests logged, in (0, 1] (default 1)
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
  usage_error(opt + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not '" + v + "'");
}

double parse_number(const std::string& opt, const std::string& v, double lo, double hi) {
  try {
    size_t pos = 0;
    double x = std::stod(v, &pos);
    if (pos == v.size() && x >= lo && x <= hi) return x;
  } catch (...) {
  }
  usage_error(opt + " expects a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not '" + v + "'");
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
  std::vector<std::string> load_models;
  size_t max_queue = 1024;
  long long poll_secs = 15;
  bool background_startup = false;
  InputLogOptions input_log;

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
    } else if (a == "--load-model") {
      load_models.push_back(v);
    } else if (a == "--startup-load") {
      if (v != "wait" && v != "background") usage_error("--startup-load is wait or background");
      background_startup = v == "background";
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
    } else if (a == "--io-sched") {
      if (v != "batch" && v != "normal") usage_error("--io-sched is batch or normal");
      http.io_sched_batch = v == "batch";
    } else if (a == "--max-body-bytes") {
      http.max_body_bytes = static_cast<size_t>(parse_int(a, v, 1, 1LL << 40));
    } else if (a == "--max-header-bytes") {
      http.max_header_bytes = static_cast<size_t>(parse_int(a, v, 256, 1 << 24));
    } else if (a == "--max-connections") {
      http.max_connections = static_cast<size_t>(parse_int(a, v, 1, 1 << 24));
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
    } else if (a == "--input-log") {
      input_log.dir = v;
    } else if (a == "--input-log-max-mb") {
      double mb = parse_number(a, v, 0.001, 1 << 20);
      input_log.max_bytes = static_cast<size_t>(mb * (1 << 20));
    } else if (a == "--input-log-keep") {
      input_log.keep = static_cast<int>(parse_int(a, v, 1, 100000));
    } else if (a == "--input-log-sample") {
      input_log.sample = parse_number(a, v, 1e-9, 1);
    } else {
      usage_error("unknown option '" + a + "'");
    }
  }
  if (model_control != "none" && repository.empty())
    usage_error("--model-control " + model_control + " needs --model-repository");
  if (models.empty() && repository.empty()) usage_error("no model: give --model NAME=PATH or --model-repository DIR");
  if (!load_models.empty() && model_control != "explicit") usage_error("--load-model needs --model-control explicit");
  if (!input_log.dir.empty()) {
    try {
      check_input_log_options(input_log);
    } catch (const std::exception& e) {
      usage_error(e.what());
    }
  }

  RepositoryOptions ro;
  ro.repository = repository;
  ro.models = models;
  ro.control = model_control == "poll"       ? RepositoryOptions::Control::Poll
               : model_control == "explicit" ? RepositoryOptions::Control::Explicit
                                             : RepositoryOptions::Control::None;
  ro.poll_interval = std::chrono::milliseconds(poll_secs * 1000);
  ro.startup_models = load_models;
  ro.default_max_queue_size = max_queue;
  ro.background_startup = background_startup;
  std::shared_ptr<ModelRepository> repo;
  try {
    repo = std::make_shared<ModelRepository>(ro, std::make_shared<MetricsRegistry>());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessel-serve: %s\n", e.what());
    return 1;
  }
  std::unique_ptr<ModelBackend> backend = make_repository_backend(repo);
  if (!input_log.dir.empty()) backend = make_input_log_backend(std::move(backend), input_log);
  http.on_stop = [&repo] { repo->begin_stop(); };
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
  repo->stop();  // finishes what is still queued
  std::fprintf(stderr, "tessel-serve: stopped\n");
  return 0;
}
