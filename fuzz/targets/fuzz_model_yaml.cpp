// model.yaml through read_bundle_info (models/bundle_format: the format
// version, architecture, labels, preprocessing plan as JSON, provenance),
// then bundle_info_to_json as `medseg model info --json` prints it.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_common.h"
#include "models/bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = [] {
    const auto d = medseg::fuzz::scratch() / "bundle";
    std::filesystem::create_directories(d);
    return d;
  }();
  medseg::fuzz::write_file(dir / "model.yaml", data, size);
  medseg::fuzz::run_one([&] {
    const medseg::models::BundleInfo info = medseg::models::read_bundle_info(dir);
    (void)medseg::models::bundle_info_to_json(info);
  });
  return 0;
}
