#pragma once
// Shared test fixtures: random matrices with a prescribed spectrum, in double.
#include <cmath>
#include <vector>

#include "core/linalg.hpp"
#include "core/random.hpp"

namespace specsweep::testing {

// rows x cols (rows >= cols) with orthonormal columns, from a seeded stream.
inline std::vector<double> orthonormal_columns(int rows, int cols, std::uint32_t seed) {
  const RandomStream stream(0x5eed, 99, seed, Purpose::basin, 7);
  std::vector<double> g(rows * cols), q(rows * cols), r(cols * cols), tau(cols);
  for (int i = 0; i < rows * cols; ++i) g[i] = stream.normal(i);
  householder_qr(rows, cols, g.data(), q.data(), r.data(), tau.data());
  return q;
}

// A = U diag(sigma) V^T, rows x cols, with p = min(rows, cols) = sigma.size().
inline std::vector<double> with_spectrum(int rows, int cols, const std::vector<double>& sigma,
                                         std::uint32_t seed) {
  const int p = static_cast<int>(sigma.size());
  const auto U = orthonormal_columns(rows, p, seed);
  const auto V = orthonormal_columns(cols, p, seed + 1000);
  std::vector<double> A(rows * cols, 0.0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      for (int k = 0; k < p; ++k) A[i * cols + j] += U[i * p + k] * sigma[k] * V[j * p + k];
  return A;
}

// Singular values (descending) of a double matrix through the library's thin SVD.
inline std::vector<double> singular_values(int rows, int cols, const std::vector<double>& A) {
  const int p = rows < cols ? rows : cols;
  std::vector<double> U(rows * p), V(cols * p), s(p), work(thin_svd_workspace(rows, cols));
  thin_svd(rows, cols, A.data(), U.data(), s.data(), V.data(), work.data());
  sort_descending(p, s.data());
  return s;
}

// Symmetric positive definite k x k weights spread over a factor of ~10, as icl's Gamma and Lambda
// are: S S^T / k + 0.1 I for S of normals at + 0 ... at + k^2 - 1 of the stream.
inline std::vector<double> random_spd(int k, const RandomStream& stream, std::uint64_t at) {
  std::vector<double> S(k * k), out(k * k);
  for (int i = 0; i < k * k; ++i) S[i] = stream.normal(at + i);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) {
      double acc = i == j ? 0.1 : 0.0;
      for (int l = 0; l < k; ++l) acc += S[i * k + l] * S[j * k + l] / k;
      out[i * k + j] = acc;
    }
  return out;
}

inline std::vector<double> geometric(int count, double max, double condition) {
  std::vector<double> s(count);
  for (int i = 0; i < count; ++i)
    s[i] = max * std::pow(condition, -double(i) / (count > 1 ? count - 1 : 1));
  return s;
}

}  // namespace specsweep::testing
