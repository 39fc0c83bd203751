#pragma once
// Tensor comparisons for GoogleTest with a useful failure message.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>
#include <string>

namespace medseg::models::testing {

/// |actual − expected| <= atol + rtol · |expected| elementwise, same shape.
inline ::testing::AssertionResult all_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                            double rtol, double atol) {
  if (!actual.defined() || !expected.defined()) {
    return ::testing::AssertionFailure()
           << "undefined tensor (actual " << actual.defined() << ", expected " << expected.defined() << ")";
  }
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " vs expected " << expected.sizes();
  }
  const torch::Tensor a = actual.detach().to(torch::kDouble);
  const torch::Tensor e = expected.detach().to(torch::kDouble);
  const torch::Tensor excess = (a - e).abs() - (atol + rtol * e.abs());
  const double worst = excess.numel() == 0 ? -1.0 : excess.max().item<double>();
  if (worst <= 0.0 && !a.isnan().any().item<bool>()) return ::testing::AssertionSuccess();
  const double max_diff = (a - e).abs().max().item<double>();
  return ::testing::AssertionFailure() << "max |difference| " << max_diff << " exceeds atol " << atol
                                       << " + rtol " << rtol << "·|expected| (shape " << actual.sizes()
                                       << ", max |expected| " << e.abs().max().item<double>() << ")";
}

/// Runs `body`, expects a medseg::ModelError (or the given type) whose
/// message contains every fragment.
template <typename Error, typename Body>
::testing::AssertionResult throws_with(Body&& body, std::initializer_list<std::string> fragments) {
  try {
    body();
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const auto& fragment : fragments) {
      if (message.find(fragment) == std::string::npos) {
        return ::testing::AssertionFailure() << "message '" << message << "' lacks '" << fragment << "'";
      }
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "threw another exception: " << other.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace medseg::models::testing
