// `medseg synth`: deterministic labelled phantoms seen through simulated scanners.
#include <iostream>
#include <memory>

#include "app/cli/command.h"
#include "core/error.h"
#include "pipeline/io/image_files.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/io/volume_writer.h"
#include "pipeline/synth/phantom.h"
#include "pipeline/synth/scanner_shift.h"

namespace medseg::app {
namespace {
namespace fs = std::filesystem;

struct SynthOptions {
  std::string output;
  int count = 1;
  std::uint64_t seed = 0;
  std::vector<std::string> profiles{"clean"};
  std::int64_t size = 64;
  double spacing = 2.0;
  std::string from;  ///< a real scan to show through the profiles instead
  std::vector<std::string> shifts;  ///< with `from`: seeded shifts instead of profiles
  bool profiles_given = false;
};

// A real scan through simulated scanners: same grid, new intensities.
int run_from_image(const SynthOptions& o) {
  const pipeline::Volume image = pipeline::read_volume(o.from);
  fs::create_directories(o.output);
  std::string stem = pipeline::case_id_of(o.from);
  if (stem.empty()) stem = fs::path(o.from).stem().string();
  const double mean_spacing = (image.geometry.spacing[0] + image.geometry.spacing[1] + image.geometry.spacing[2]) / 3.0;
  for (const auto& kind : o.shifts) {
    pipeline::Volume out = image;
    auto shifted = pipeline::apply_scanner_shift(image.data, kind, mean_spacing, o.seed);
    out.data = std::move(shifted.image);
    const fs::path path = fs::path(o.output) / (stem + "_" + kind + "_s" + std::to_string(o.seed) + ".nii.gz");
    pipeline::write_volume(out, path, pipeline::PixelType::kFloat32);
    std::cout << path.string() << "  (" << shifted.parameters << ")\n";
  }
  if (!o.shifts.empty()) return 0;
  for (const auto& name : o.profiles) {
    pipeline::Volume out = image;
    const double spacing = (image.geometry.spacing[0] + image.geometry.spacing[1] + image.geometry.spacing[2]) / 3.0;
    out.data = pipeline::simulate_scanner_on_image(image.data, pipeline::scanner_profile(name), spacing, o.seed);
    const fs::path path = fs::path(o.output) / (stem + "_" + name + ".nii.gz");
    pipeline::write_volume(out, path, pipeline::PixelType::kFloat32);
    std::cout << path.string() << "\n";
  }
  return 0;
}

int run_synth(const SynthOptions& o) {
  if (!o.shifts.empty() && o.from.empty()) throw ConfigError("--shift needs --from (a real scan to shift)");
  if (!o.shifts.empty() && o.profiles_given) throw ConfigError("--shift and --profile exclude each other");
  if (!o.from.empty()) return run_from_image(o);
  std::vector<pipeline::ScannerProfile> profiles;
  for (const auto& name : o.profiles) profiles.push_back(pipeline::scanner_profile(name));
  fs::create_directories(o.output);
  pipeline::PhantomOptions phantom_options;
  phantom_options.size = {o.size, o.size, o.size};
  phantom_options.spacing_mm = o.spacing;
  for (int i = 0; i < o.count; ++i) {
    phantom_options.seed = o.seed + static_cast<std::uint64_t>(i);
    for (const auto& profile : profiles) {
      const auto phantom = pipeline::make_phantom(phantom_options, profile);
      const std::string stem = pipeline::phantom_name(phantom_options.seed, profile.name);
      const fs::path image = fs::path(o.output) / (stem + ".nii.gz");
      const fs::path labels = fs::path(o.output) / (stem + "_labels.nii.gz");
      pipeline::write_volume(phantom.image, image, pipeline::PixelType::kFloat32);
      pipeline::write_volume(phantom.labels, labels, pipeline::PixelType::kUInt8);
      std::cout << image.string() << "\n" << labels.string() << "\n";
    }
  }
  return 0;
}

}  // namespace

Command add_synth_command(CLI::App& parent) {
  auto o = std::make_shared<SynthOptions>();
  CLI::App* cli = parent.add_subcommand(
      "synth", "Write labelled phantoms (1 organ, 2 lesion, 3 adjacent box) as NIfTI");
  cli->add_option("--output,-o", o->output, "Output folder")->required();
  cli->add_option("--count", o->count, "Number of phantoms (seeds seed .. seed+count-1)")
      ->check(CLI::PositiveNumber);
  cli->add_option("--seed", o->seed, "First seed");
  std::string profile_help = "Scanner profile(s):";
  for (const auto& name : pipeline::scanner_profile_names()) profile_help += " " + name;
  cli->add_option("--profile", o->profiles, profile_help)->check(
      CLI::IsMember(pipeline::scanner_profile_names()));
  cli->add_option("--size", o->size, "Voxels per axis")->check(CLI::Range(8, 512));
  cli->add_option("--spacing", o->spacing, "Voxel spacing in mm")->check(CLI::PositiveNumber);
  cli->add_option("--from", o->from,
                  "Instead of phantoms: show this real scan through the profile(s) (same grid; "
                  "writes STEM_PROFILE.nii.gz)");
  std::string shift_help = "With --from: seeded scanner shift(s) in the scan's own units, parameters drawn from "
                           "--seed (writes STEM_KIND_sSEED.nii.gz):";
  for (const auto& name : pipeline::scanner_shift_names()) shift_help += " " + name;
  auto* profile_option = cli->get_option("--profile");
  cli->add_option("--shift", o->shifts, shift_help)->check(CLI::IsMember(pipeline::scanner_shift_names()));
  return {cli, [o, profile_option] {
            o->profiles_given = profile_option->count() > 0;
            return run_synth(*o);
          }};
}

}  // namespace medseg::app
