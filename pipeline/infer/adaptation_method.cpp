#include "pipeline/infer/adaptation_method.h"

#include <algorithm>

#include "core/error.h"

namespace medseg::pipeline {

AdaptationMethod parse_adaptation_method(const std::string& name) {
  if (name == "adabn") return AdaptationMethod::kAdaBN;
  if (name == "prior") return AdaptationMethod::kPrior;
  if (name == "tent") return AdaptationMethod::kTent;
  throw ConfigError("unknown adaptation method '" + name + "' (use adabn, prior or tent)");
}

std::string to_string(AdaptationMethod method) {
  switch (method) {
    case AdaptationMethod::kAdaBN: return "adabn";
    case AdaptationMethod::kPrior: return "prior";
    case AdaptationMethod::kTent: return "tent";
  }
  return "?";
}

std::vector<AdaptationMethod> parse_adaptation_methods(const std::string& names) {
  std::vector<AdaptationMethod> methods;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = names.find(',', start);
    const AdaptationMethod m = parse_adaptation_method(names.substr(start, comma - start));
    if (std::find(methods.begin(), methods.end(), m) != methods.end()) {
      throw ConfigError("adaptation method '" + to_string(m) + "' is listed twice in '" + names + "'");
    }
    methods.push_back(m);
    if (comma == std::string::npos) return methods;
    start = comma + 1;
  }
}

std::vector<AdaptationMethod> parse_adaptation_methods(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) joined += (joined.empty() ? "" : ",") + name;
  return parse_adaptation_methods(joined);
}

std::string to_string(const std::vector<AdaptationMethod>& methods) {
  std::string joined;
  for (const AdaptationMethod m : methods) joined += (joined.empty() ? "" : ",") + to_string(m);
  return joined;
}

}  // namespace medseg::pipeline
