//===- HostDevice.h - functions for the host and the device -----*- C++ -*-===//
//
// SLAPO_HOST_DEVICE marks a function that the CUDA backend's kernels call
// too: __host__ __device__ under nvcc, nothing for the host compiler alone.
// Private to lib/Runtime.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_LIB_RUNTIME_HOSTDEVICE_H
#define SLAPO_LIB_RUNTIME_HOSTDEVICE_H

#ifdef __CUDACC__
#define SLAPO_HOST_DEVICE __host__ __device__
#else
#define SLAPO_HOST_DEVICE
#endif

#endif // SLAPO_LIB_RUNTIME_HOSTDEVICE_H
