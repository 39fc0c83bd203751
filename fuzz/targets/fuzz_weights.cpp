// weights.pt through load_bundle, as a crafted bundle would bring it, with
// model.yaml (a tiny U-Net's, written at start-up by save_bundle) given the
// weights' checksum, because a checksum says nothing against someone who
// writes both files. Two kinds of input:
// - a zip archive ("PK\3\4..."): the whole weights.pt, for the zip reader;
// - anything else: the pickle (data.pkl), which the target packs into a
//   valid archive together with the tiny U-Net's tensor records. Mutating a
//   whole archive almost only breaks its CRCs; this way the mutations reach
//   the unpickler, as a crafted file would.
//
// With MEDSEG_FUZZ_SEED_DIR set, the tiny bundle's weights.pt and its
// data.pkl are copied there as seeds (scripts/fuzz.sh does this).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>

#include <vector>

#include "core/hash.h"
#include "fuzz/fuzz_common.h"
#include "models/bundle.h"
#include "models/unet3d.h"

namespace {

std::filesystem::path bundle_dir;
std::string yaml_before, yaml_after;  // model.yaml around the checksum's value
std::vector<std::string> tensor_records;  // data/0, data/1, ... of the tiny bundle

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string record(caffe2::serialize::PyTorchStreamReader& reader, const std::string& name) {
  const auto [data, size] = reader.getRecord(name);
  return std::string(static_cast<const char*>(data.get()), size);
}

std::string archive_with_pickle(const std::uint8_t* pickle, std::size_t size) {
  std::string zip;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t n) {
    zip.append(static_cast<const char*>(data), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle, size);
  for (std::size_t k = 0; k < tensor_records.size(); ++k) {
    writer.writeRecord("data/" + std::to_string(k), tensor_records[k].data(), tensor_records[k].size());
  }
  writer.writeEndOfFile();
  return zip;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  namespace fs = std::filesystem;
  bundle_dir = medseg::fuzz::scratch() / "bundle";
  // The smallest U-Net medseg builds (a few KB of weights), batch norm with
  // two domains so that every kind of tensor (float weights, running
  // statistics, int64 counters) is in the file.
  medseg::models::NormOptions norm(medseg::models::NormKind::kBatch);
  norm.num_domains(2);
  medseg::models::UNet3dOptions options(1, 2);
  options.base_features(2).max_features(4).depth(1).norm(norm);
  medseg::models::UNet3d model(options);
  medseg::models::BundleInfo info;
  info.name = "fuzz";
  info.version = "1";
  info.architecture = model->options;
  info.channel_names = {"ch0"};
  info.labels = {{0, "background", {0, 0, 0}}, {1, "organ", {255, 0, 0}}};
  info.domains = {"a", "b"};
  info.patch_size = {8, 8, 8};
  medseg::models::save_bundle(bundle_dir, info, model);
  const std::string yaml = slurp(bundle_dir / "model.yaml");
  const std::string key = "fnv1a64: ";
  const std::size_t at = yaml.find(key);
  if (at == std::string::npos) std::abort();
  // The value is quoted or not, as it happens to look numeric: the whole
  // rest of the line is replaced by the quoted checksum.
  yaml_before = yaml.substr(0, at + key.size());
  yaml_after = yaml.substr(yaml.find('\n', at));
  const std::string weights = slurp(bundle_dir / "weights.pt");
  caffe2::serialize::PyTorchStreamReader reader(
      std::make_shared<caffe2::serialize::MemoryReadAdapter>(weights.data(), weights.size()));
  for (std::size_t k = 0; reader.hasRecord("data/" + std::to_string(k)); ++k) {
    tensor_records.push_back(record(reader, "data/" + std::to_string(k)));
  }
  if (const char* seeds = std::getenv("MEDSEG_FUZZ_SEED_DIR"); seeds && *seeds) {
    fs::create_directories(seeds);
    std::ofstream(fs::path(seeds) / "tiny_unet_weights.pt", std::ios::binary) << weights;
    std::ofstream(fs::path(seeds) / "tiny_unet_data.pkl", std::ios::binary) << record(reader, "data.pkl");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool zip = size >= 4 && std::memcmp(data, "PK\3\4", 4) == 0;
  const std::string packed = zip ? std::string() : archive_with_pickle(data, size);
  const std::string_view weights =
      zip ? std::string_view(reinterpret_cast<const char*>(data), size) : std::string_view(packed);
  medseg::fuzz::write_file(bundle_dir / "weights.pt", reinterpret_cast<const std::uint8_t*>(weights.data()),
                           weights.size());
  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016llx",
                static_cast<unsigned long long>(medseg::core::fnv1a(weights)));
  const std::string yaml = yaml_before + '"' + checksum + '"' + yaml_after;
  medseg::fuzz::write_file(bundle_dir / "model.yaml", reinterpret_cast<const std::uint8_t*>(yaml.data()), yaml.size());
  medseg::fuzz::run_one([&] { medseg::models::load_bundle(bundle_dir); });
  return 0;
}
