#include "pipeline/synth/scanner_profile.h"

#include "models/error.h"

namespace medseg::pipeline {

ScannerProfile scanner_profile(const std::string& name) {
  ScannerProfile p;
  p.name = name;
  if (name == "clean") return p;
  if (name == "scanner_a") {  // MR-like units, mild bias
    p.gain = 1000.0;
    p.bias = 0.1;
    p.noise = 0.03;
    return p;
  }
  if (name == "scanner_b") {  // other scale and offset, compressed contrast, blurrier
    p.gain = 400.0;
    p.offset = 100.0;
    p.gamma = 0.6;
    p.bias = 0.25;
    p.noise = 0.05;
    p.blur_mm = 1.0;
    return p;
  }
  if (name == "scanner_c") {  // inverted contrast (T2-like), expanded contrast
    p.gain = 800.0;
    p.offset = -50.0;
    p.gamma = 1.4;
    p.invert = true;
    p.bias = 0.15;
    p.noise = 0.04;
    p.blur_mm = 0.5;
    return p;
  }
  std::string known;
  for (const auto& n : scanner_profile_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("unknown scanner profile '" + name + "' (known: " + known + ")");
}

std::vector<std::string> scanner_profile_names() {
  return {"clean", "scanner_a", "scanner_b", "scanner_c"};
}

}  // namespace medseg::pipeline
