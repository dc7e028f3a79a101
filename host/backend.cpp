#include "backend.hpp"

namespace specsweep {

Status classify(bool diverged, double excess, double relative_grad_norm, const CellProblem& cp) {
  if (diverged) return Status::diverged;
  if (excess <= cp.config.record.loss_tolerance) return Status::converged;
  if (relative_grad_norm <= cp.config.record.grad_tolerance) return Status::stalled;
  return Status::unconverged;
}

}  // namespace specsweep
