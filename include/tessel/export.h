#pragma once
// Public symbols are exported with TESSEL_API; everything else is hidden
// (-fvisibility=hidden), so the ABI is exactly what the headers promise.
#if defined(_WIN32)
#define TESSEL_API __declspec(dllexport)
#else
#define TESSEL_API __attribute__((visibility("default")))
#endif
