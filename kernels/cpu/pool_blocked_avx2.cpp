// The AVX2 copy of the blocked window kernels (pooling, depthwise convolution) (pool_blocked_body.inc): 8-channel
// blocks. Built with -mavx2 -mfma; called only when conv_block_size() is 8 (which needs FMA).
#define POOL_LANES 8
#define POOL_FN pool_blocked_rows_avx2
#define DW_FN dw_blocked_rows_avx2
#include "kernels/cpu/pool_blocked_body.inc"
