// DICOM series: listing a folder's series (with files GDCM cannot be handed
// screened out) and reading a series with its slices decoded on all threads.
// ITK's series reader decides the geometry; slice order and spacing are
// checked in dicom_slice_check.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImageFileReader.h>
#include <itkImageSeriesReader.h>
#include <itkMetaDataObject.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "core/error.h"
#include "pipeline/io/detail/reader_common.h"
#include "pipeline/io/dicom_screen.h"
#include "pipeline/io/detail/dicom_slice_check.h"
#include "pipeline/io/detail/itk_messages.h"
#include "pipeline/io/volume_reader.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
using detail::check_geometry;
using detail::pixel_type_name;
using detail::take_output;
using itk_bridge::FloatImage;

namespace {

[[noreturn]] void fail(const fs::path& path, const std::string& reason) { detail::fail_to_read(path, reason); }

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::string dicom_tag(const itk::MetaDataDictionary& dict, const std::string& tag) {
  std::string value;
  itk::ExposeMetaData<std::string>(dict, tag, value);
  return trim(value);
}

// GDCM scans a whole folder to list its series, so a file it cannot be
// handed (gdcm_crash_reason) is kept out by listing a private folder of
// links to the other files instead; the paths returned are the real ones.
class ScreenedFolder {
 public:
  explicit ScreenedFolder(const fs::path& folder) : folder_(folder) {
    std::vector<fs::path> safe;
    bool excluded = false;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (!entry.is_regular_file(ec)) continue;
      if (gdcm_crash_reason(entry.path().string()).empty()) {
        safe.push_back(entry.path());
      } else {
        excluded = true;
      }
    }
    if (!excluded) return;
    static std::atomic<int> counter{0};
    links_ = fs::temp_directory_path() /
             ("medseg_dicom_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(links_);
    for (const auto& file : safe) fs::create_symlink(fs::absolute(file), links_ / file.filename());
  }
  ~ScreenedFolder() {
    std::error_code ec;
    if (!links_.empty()) fs::remove_all(links_, ec);
  }
  ScreenedFolder(const ScreenedFolder&) = delete;
  ScreenedFolder& operator=(const ScreenedFolder&) = delete;

  /// The folder GDCM should scan.
  const fs::path& scan() const { return links_.empty() ? folder_ : links_; }
  /// A path GDCM returned, as a path in the real folder.
  std::string real(const std::string& scanned) const {
    return links_.empty() ? scanned : (folder_ / fs::path(scanned).filename()).string();
  }

