// The AVX-512 copy of the blocked window kernels (pooling, depthwise convolution) (pool_blocked_body.inc): 16-channel
// blocks. Built with -mavx512f; called only when conv_block_size() is 16.
#define POOL_LANES 16
#define POOL_FN pool_blocked_rows_avx512
#define DW_FN dw_blocked_rows_avx512
#include "kernels/cpu/pool_blocked_body.inc"
