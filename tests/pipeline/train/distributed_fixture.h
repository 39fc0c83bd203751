#pragma once
// What the data-parallel tests compute, shared by the worker processes
// (distributed_worker.cpp, one per rank) and the single-process reference
// (distributed_training_test.cpp): deterministic global batches whose rows
// are split between the ranks, a small two-domain U-Net, and training steps.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "models/losses.h"
#include "models/unet3d.h"
#include "pipeline/train/gradient_averaging.h"
#include "pipeline/train/process_group.h"

namespace medseg::test::distributed {

constexpr std::int64_t kRanks = 2;
constexpr std::int64_t kBatchPerRank = 3;
constexpr std::int64_t kSteps = 4;

/// Rows of rank r: r * kBatchPerRank ... Domains per step, rank 0 | rank 1:
/// even steps 0 0 1 | 0 0 0 (domain 1 absent on rank 1, domain 0 split 2:3),
/// odd steps 1 1 1 | 1 0 1 (domain 0 absent on rank 0, domain 1 split 3:2).
struct GlobalBatch {
  torch::Tensor image;    ///< (6, 1, 8, 8, 8)
  torch::Tensor labels;   ///< (6, 8, 8, 8) in 0..2
  torch::Tensor domains;  ///< (6)
};

inline GlobalBatch global_batch(std::int64_t step) {
  torch::manual_seed(1000 + static_cast<std::uint64_t>(step));
  GlobalBatch b;
  b.labels = torch::randint(0, 3, {kRanks * kBatchPerRank, 8, 8, 8}, torch::kLong);
  b.image = (b.labels.to(torch::kFloat) + 0.7 * torch::randn({kRanks * kBatchPerRank, 8, 8, 8})).unsqueeze(1);
  b.domains = step % 2 == 0 ? torch::tensor({0, 0, 1, 0, 0, 0}, torch::kLong)
                            : torch::tensor({1, 1, 1, 1, 0, 1}, torch::kLong);
  // Domain 1 "is another scanner": brighter and noisier.
  b.image = b.image + (b.domains.to(torch::kFloat) * 2.0).view({-1, 1, 1, 1, 1});
  return b;
}

inline models::UNet3d make_model() {
  torch::manual_seed(7);
  models::UNet3d net(models::UNet3dOptions(1, 3)
                         .base_features(4)
                         .depth(2)
                         .deep_supervision(true)
                         .norm(models::NormOptions(models::NormKind::kBatch).num_domains(2)));
  net->train();
  return net;
}

inline torch::optim::SGD make_optimizer(models::UNet3d& net) {
  return torch::optim::SGD(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9).nesterov(true));
}

/// kSteps SGD steps on rows [first, first + rows) of each global batch; with a
/// group, gradients are averaged over it after each backward (as the trainer
/// does). Returns the losses (means over the ranks).
inline std::vector<double> train_steps(models::UNet3d& net, torch::optim::SGD& optimizer,
                                       pipeline::ProcessGroup* group, std::int64_t first, std::int64_t rows) {
  std::vector<double> losses;
  const auto parameters = net->parameters();
  for (std::int64_t step = 0; step < kSteps; ++step) {
    const GlobalBatch b = global_batch(step);
    optimizer.zero_grad();
    const auto outputs = net->forward_all(b.image.narrow(0, first, rows), b.domains.narrow(0, first, rows));
    const torch::Tensor loss = models::deep_supervision_loss(outputs, b.labels.narrow(0, first, rows));
    loss.backward();
    double value = loss.item<double>();
    if (group) value = pipeline::average_gradients(parameters, value, *group);
    optimizer.step();
    losses.push_back(value);
  }
  return losses;
}

/// Parameters then buffers, in the module's order.
inline std::vector<torch::Tensor> state_of(const models::UNet3d& net) {
  std::vector<torch::Tensor> state;
  for (const auto& p : net->parameters()) state.push_back(p.detach().clone());
  for (const auto& b : net->buffers()) state.push_back(b.clone());
  return state;
}

// --- synchronized batch norm on its own -------------------------------------

constexpr std::int64_t kBnChannels = 3;

/// Uneven shares: rank 0 holds rows 0..2 (domains 0 1 1), rank 1 rows 3..4
/// (domains 0 0): domain 1 is absent on rank 1.
inline std::int64_t bn_first_row(std::int64_t rank) { return rank == 0 ? 0 : 3; }
inline std::int64_t bn_rows(std::int64_t rank) { return rank == 0 ? 3 : 2; }

struct BnInput {
  torch::Tensor x;        ///< (5, 3, 4, 4, 4)
  torch::Tensor domains;  ///< (5)
  torch::Tensor dy;       ///< upstream gradient, same shape as x
};

inline BnInput bn_input(std::int64_t pass) {
  torch::manual_seed(2000 + static_cast<std::uint64_t>(pass));
  BnInput in;
  in.domains = torch::tensor({0, 1, 1, 0, 0}, torch::kLong);
  in.x = torch::randn({5, kBnChannels, 4, 4, 4}) * (1.0 + in.domains.to(torch::kFloat).view({-1, 1, 1, 1, 1})) +
         3.0 * in.domains.to(torch::kFloat).view({-1, 1, 1, 1, 1});
  in.dy = torch::randn({5, kBnChannels, 4, 4, 4});
  return in;
}

}  // namespace medseg::test::distributed