 private:
  fs::path folder_;
  fs::path links_;
};

/// The first value of a multi-valued decimal string ("40\\400" -> 40) when it
/// is a finite number.
std::optional<double> first_decimal(const std::string& value) {
  const std::string first = trim(value.substr(0, value.find('\\')));
  if (first.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(first.c_str(), &end);
  if (end != first.c_str() + first.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

/// What the reader and the series list take from a slice's header.
struct DicomHeader {
  VolumeMetadata meta;
  std::string patient_name, patient_id, study_date, study_description;
};

DicomHeader read_dicom_header(const std::string& file) {
  auto io = itk::GDCMImageIO::New();
  io->SetFileName(file);
  io->ReadImageInformation();
  const auto& dict = io->GetMetaDataDictionary();
  DicomHeader h;
  VolumeMetadata& meta = h.meta;
  meta.modality = dicom_tag(dict, "0008|0060");
  meta.manufacturer = dicom_tag(dict, "0008|0070");
  meta.model = dicom_tag(dict, "0008|1090");
  meta.series_description = dicom_tag(dict, "0008|103e");
  meta.series_uid = dicom_tag(dict, "0020|000e");
  const auto center = first_decimal(dicom_tag(dict, "0028|1050"));
  const auto width = first_decimal(dicom_tag(dict, "0028|1051"));
  if (center && width && *width > 0.0) {
    meta.window_center = center;
    meta.window_width = width;
  }
  h.patient_name = dicom_tag(dict, "0010|0010");
  h.patient_id = dicom_tag(dict, "0010|0020");
  h.study_date = dicom_tag(dict, "0008|0020");
  h.study_description = dicom_tag(dict, "0008|1030");
  return h;
}

// ITK's ImageSeriesReader reads the slices one after another on one core,
// and its per-slice decoding (GDCM, rescaling, conversion to float) is most
// of the time of reading a series. The slices are independent files: each
// thread reads its share with its own reader and IO into its planes of the
// output. The series reader still decides the geometry from the headers, and
// a slice's values go through the same GDCMImageIO conversion as before.
FloatImage::Pointer read_slices_in_parallel(const fs::path& path, const std::vector<std::string>& files,
                                            const FloatImage& information) {
  auto image = FloatImage::New();
  image->CopyInformation(&information);
  image->SetRegions(information.GetLargestPossibleRegion());
  image->Allocate();
  const auto size = image->GetLargestPossibleRegion().GetSize();
  const std::size_t plane = size[0] * size[1];
  if (size[2] != files.size()) fail(path, "the series reader expects " + std::to_string(size[2]) + " slices");
  // ITK objects are created here, on one thread; the threads only run them.
  std::vector<itk::ImageFileReader<FloatImage>::Pointer> readers;
  for (const auto& file : files) {
    auto reader = itk::ImageFileReader<FloatImage>::New();
    reader->SetImageIO(itk::GDCMImageIO::New());
    reader->SetFileName(file);
    readers.push_back(reader);
  }
  const std::size_t threads =
      std::min<std::size_t>(files.size(), static_cast<std::size_t>(std::max(1, at::get_num_threads())));
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t k = t; k < files.size() && errors[t].empty(); k += threads) {
        try {
          readers[k]->Update();
          FloatImage* slice = readers[k]->GetOutput();
          const auto slice_size = slice->GetLargestPossibleRegion().GetSize();
          if (slice_size[0] != size[0] || slice_size[1] != size[1] || slice_size[2] != 1) {
            errors[t] = "'" + files[k] + "' is not a " + std::to_string(size[0]) + "x" + std::to_string(size[1]) +
                        " slice like the first one";
            break;
          }
          std::memcpy(image->GetBufferPointer() + k * plane, slice->GetBufferPointer(), plane * sizeof(float));
          readers[k]->GetOutput()->Initialize();  // its buffer is copied: free it now
        } catch (const itk::ExceptionObject& e) {
          errors[t] = itk_messages::one_line(e);
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (const auto& error : errors) {
    if (!error.empty()) fail(path, error);
  }
  return image;
}

}  // namespace

namespace detail {

Volume read_dicom_files(const fs::path& path, std::vector<std::string> files) {
  if (files.size() > 1) files = sort_and_check_dicom_slices(path, files);
  auto io = itk::GDCMImageIO::New();
  auto reader = itk::ImageSeriesReader<FloatImage>::New();
  reader->SetImageIO(io);
  reader->SetFileNames(files);
  VolumeMetadata meta;
  std::string slice_thickness;
  FloatImage::Pointer image;
  try {
    if (files.size() > 1) {
      reader->UpdateOutputInformation();
      image = read_slices_in_parallel(path, files, *reader->GetOutput());
    } else {
      reader->Update();
      image = reader->GetOutput();
    }
    meta = read_dicom_header(files.front()).meta;
    slice_thickness = dicom_tag(io->GetMetaDataDictionary(), "0018|0050");
  } catch (const itk::ExceptionObject& e) {
    fail(path, itk_messages::one_line(e));
  }
  // The stored type (e.g. int16), not the type GDCM widens to for rescaling.
  Volume v = take_output(image, path, pixel_type_name(io->GetInternalComponentType()));
  v.metadata = meta;
  if (files.size() == 1) {
    // One slice has no neighbour to measure spacing from; its nominal
    // thickness is the best estimate (ITK would report 1 mm).
    const double thickness = std::atof(slice_thickness.c_str());
    if (thickness > 0.0) v.geometry.spacing[2] = thickness;
  }
  check_geometry(path, v.geometry);
  return v;
}

Volume read_dicom_folder(const fs::path& folder, const ReadOptions& options) {
  const auto series = list_dicom_series(folder);
  if (series.empty()) fail(folder, "no DICOM series found in this folder");
  const DicomSeriesInfo* chosen = nullptr;
  if (!options.series_uid.empty()) {
    for (const auto& s : series) {
      if (s.uid == options.series_uid) chosen = &s;
    }
    if (chosen == nullptr) fail(folder, "no DICOM series with UID " + options.series_uid);
  } else if (series.size() == 1) {
    chosen = &series.front();
  } else {
    std::string uids;
    for (const auto& s : series) uids += (uids.empty() ? "" : ", ") + s.uid;
    fail(folder, "folder holds " + std::to_string(series.size()) +
                     " DICOM series; choose one with --series UID (" + uids + ")");
  }
  return read_dicom_files(folder, chosen->files);
}

}  // namespace detail

std::vector<DicomSeriesInfo> list_dicom_series(const fs::path& folder) {
  itk_messages::silence_itk_warnings();
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail(folder, "not a folder");
  if (fs::is_empty(folder, ec)) fail(folder, "folder is empty");
  std::vector<DicomSeriesInfo> result;
  try {
    const ScreenedFolder screened(folder);
    auto names = itk::GDCMSeriesFileNames::New();
    names->SetUseSeriesDetails(false);
    names->SetRecursive(false);
    names->SetDirectory(screened.scan().string());
    for (const auto& uid : names->GetSeriesUIDs()) {
      DicomSeriesInfo info;
      info.uid = uid;
      for (const auto& file : names->GetFileNames(uid)) info.files.push_back(screened.real(file));
      if (info.files.empty()) continue;
      const DicomHeader header = read_dicom_header(info.files.front());
      info.description = header.meta.series_description;
      info.modality = header.meta.modality;
      info.patient_name = header.patient_name;
      info.patient_id = header.patient_id;
      info.study_date = header.study_date;
      info.study_description = header.study_description;
      result.push_back(std::move(info));
    }
  } catch (const itk::ExceptionObject& e) {
    fail(folder, itk_messages::one_line(e));
  } catch (const fs::filesystem_error& e) {
    fail(folder, e.what());
  }
  return result;
}

Volume read_dicom_series(const fs::path& folder, const DicomSeriesInfo& series) {
  itk_messages::silence_itk_warnings();
  if (series.files.empty()) fail(folder, "DICOM series " + series.uid + " has no files");
  return detail::read_dicom_files(folder, series.files);
}

}  // namespace medseg::pipeline
