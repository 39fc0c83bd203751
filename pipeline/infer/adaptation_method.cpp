#include "pipeline/infer/adaptation_method.h"

#include <algorithm>

#include "core/enum_names.h"
#include "core/error.h"

namespace medseg::pipeline {

namespace {

constexpr core::EnumNames<AdaptationMethod, 3> kNames{
    "adaptation method",
    {{{AdaptationMethod::kAdaBN, "adabn"}, {AdaptationMethod::kPrior, "prior"}, {AdaptationMethod::kTent, "tent"}}}};

}  // namespace

AdaptationMethod parse_adaptation_method(const std::string& name) { return kNames.parse(name); }

std::string to_string(AdaptationMethod method) { return kNames.name(method); }

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
