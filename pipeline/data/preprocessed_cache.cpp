#include "pipeline/data/preprocessed_cache.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "pipeline/io/volume_reader.h"
#include "pipeline/preprocess/plan_json.h"
#include "pipeline/random.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json source_signature(const CaseEntry& e) {
  json files = json::array();
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
    files.push_back({{"path", fs::absolute(p).string()}, {"size", ec ? 0 : size}, {"mtime", ec ? 0 : time}});
  };
  for (const auto& p : e.images) add(p);
  if (!e.label.empty()) add(e.label);
  return files;
}

void write_tensor(std::ofstream& out, const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
}

at::Tensor read_tensor(std::ifstream& in, const std::vector<std::int64_t>& shape, at::ScalarType type) {
  at::Tensor t = at::empty(shape, type);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  if (!in) throw IoError("preprocessed cache: data file is shorter than its index says");
  return t;
}

}  // namespace

std::string plan_key(const PreprocessingPlan& plan) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(fnv1a(plan_to_json(plan))));
  return hex;
}

PreprocessedCache::PreprocessedCache(fs::path root, const PreprocessingPlan& plan)
    : folder_(std::move(root) / plan_key(plan)) {}

std::optional<PreprocessedCase> PreprocessedCache::load(const CaseEntry& entry) const {
  const fs::path index = folder_ / (entry.id + ".json");
  const fs::path data = folder_ / (entry.id + ".bin");
  std::error_code ec;
  if (!fs::exists(index, ec) || !fs::exists(data, ec)) return std::nullopt;
  json j;
  try {
    std::ifstream in(index);
    j = json::parse(in);
  } catch (const json::exception&) {
    return std::nullopt;  // a damaged index is recomputed, not trusted
  }
  if (j.value("source", json()) != source_signature(entry)) return std::nullopt;
  PreprocessedCase c;
  std::ifstream in(data, std::ios::binary);
  c.image.geometry = geometry_from_json(j.at("image_geometry").dump());
  c.image.data = read_tensor(in, j.at("image_shape").get<std::vector<std::int64_t>>(), at::kFloat);
  c.image.pixel_type = "float32";
  if (j.contains("labels_geometry")) {
    Volume labels;
    labels.geometry = geometry_from_json(j.at("labels_geometry").dump());
    labels.data = read_tensor(in, j.at("labels_shape").get<std::vector<std::int64_t>>(), at::kShort);
    labels.pixel_type = "int16";
    c.labels = labels;
  }
  for (const auto& r : j.at("records")) {
    SpatialRecord rec;
    rec.step = kSpatialStepNames.parse(r.at("step").get<std::string>());
    rec.before = geometry_from_json(r.at("before").dump());
    c.records.push_back(rec);
  }
  return c;
}

void PreprocessedCache::store(const CaseEntry& entry, const PreprocessedCase& c) const {
  fs::create_directories(folder_);
  core::remove_stale_temporaries(folder_);
  const fs::path data = folder_ / (entry.id + ".bin");
  const fs::path index = folder_ / (entry.id + ".json");
  json j;
  j["source"] = source_signature(entry);
  j["image_geometry"] = json::parse(geometry_to_json(c.image.geometry));
  j["image_shape"] = c.image.data.sizes().vec();
  if (c.labels) {
    j["labels_geometry"] = json::parse(geometry_to_json(c.labels->geometry));
    j["labels_shape"] = c.labels->data.sizes().vec();
  }
  j["records"] = json::array();
  for (const auto& r : c.records) {
    j["records"].push_back({{"step", to_string(r.step)}, {"before", json::parse(geometry_to_json(r.before))}});
  }
  // Data first, index second: an index is only ever there with its data.
  core::write_file_atomically(data, [&](const fs::path& temp) {
    std::ofstream out(temp, std::ios::binary);
    write_tensor(out, c.image.data.to(at::kFloat));
    if (c.labels) write_tensor(out, c.labels->data.to(at::kShort));
    if (!out) throw IoError("cannot write '" + data.string() + "': disk full or not writable");
  });
  core::write_text_file_atomically(index, j.dump());
}

PreprocessedCase PreprocessedCache::get_or_compute(const CaseEntry& entry, const Preprocessor& pre) const {
  if (auto cached = load(entry)) return *cached;
  std::vector<Volume> channels;
  for (const auto& file : entry.images) channels.push_back(read_volume(file));
  std::optional<Volume> labels;
  if (!entry.label.empty()) labels = read_label_map(entry.label);
  PreprocessedCase c = pre(channels, labels ? &*labels : nullptr);
  store(entry, c);
  return c;
}

}  // namespace medseg::pipeline
