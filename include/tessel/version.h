#pragma once
#include "tessel/export.h"

#define TESSEL_VERSION_MAJOR 0
#define TESSEL_VERSION_MINOR 1
#define TESSEL_VERSION_PATCH 0

namespace tessel {
TESSEL_API const char* version();  // "0.1.0"
TESSEL_API int get_num_threads();
TESSEL_API void set_num_threads(int n);
}  // namespace tessel
