#pragma once
// Shared by the DomainBatchNorm test files (layer computations, domains).
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace medseg::models::testing {

inline constexpr double kTol = 1e-5;  // float32 agreement required by the issue

// Every parameter and buffer by name, detached copies.
inline std::vector<std::pair<std::string, torch::Tensor>> snapshot(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : module.named_buffers()) out.emplace_back(b.key(), b.value().detach().clone());
  return out;
}

inline void randomize_affine(const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::NoGradGuard no_grad;
  weight.uniform_(0.5, 1.5);
  bias.uniform_(-0.5, 0.5);
}

inline torch::Tensor ids_of(std::vector<int64_t> ids) { return torch::tensor(ids, torch::kLong); }

}  // namespace medseg::models::testing
