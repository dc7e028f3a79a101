#pragma once
// The two failure classes of the command line contract (DESIGN section 4): bad input exits 2,
// runtime failures exit 3.
#include <stdexcept>
#include <string>

namespace specsweep {

// Bad input: CLI, config or unreadable file. The message names the key (and the TOML line and
// column when known).
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runtime failure: I/O or device.
class RuntimeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kExitInput = 2;
inline constexpr int kExitRuntime = 3;

}  // namespace specsweep
