// Training configs through load_train_config (core::Fields and the config
// validation), then to_yaml and a second load of what to_yaml wrote: a
// config that loads once must load again ("loading it again gives the same
// TrainConfig", train_config.h), so a failure there is a finding too.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <unistd.h>

#include "fuzz/fuzz_common.h"
#include "pipeline/config/train_config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The seeds' dataset.source (fuzz/make_seeds.py): a folder that exists.
  std::filesystem::create_directories(medseg::fuzz::scratch() / "data");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto path = medseg::fuzz::scratch() / "config.yaml";
  static const auto again = medseg::fuzz::scratch() / "config_again.yaml";
  medseg::fuzz::write_file(path, data, size);
  medseg::fuzz::run_one([&] {
    const medseg::pipeline::TrainConfig config = medseg::pipeline::load_train_config(path);
    const std::string yaml = medseg::pipeline::to_yaml(config);
    medseg::fuzz::write_file(again, reinterpret_cast<const std::uint8_t*>(yaml.data()), yaml.size());
    try {
      medseg::pipeline::load_train_config(again);
    } catch (const medseg::Error& e) {
      const std::string line = std::string("medseg-fuzz: to_yaml wrote a config that does not load: ") + e.what() + "\n";
      (void)!::write(medseg::fuzz::original_stderr(), line.data(), line.size());
      std::abort();
    }
  });
  return 0;
}
