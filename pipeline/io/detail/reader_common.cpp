#include "pipeline/io/detail/reader_common.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "pipeline/io/nifti_reader.h"

namespace medseg::pipeline::detail {
namespace fs = std::filesystem;
using itk_bridge::FloatImage;

void fail_to_read(const fs::path& path, const std::string& reason) {
  throw IoError("cannot read '" + path.string() + "': " + reason);
}

std::string pixel_type_name(itk::IOComponentEnum component) {
  using C = itk::IOComponentEnum;
  switch (component) {
    case C::UCHAR: return "uint8";
    case C::CHAR: return "int8";
    case C::USHORT: return "uint16";
    case C::SHORT: return "int16";
    case C::UINT: return "uint32";
    case C::INT: return "int32";
    case C::ULONG: case C::ULONGLONG: return "uint64";
    case C::LONG: case C::LONGLONG: return "int64";
    case C::FLOAT: return "float32";
    case C::DOUBLE: return "float64";
    default: return "unknown";
  }
}

void check_geometry(const fs::path& path, const Geometry& g) {
  static const char* kAxis[3] = {"i", "j", "k"};
  for (int d = 0; d < 3; ++d) {
    if (!std::isfinite(g.spacing[d]) || g.spacing[d] <= 0.0) {
      std::ostringstream msg;
      msg << "spacing along " << kAxis[d] << " is " << g.spacing[d] << " mm; it must be positive";
      fail_to_read(path, msg.str());
    }
    if (g.size[d] < 1) fail_to_read(path, "image has no voxels");
    if (!std::isfinite(g.origin[d])) fail_to_read(path, "origin is not finite");
  }
  const auto& m = g.direction;
  const double det = m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                     m[2] * (m[3] * m[7] - m[4] * m[6]);
  if (!std::isfinite(det) || std::abs(det) < 1e-6) {
    fail_to_read(path, "direction matrix is singular (determinant " + std::to_string(det) + ")");
  }
}

Volume take_output(FloatImage::Pointer image, const fs::path& path, const std::string& pixel_type) {
  image->DisconnectPipeline();
  Volume v = itk_bridge::from_itk(image);
  v.source_path = path.string();
  v.pixel_type = pixel_type;
  refuse_non_finite(path, v.data);
  return v;
}

}  // namespace medseg::pipeline::detail
