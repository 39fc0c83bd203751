#include "pipeline/samples/invesalius_project.h"

#include <ATen/ATen.h>

#include <fstream>

#include "core/error.h"
#include "pipeline/samples/plist.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

namespace {

std::vector<std::int64_t> shape_of(const PlistValue& array) {
  std::vector<std::int64_t> shape;
  for (const auto& item : array.items) shape.push_back(static_cast<std::int64_t>(item.as_number()));
  return shape;
}

at::Tensor read_raw(const fs::path& file, const std::vector<std::int64_t>& shape,
                    at::ScalarType type) {
  at::Tensor t = at::empty(shape, type);
  const auto bytes = static_cast<std::streamsize>(t.numel() * t.element_size());
  std::error_code ec;
  const auto actual = fs::file_size(file, ec);
  if (ec || static_cast<std::streamsize>(actual) != bytes) {
    throw IoError("cannot read '" + file.string() + "': expected " + std::to_string(bytes) +
                  " bytes, found " + (ec ? std::string("none") : std::to_string(actual)));
  }
  std::ifstream in(file, std::ios::binary);
  in.read(static_cast<char*>(t.data_ptr()), bytes);
  if (!in) throw IoError("cannot read '" + file.string() + "': read failed");
  return t;
}

}  // namespace

InvesaliusProject read_invesalius_project(const fs::path& folder) {
  const PlistValue main = read_plist(folder / "main.plist");
  const PlistValue& matrix = main.at("matrix");
  if (matrix.at("dtype").as_string() != "int16") {
    throw IoError("cannot read '" + (folder / "main.plist").string() + "': matrix dtype '" +
                  matrix.at("dtype").as_string() + "' is not int16");
  }
  const auto shape = shape_of(matrix.at("shape"));  // (slices, rows, columns)
  if (shape.size() != 3) throw IoError("cannot read '" + folder.string() + "': matrix is not 3D");
  const PlistValue& spacing = main.at("spacing");    // (column, row, slice) in mm

  InvesaliusProject project;
  Volume& ct = project.image;
  ct.data = read_raw(folder / matrix.at("filename").as_string(), shape, at::kShort).to(at::kFloat);
  ct.geometry.size = {shape[2], shape[1], shape[0]};
  for (int d = 0; d < 3; ++d) ct.geometry.spacing[d] = spacing.items.at(d).as_number();
  ct.geometry.direction = {1, 0, 0, 0, -1, 0, 0, 0, 1};
  ct.source_path = (folder / "main.plist").string();
  ct.pixel_type = "int16";
  ct.metadata.modality = main.at("modality").as_string();

  if (main.entries.count("masks") != 0) {
    for (const auto& [index, plist_name] : main.at("masks").entries) {
      const PlistValue mask_plist = read_plist(folder / plist_name.as_string());
      const auto mask_shape = shape_of(mask_plist.at("mask_shape"));
      if (mask_shape != std::vector<std::int64_t>{shape[0] + 1, shape[1] + 1, shape[2] + 1}) {
        throw IoError("cannot read '" + (folder / plist_name.as_string()).string() +
                      "': mask shape does not match the image shape plus one");
      }
      const at::Tensor raw =
          read_raw(folder / mask_plist.at("mask_file").as_string(), mask_shape, at::kByte);
      InvesaliusMask mask;
      mask.name = mask_plist.at("name").as_string();
      mask.mask = ct;
      // InVesalius marks selected voxels with values >= 128 (254/255).
      mask.mask.data = (raw.slice(0, 1).slice(1, 1).slice(2, 1) >= 128).to(at::kFloat).contiguous();
      mask.mask.pixel_type = "uint8";
      project.masks.push_back(std::move(mask));
    }
  }
  return project;
}

}  // namespace medseg::pipeline
