#pragma once
// The umbrella header for C++ users: #include <tessel/tessel.h>
#include "tessel/cast.h"
#include "tessel/device.h"
#include "tessel/dlpack.h"
#include "tessel/dtype.h"
#include "tessel/error.h"
#include "tessel/kernel.h"
#include "tessel/ops.h"
#include "tessel/registry.h"
#include "tessel/scalar.h"
#include "tessel/storage.h"
#include "tessel/tensor.h"
#include "tessel/version.h"
