#pragma once
// --input-log: the inputs of answered inference requests as JSON lines, for drift
// detection (`tessel agent watch`, python/tessel/agent/input_log.py reads them;
// the format is in docs/serving.md). A decorator over any ModelBackend.
#include <cstddef>
#include <memory>
#include <string>

#include "serve/protocol.h"

namespace tessel::serve {

struct InputLogOptions {
  std::string dir;                   // DIR/MODEL/VERSION/inputs.jsonl
  size_t max_bytes = 64ull << 20;    // rotate a file once it would grow past this
  int keep = 10;                     // rotated files kept per model version, oldest deleted
  double sample = 1.0;               // share of requests logged, in (0, 1]
};

// Checks the options and that `dir` can be created and written; throws ValueError naming the flag.
void check_input_log_options(const InputLogOptions& opts);

// Logs the inputs of each sampled request that `inner` answers without an error,
// then forwards everything else to `inner` unchanged.
std::unique_ptr<ModelBackend> make_input_log_backend(std::unique_ptr<ModelBackend> inner, InputLogOptions opts);

}  // namespace tessel::serve
