#include <omp.h>

#include "tessel/error.h"
#include "tessel/version.h"

namespace tessel {

const char* version() { return "0.1.0"; }

namespace {
thread_local const char* g_op_scope = nullptr;
}  // namespace
const char* op_scope() { return g_op_scope; }
void set_op_scope(const char* name) { g_op_scope = name; }

int get_num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  TS_CHECK(n >= 1, ValueError, "set_num_threads", "expects a positive thread count, got ", n);
  omp_set_num_threads(n);
}

}  // namespace tessel
