// weights.pt through load_bundle, as a crafted bundle would bring it: the
// input is the weights file, and model.yaml (a tiny U-Net's, written at
// start-up by save_bundle) gets the input's checksum, because a checksum
// says nothing against someone who writes both files. So every input reaches
// the PyTorch zip reader, torch::pickle_load and the tensor checks.
//
// With MEDSEG_FUZZ_SEED_DIR set, the tiny bundle's own weights.pt is copied
// there as a seed (scripts/fuzz.sh does this before the first run).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "core/hash.h"
#include "fuzz/fuzz_common.h"
#include "models/bundle.h"
#include "tests/pipeline/common/tiny_bundle.h"

namespace {

std::filesystem::path bundle_dir;
std::string yaml_before, yaml_after;  // model.yaml around the checksum's 16 hex digits

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  bundle_dir = medseg::fuzz::scratch() / "bundle";
  medseg::test::TinyBundleSpec spec;
  spec.depth = 1;  // the smallest network: a 10 KB weights.pt
  medseg::test::save_tiny_bundle(bundle_dir, spec);
  std::ifstream in(bundle_dir / "model.yaml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string yaml = text.str();
  const std::string key = "fnv1a64: ";
  const std::size_t at = yaml.find(key);
  if (at == std::string::npos) std::abort();
  yaml_before = yaml.substr(0, at + key.size());
  yaml_after = yaml.substr(at + key.size() + 16);
  if (const char* seeds = std::getenv("MEDSEG_FUZZ_SEED_DIR"); seeds && *seeds) {
    fs::create_directories(seeds);
    fs::copy_file(bundle_dir / "weights.pt", fs::path(seeds) / "tiny_unet_weights.pt",
                  fs::copy_options::overwrite_existing);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  medseg::fuzz::write_file(bundle_dir / "weights.pt", data, size);
  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016llx",
                static_cast<unsigned long long>(
                    medseg::core::fnv1a(std::string_view(reinterpret_cast<const char*>(data), size))));
  const std::string yaml = yaml_before + checksum + yaml_after;
  medseg::fuzz::write_file(bundle_dir / "model.yaml", reinterpret_cast<const std::uint8_t*>(yaml.data()), yaml.size());
  medseg::fuzz::run_one([&] { medseg::models::load_bundle(bundle_dir); });
  return 0;
}
