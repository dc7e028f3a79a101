#pragma once
// RAII owners of device resources: move-only, released in the destructor.
#include <cuda_runtime.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "cuda/cuda_check.cuh"

namespace specsweep::cuda {

// count elements of T in device memory; contents undefined until written.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    if (count > 0)
      SPECSWEEP_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)));
  }
  // A device copy of host data, ordered on `stream` before the work queued there after it. (A
  // plain cudaMemcpy runs on the legacy stream, which a cudaStreamNonBlocking stream does not wait
  // for: from pageable memory it may return before the data has reached the device.)
  DeviceBuffer(const std::vector<T>& host, cudaStream_t stream) : DeviceBuffer(host.size()) {
    if (count_ > 0)
      SPECSWEEP_CUDA_CHECK(cudaMemcpyAsync(data_, host.data(), count_ * sizeof(T),
                                           cudaMemcpyHostToDevice, stream));
  }
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), count_(std::exchange(other.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(count_, other.count_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr)
      cudaFree(data_);  // no throw from a destructor; errors surface at the next call
  }

  T* data() const { return data_; }
  std::size_t size() const { return count_; }

  // Host copy of the first `count` elements, after the work on `stream` that writes them.
  void download(std::vector<T>& host, std::size_t count, cudaStream_t stream) const {
    host.resize(count);
    if (count > 0)
      SPECSWEEP_CUDA_CHECK(
          cudaMemcpyAsync(host.data(), data_, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  }

 private:
  T* data_ = nullptr;
  std::size_t count_ = 0;
};

class Stream {
 public:
  Stream() { SPECSWEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { cudaStreamDestroy(stream_); }
  cudaStream_t get() const { return stream_; }
  void synchronize() const { SPECSWEEP_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace specsweep::cuda
