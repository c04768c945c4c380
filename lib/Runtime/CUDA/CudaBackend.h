//===- CudaBackend.h - the CUDA backend -------------------------*- C++ -*-===//
#ifndef SLAPO_LIB_RUNTIME_CUDA_CUDABACKEND_H
#define SLAPO_LIB_RUNTIME_CUDA_CUDABACKEND_H

#include "slapo/Runtime/Backend.h"

#include <memory>
#include <string>

namespace slapo::rt {

/// One NVIDIA GPU: the process's local rank's (OMPI_COMM_WORLD_LOCAL_RANK,
/// SLURM_LOCALID, MPI_LOCALRANKID or LOCAL_RANK, modulo the devices it
/// sees; device 0 without one). Null with `error` ("no CUDA device ...")
/// where there is none or the driver cannot be reached.
std::unique_ptr<Backend> createCudaBackend(std::string &error);

} // namespace slapo::rt

#endif // SLAPO_LIB_RUNTIME_CUDA_CUDABACKEND_H
