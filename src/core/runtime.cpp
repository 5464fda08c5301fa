#include <omp.h>

#include "tessel/error.h"
#include "tessel/version.h"

namespace tessel {

const char* version() { return "0.1.0"; }

int get_num_threads() { return omp_get_max_threads(); }

void set_num_threads(int n) {
  TS_CHECK(n >= 1, ValueError, "set_num_threads", "expects a positive thread count, got ", n);
  omp_set_num_threads(n);
}

}  // namespace tessel
