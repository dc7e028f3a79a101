#pragma once
// SPECSWEEP_HD marks math shared by the host and the CUDA device.
#if defined(__CUDACC__)
#define SPECSWEEP_HD __host__ __device__
#else
#define SPECSWEEP_HD
#endif
