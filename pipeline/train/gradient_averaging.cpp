#include "pipeline/train/gradient_averaging.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "core/error.h"

namespace medseg::pipeline {

double average_gradients(const std::vector<at::Tensor>& parameters, double local_loss, ProcessGroup& group) {
  at::NoGradGuard no_grad;
  const auto n = static_cast<std::int64_t>(parameters.size());
  std::int64_t values = 0;
  for (const auto& p : parameters) values += p.numel();
  at::Tensor bucket = at::zeros({values + n + 1}, at::kFloat);
  std::int64_t offset = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const at::Tensor& p = parameters[static_cast<std::size_t>(i)];
    const at::Tensor& g = p.grad();
    if (g.defined()) {
      bucket.narrow(0, offset, p.numel()).copy_(g.reshape({-1}));
      bucket.data_ptr<float>()[values + i] = 1.0F;
    }
    offset += p.numel();
  }
  bucket.data_ptr<float>()[values + n] = static_cast<float>(local_loss);
  group.all_reduce_sum(bucket, "all-reduce of the gradients");
  bucket.div_(static_cast<double>(group.world_size()));
  const float* flags = bucket.data_ptr<float>() + values;
  offset = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    at::Tensor p = parameters[static_cast<std::size_t>(i)];
    const bool defined_somewhere = flags[i] > 0.0F;
    if (defined_somewhere) {
      const at::Tensor mean = bucket.narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.to(p.options()).clone();
      }
    }
    offset += p.numel();
  }
  return static_cast<double>(flags[n]);
}

}  // namespace medseg::pipeline
