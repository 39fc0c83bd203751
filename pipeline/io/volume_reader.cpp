// Reading volumes: one entry point (read_volume) for image files — NIfTI
// through ITK's header reader plus medseg's one-pass voxel reader, NRRD and
// MetaImage through ITK — and for DICOM (dicom_reader.cpp); label maps on top.
#include "pipeline/io/volume_reader.h"

#include <ATen/ATen.h>
#include <itkImageFileReader.h>
#include <itkImageIOFactory.h>
#include <itkMetaImageIO.h>
#include <itkNiftiImageIO.h>
#include <itkNrrdImageIO.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "pipeline/io/detail/reader_common.h"
#include "pipeline/io/dicom_seg.h"
#include "pipeline/io/image_files.h"
#include "pipeline/io/detail/itk_image.h"
#include "pipeline/io/detail/itk_messages.h"
#include "pipeline/io/detail/metaimage_check.h"
#include "pipeline/io/nifti_reader.h"
#include "pipeline/io/read_limits.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using itk_bridge::FloatImage;

namespace {

using detail::check_geometry;
using detail::pixel_type_name;
using detail::take_output;

[[noreturn]] void fail(const fs::path& path, const std::string& reason) { detail::fail_to_read(path, reason); }

// Number of meaningful dimensions: trailing axes of size 1 beyond the third
// do not count, so a NIfTI with dim[4] = 1 is a 3D volume.
unsigned effective_dimensions(const itk::ImageIOBase& io) {
  unsigned n = io.GetNumberOfDimensions();
  while (n > 3 && io.GetDimensions(n - 1) == 1) --n;
  return n;
}

std::string size_string(const itk::ImageIOBase& io) {
  std::string s;
  for (unsigned d = 0; d < io.GetNumberOfDimensions(); ++d) {
    s += (d ? "x" : "") + std::to_string(io.GetDimensions(d));
  }
  return s;
}

Volume read_file(const fs::path& path) {
  if (fs::file_size(path) == 0) fail(path, "file is empty");
  const bool nifti = is_nifti_path(path);
  if (nifti) check_nifti_header(path);  // before ITK turns a zero spacing into 1 mm
  const std::string ext = image_extension(path);
  // The IO named by the extension: ITK's factory would ask every IO,
  // GDCM's included (which reads the whole file and can abort on it).
  itk::ImageIOBase::Pointer io;
  if (nifti) {
    io = itk::NiftiImageIO::New();
  } else if (ext == ".nrrd" || ext == ".nhdr") {
    io = itk::NrrdImageIO::New();
  } else if (ext == ".mha" || ext == ".mhd") {
    detail::check_metaimage_header(path);  // before MetaIO reads it
    io = itk::MetaImageIO::New();
  } else {
    // Maybe DICOM: GDCM looks at it in a child process first.
    if (detail::is_dicom_file(path)) return detail::read_dicom_files(path, {path.string()});
    try {
      io = itk::ImageIOFactory::CreateImageIO(path.c_str(), itk::IOFileModeEnum::ReadMode);
    } catch (const itk::ExceptionObject& e) {
      fail(path, itk_messages::one_line(e));
    }
  }
  bool readable = false;
  try {
    readable = io && io->CanReadFile(path.c_str());
  } catch (const itk::ExceptionObject& e) {
    fail(path, itk_messages::one_line(e));
  }
  if (!readable) {
    fail(path, "not a recognised image (expected NIfTI .nii/.nii.gz, NRRD, MetaImage .mha/.mhd "
               "or DICOM)");
  }
  try {
    io->SetFileName(path.c_str());
    io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    fail(path, itk_messages::one_line(e));
  }
  std::vector<std::uint64_t> sizes;
  for (unsigned d = 0; d < io->GetNumberOfDimensions(); ++d) sizes.push_back(io->GetDimensions(d));
  check_voxel_count(path, sizes);
  const unsigned dims = effective_dimensions(*io);
  if (dims < 3) fail(path, "is a " + std::to_string(dims) + "D image (" + size_string(*io) +
                               "); a 3D volume is expected");
  if (dims > 3) fail(path, "is a " + std::to_string(dims) + "D image (" + size_string(*io) +
                               "); a 3D volume is expected");
  if (io->GetNumberOfComponents() != 1) {
    fail(path, "has " + std::to_string(io->GetNumberOfComponents()) +
                   " components per voxel; a scalar image is expected");
  }
  // Checked before reading the voxels: ITK would otherwise build an image
  // with unusable geometry.
  Geometry header;
  for (unsigned d = 0; d < 3; ++d) {
    header.size[d] = static_cast<std::int64_t>(io->GetDimensions(d));
    header.spacing[d] = io->GetSpacing(d);
    header.origin[d] = io->GetOrigin(d);
    const auto axis = io->GetDirection(d);
    for (unsigned r = 0; r < 3; ++r) header.direction[r * 3 + d] = axis[r];
  }
  check_geometry(path, header);

  if (nifti) {
    // ITK's geometry, our one-pass voxel reader (see nifti_reader.h).
    if (std::optional<at::Tensor> voxels = read_nifti_voxels(path, header.size)) {
      Volume v;
      v.geometry = header;
      v.data = *std::move(voxels);
      v.source_path = path.string();
      v.pixel_type = pixel_type_name(io->GetComponentType());
      return v;
    }
    check_nifti_file(path);  // a voxel type only ITK converts
  }
  auto reader = itk::ImageFileReader<FloatImage>::New();
  reader->SetFileName(path.string());
  reader->SetImageIO(io);
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    fail(path, itk_messages::one_line(e));
  }
  Volume v = take_output(reader->GetOutput(), path, pixel_type_name(io->GetComponentType()));
  check_geometry(path, v.geometry);
  return v;
}

}  // namespace

Volume read_volume(const fs::path& path, const ReadOptions& options) {
  itk_messages::silence_itk_warnings();
  const itk_messages::StderrCapture capture;
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(path, "no such file or folder");
  if (fs::is_directory(path, ec)) return detail::read_dicom_folder(path, options);
  return read_file(path);
}

}  // namespace medseg::pipeline

namespace medseg::pipeline {

Volume read_label_map(const fs::path& path, const ReadOptions& options) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && is_dicom_seg(path)) return read_dicom_seg(path, options.seg_grid);
  Volume v = read_volume(path, options);
  const at::Tensor& d = v.data;
  const at::Tensor bad = (d != d.round()) | (d < 0) | (d > 32767) | d.isnan();
  if (bad.any().item<bool>()) {
    const float value = d.masked_select(bad)[0].item<float>();
    fail(path, "label maps hold whole numbers 0..32767, found " + std::to_string(value));
  }
  v.data = d.to(at::kShort);
  return v;
}

}  // namespace medseg::pipeline
