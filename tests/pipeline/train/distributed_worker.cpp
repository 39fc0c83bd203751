// One rank of the data-parallel tests (distributed_training_test.cpp starts
// two). Usage: distributed_worker MODE RANK PORT OUT_FILE [TIMEOUT_S]
//   steps   trains the fixture's U-Net for kSteps steps on this rank's rows
//           with averaged gradients and synchronized batch norm; saves the
//           parameters and buffers
//   steps_local  the same with each rank's batch norm on its own rows
//           (training.sync_batch_norm: false)
//   syncbn  two forward/backward passes through one synchronized
//           DomainBatchNorm; saves outputs, input gradients, the local γ/β
//           gradients and the running statistics
//   hang    joins; rank 1 then sleeps 15 s instead of taking part in the first
//           all-reduce
// Exit code 0, or 1 with one line on stderr.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

#include "core/error_message.h"
#include "models/domain_batch_norm.h"
#include "pipeline/train/process_group.h"
#include "pipeline/train/synced_batch_norm.h"
#include "tests/pipeline/train/distributed_fixture.h"

using namespace medseg;
using namespace medseg::test::distributed;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: distributed_worker steps|steps_local|syncbn|hang RANK PORT OUT_FILE [TIMEOUT_S]\n";
    return 2;
  }
  try {
    const std::string mode = argv[1];
    pipeline::ProcessGroupOptions o;
    o.rank = std::stoi(argv[2]);
    o.world_size = static_cast<int>(kRanks);
    o.store_port = std::stoi(argv[3]);
    o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(1000 * (argc > 5 ? std::stod(argv[5]) : 60.0)));
    at::set_num_threads(1);
    pipeline::ProcessGroup group(o);
    auto reduction = std::make_shared<pipeline::ProcessGroupBatchStatsReduction>(group);
    std::vector<torch::Tensor> out;
    if (mode == "steps" || mode == "steps_local") {
      auto net = make_model();
      if (mode == "steps") pipeline::set_batch_stats_reduction(*net, reduction);
      auto optimizer = make_optimizer(net);
      train_steps(net, optimizer, &group, o.rank * kBatchPerRank, kBatchPerRank);
      out = state_of(net);
    } else if (mode == "syncbn") {
      torch::manual_seed(5);
      models::DomainBatchNorm bn(models::DomainBatchNormOptions(kBnChannels).num_domains(2));
      {
        torch::NoGradGuard no_grad;
        bn->weight.uniform_(0.5, 1.5);
        bn->bias.uniform_(-0.5, 0.5);
      }
      bn->set_reduction(reduction);
      for (std::int64_t pass = 0; pass < 2; ++pass) {
        const BnInput in = bn_input(pass);
        const auto first = bn_first_row(o.rank), rows = bn_rows(o.rank);
        const torch::Tensor x = in.x.narrow(0, first, rows).clone().requires_grad_(true);
        bn->zero_grad();
        const torch::Tensor y = bn(x, in.domains.narrow(0, first, rows));
        (y * in.dy.narrow(0, first, rows)).sum().backward();
        out.insert(out.end(), {y.detach(), x.grad(), bn->weight.grad().clone(), bn->bias.grad().clone()});
      }
      out.insert(out.end(), {bn->running_mean.clone(), bn->running_var.clone(), bn->num_batches_tracked.clone()});
    } else if (mode == "hang") {
      if (o.rank == 1) {
        ::sleep(15);  // joined, then silent (a rank stuck or stopped) past rank 0's timeout
        return 0;
      }
      torch::Tensor t = torch::ones({4});
      const auto start = std::chrono::steady_clock::now();
      try {
        group.all_reduce_sum(t, "all-reduce of the gradients");
      } catch (...) {
        // How long the failing all-reduce took, apart from process start-up.
        std::ofstream(std::string(argv[4]) + ".seconds")
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        throw;
      }
    } else {
      std::cerr << "distributed_worker: unknown mode '" << mode << "'\n";
      return 2;
    }
    torch::save(out, argv[4]);
    return 0;
  } catch (...) {
    std::cerr << core::current_exception_line() << "\n";
    return 1;
  }
}
