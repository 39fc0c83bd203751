// `medseg model info BUNDLE` and `medseg model export BUNDLE OUT.pt`: what a
// trained model is, and its weights for PyTorch users.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "app/cli/command.h"
#include "models/bundle.h"
#include "models/norm.h"
#include "pipeline/infer/adaptation.h"
#include "pipeline/infer/adaptation_check.h"

namespace medseg::app {
namespace {

struct ModelOptions {
  std::string bundle;
  std::string output;
  bool as_json = false;
  bool verify = false;
};

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ", ") + item;
  return s.empty() ? "-" : s;
}

std::string triples(const std::vector<models::Int3>& list, const char* fallback) {
  if (list.empty()) return fallback;
  std::string s;
  for (const auto& t : list) {
    s += (s.empty() ? "" : " ") + std::to_string(t[0]) + "x" + std::to_string(t[1]) + "x" + std::to_string(t[2]);
  }
  return s;
}

std::string architecture_text(const models::UNet3dOptions& a) {
  std::ostringstream s;
  const auto& n = a.norm();
  s << "UNet3d, " << a.in_channels() << " -> " << a.num_classes() << " channels, depth " << a.depth()
    << ", features " << a.base_features() << ".." << a.max_features() << "\n"
    << "             kernels " << triples(a.kernel_sizes(), "3x3x3") << ", strides "
    << triples(a.strides(), "1x1x1 then 2x2x2") << " (i x j x k)\n"
    << "             norm " << models::to_string(n.kind());
  if (n.kind() == models::NormKind::kBatch || n.kind() == models::NormKind::kBatchRenorm) {
    s << " (" << n.num_domains() << " domain" << (n.num_domains() == 1 ? "" : "s")
      << (n.domain_affine() ? ", affine per domain" : "") << ")";
  } else if (n.kind() == models::NormKind::kGroup) {
    s << " (" << n.num_groups() << " groups)";
  }
  if (const int64_t levels = n.instance_levels(); levels > 0) {
    const bool split = n.instance_fraction() < 1.0;  // IBN-a; else IBN
    s << ", instance norm on ";
    if (split) {
      s << std::round(100.0 * n.instance_fraction()) << " % of the channels";
    } else {
      s << "every channel";
    }
    s << " of the first " << (levels == 1 ? "encoder level" : std::to_string(levels) + " encoder levels")
      << (split ? " (IBN-a)" : " (IBN)");
  }
  s << ", upsample " << (a.upsample() == models::UpsampleKind::kTransposedConv ? "transposed_conv" : "pixel_shuffle")
    << (a.deep_supervision() ? ", deep supervision" : "") << (a.dropout() > 0 ? ", dropout " : "");
  if (a.dropout() > 0) s << a.dropout();
  return s.str();
}

/// Whose a setting of --domain auto is: the bundle's, or medseg's default.
const char* whose(bool set_by_model) { return set_by_model ? "this model's" : "medseg's default"; }

/// What --domain auto does by default with this model: the methods it tries,
/// whether the safety check decides and with which threshold, and whose
/// setting each is.
std::string adaptation_text(const models::BundleInfo& info) {
  if (!pipeline::has_batch_statistics(info.architecture)) return "- (no batch statistics to adapt)";
  std::string methods;
  for (const auto& m : info.adapt_methods) methods += (methods.empty() ? "" : ",") + m;
  const char* whose_methods = whose(!methods.empty());
  if (methods.empty()) methods = pipeline::to_string(pipeline::kDefaultAdaptMethods);
  std::string text = "--domain auto tries " + methods + " (" + whose_methods + "); ";
  if (info.adapt_prior_windows || info.adapt_prior_strength) {
    // Say what the strength means (the model's share N / (N + n) of the mix)
    // and whose each number is: a model may set one and leave the other.
    const pipeline::AdaptationOptions defaults;
    const auto windows = info.adapt_prior_windows.value_or(defaults.windows_per_image);
    const double strength = info.adapt_prior_strength.value_or(defaults.prior_strength);
    const char* whose_strength = whose(info.adapt_prior_strength.has_value());
    char prior[120];
    std::snprintf(prior, sizeof prior, "prior draws %lld windows (%s) and ", static_cast<long long>(windows),
                  whose(info.adapt_prior_windows.has_value()));
    char weight[120];
    if (strength == 0.0) {
      std::snprintf(weight, sizeof weight, "uses the scan's statistics alone (%s); ", whose_strength);
    } else {
      std::snprintf(weight, sizeof weight, "gives the model's statistics %.2f of the weight (strength %g, %s); ",
                    strength / (strength + static_cast<double>(windows)), strength, whose_strength);
    }
    text += std::string(prior) + weight;
  }
  if (!info.adapt_check.value_or(true)) return text + "used without the check (this model's)";
  char check[120];
  std::snprintf(check, sizeof check, "keeps statistics that relabel >= %g %% of the body (%s)",
                100.0 * info.adapt_min_change.value_or(pipeline::AdaptationCheckOptions{}.min_change),
                whose(info.adapt_min_change.has_value()));
  return text + check;
}

