#pragma once
// Interleaved<T, Stride>: a handle (see LaneOf in lanes.hpp) to one seed's array inside a block of
// Stride seeds stored element-major: element i of the seed lives at base[i * Stride]. With one GPU
// thread per seed and Stride = 32, the 32 threads of a warp that touch the same element touch 32
// adjacent words, so every access of the per-seed algorithm is a single coalesced transaction.
#include "hd.hpp"

namespace specsweep {

template <class T, int Stride>
class Interleaved {
 public:
  Interleaved() = default;
  SPECSWEEP_HD explicit Interleaved(T* base) : p_(base) {}
  SPECSWEEP_HD T& operator[](long i) const { return p_[i * Stride]; }
  SPECSWEEP_HD Interleaved operator+(long i) const { return Interleaved(p_ + i * Stride); }
  SPECSWEEP_HD Interleaved& operator+=(long i) {
    p_ += i * Stride;
    return *this;
  }

 private:
  T* p_ = nullptr;
};

}  // namespace specsweep
