#pragma once
// SPECSWEEP_HD marks math shared by the host and the CUDA device.
#if defined(__CUDACC__)
#define SPECSWEEP_HD __host__ __device__
#else
#define SPECSWEEP_HD
#endif

// A host-and-device function that calls something host-only or device-only (a strategy's
// executor, or a callable it passes): nvcc is told not to check the side it is not instantiated
// for.
// (Before a template, the pragma goes before `template`: SPECSWEEP_EXEC_CHECK_OFF there, and
// SPECSWEEP_HD on the function.)
#if defined(__CUDACC__)
#define SPECSWEEP_EXEC_CHECK_OFF _Pragma("nv_exec_check_disable")
#else
#define SPECSWEEP_EXEC_CHECK_OFF
#endif
#define SPECSWEEP_HD_EXEC SPECSWEEP_EXEC_CHECK_OFF SPECSWEEP_HD