void print_text(const models::BundleInfo& info, const std::string& path) {
  std::cout << "bundle       " << path << "\n"
            << "name         " << info.name << " (version " << info.version << ")\n"
            << "labels       ";
  for (size_t i = 0; i < info.labels.size(); ++i) {
    const auto& l = info.labels[i];
    char color[8];
    std::snprintf(color, sizeof(color), "#%02x%02x%02x", l.color[0], l.color[1], l.color[2]);
    std::cout << (i ? ", " : "") << l.value << "=" << l.name << " " << color;
  }
  std::cout << "\nchannels     " << joined(info.channel_names) << "\n"
            << "domains      " << joined(info.domains) << "\n"
            << "architecture " << architecture_text(info.architecture) << "\n"
            << "patch        " << info.patch_size[0] << " x " << info.patch_size[1] << " x " << info.patch_size[2]
            << " voxels\n"
            << "adaptation   " << adaptation_text(info) << "\n"
            << "created      " << (info.provenance.created.empty() ? "-" : info.provenance.created) << " by medseg "
            << (info.provenance.medseg_version.empty() ? "-" : info.provenance.medseg_version) << "\n"
            << "metrics      ";
  if (info.provenance.metrics.empty()) std::cout << "-";
  bool first = true;
  for (const auto& [key, value] : info.provenance.metrics) {
    std::cout << (first ? "" : ", ") << key << " " << std::setprecision(6) << value;
    first = false;
  }
  std::cout << "\n";
}

int run_info(const ModelOptions& o) {
  // --verify reads the weights too (checksum, every tensor against the architecture).
  const models::BundleInfo info = o.verify ? models::load_bundle(o.bundle).info : models::read_bundle_info(o.bundle);
  if (o.as_json) {
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(models::bundle_info_to_json(info));
    if (o.verify) j["weights_verified"] = true;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  print_text(info, o.bundle);
  if (o.verify) std::cout << "weights      verified (checksum, names, shapes)\n";
  return 0;
}

int run_export(const ModelOptions& o) {
  models::Bundle bundle = models::load_bundle(o.bundle);
  models::export_state_dict(bundle.model, o.output);
  const size_t tensors = bundle.model->named_parameters().size() + bundle.model->named_buffers().size();
  std::cout << "wrote " << o.output << " (" << tensors << " tensors; in Python: torch.load(path))\n";
  return 0;
}

}  // namespace

Command add_model_command(CLI::App& parent) {
  auto o = std::make_shared<ModelOptions>();
  CLI::App* cli = parent.add_subcommand("model", "Show or export a trained model bundle (model.yaml + weights.pt)");
  cli->require_subcommand(1);
  CLI::App* info = cli->add_subcommand("info", "Print a bundle's labels, domains, architecture and provenance");
  info->add_option("bundle", o->bundle, "Bundle folder")->required();
  info->add_flag("--json", o->as_json, "Print JSON (the keys of model.yaml)");
  info->add_flag("--verify", o->verify, "Also read weights.pt and check it against the architecture");
  CLI::App* exp = cli->add_subcommand("export", "Write the weights as a PyTorch state dict (torch.load reads it)");
  exp->add_option("bundle", o->bundle, "Bundle folder")->required();
  exp->add_option("output", o->output, "Output .pt file")->required();
  return {cli, [o, info] { return info->parsed() ? run_info(*o) : run_export(*o); }};
}

}  // namespace medseg::app
