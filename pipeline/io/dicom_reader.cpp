// DICOM series: listing a folder's series (with files GDCM cannot be handed
// screened out) and reading a series with its slices decoded on all threads.
// ITK's series reader decides the geometry; slice order and spacing are
// checked in dicom_slice_check. GDCM only ever runs in a child process
// (child_process.h): a file that makes it abort costs an error naming the
// file, not the caller.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gdcmReader.h>
#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImageFileReader.h>
#include <itkImageSeriesReader.h>
#include <itkMetaDataObject.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/io/detail/child_process.h"
#include "pipeline/io/detail/dicom_slice_check.h"
#include "pipeline/io/detail/itk_messages.h"
#include "pipeline/io/detail/reader_common.h"
#include "pipeline/io/dicom_screen.h"
#include "pipeline/io/nifti_reader.h"
#include "pipeline/io/read_limits.h"
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
      child_process::test_hang_on_file(entry.path().string());
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

// The text fields that cross the isolated reader's pipe, listed once for
// both ends (a field missing here would arrive empty).
template <typename Meta>
auto metadata_texts(Meta& m) {
  return std::array{&m.modality, &m.manufacturer, &m.model, &m.series_description, &m.series_uid};
}
template <typename Info>
auto series_texts(Info& i) {
  return std::array{&i.uid,        &i.description, &i.modality,         &i.patient_name,
                    &i.patient_id, &i.study_date,  &i.study_description};
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

// What GDCM and ITK make of a series, before the checks on the values.
struct DecodedSeries {
  FloatImage::Pointer image;
  VolumeMetadata meta;
  std::string pixel_type;
  std::string slice_thickness;
};

DecodedSeries decode_series(const fs::path& path, std::vector<std::string> files) {
  for (const auto& file : files) child_process::test_hang_on_file(file);
  if (files.size() > 1) files = sort_and_check_dicom_slices(path, files);
  auto io = itk::GDCMImageIO::New();
  auto reader = itk::ImageSeriesReader<FloatImage>::New();
  reader->SetImageIO(io);
  reader->SetFileNames(files);
  DecodedSeries out;
  try {
    // The headers first: the voxel count they claim is checked before
    // anything is allocated for it.
    reader->UpdateOutputInformation();
    const auto size = reader->GetOutput()->GetLargestPossibleRegion().GetSize();
    check_voxel_count(path, {size[0], size[1], size[2]});
    if (files.size() > 1) {
      out.image = read_slices_in_parallel(path, files, *reader->GetOutput());
    } else {
      reader->Update();
      out.image = reader->GetOutput();
    }
    out.meta = read_dicom_header(files.front()).meta;
    out.slice_thickness = dicom_tag(io->GetMetaDataDictionary(), "0018|0050");
  } catch (const itk::ExceptionObject& e) {
    fail(path, itk_messages::one_line(e));
  }
  // The stored type (e.g. int16), not the type GDCM widens to for rescaling.
  out.pixel_type = pixel_type_name(io->GetInternalComponentType());
  return out;
}

Volume finish(const fs::path& path, DecodedSeries decoded, std::size_t slices) {
  Volume v = take_output(decoded.image, path, decoded.pixel_type);
  v.metadata = decoded.meta;
  if (slices == 1) {
    // One slice has no neighbour to measure spacing from; its nominal
    // thickness is the best estimate (ITK would report 1 mm).
    const double thickness = std::atof(decoded.slice_thickness.c_str());
    if (thickness > 0.0) v.geometry.spacing[2] = thickness;
  }
  check_geometry(path, v.geometry);
  return v;
}

// --- Isolation (child_process.h): GDCM runs in a child, its death is an
// error naming the files that kill it. ---

constexpr char kResult = 'R';
constexpr char kError = 'E';

void send_error(int fd, const std::exception& e) {
  child_process::write_value(fd, kError);
  child_process::write_string(fd, core::one_line(e));
}

// In the parent: a kError message becomes the IoError it was in the child.
bool receive_tag(int fd) {
  const char tag = child_process::read_value<char>(fd);
  if (tag == kError) throw IoError(child_process::read_string(fd));
  if (tag != kResult) throw std::runtime_error("isolated reader: unexpected message");
  return true;
}

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", seconds);
  return text;
}

/// A file that, read alone, kills the reader (crash) or keeps it busy past
/// its time (hang).
struct Culprit {
  std::string file;
  bool hangs = false;
  std::string reason;  ///< the crash line
};

// Which of `files` kill or hang a reader on their own, each tried in its own
// child with `read_one` (what the failed step did to a file) for at most
// `per_file` seconds. Only after a failure. The search stops once `budget`
// seconds have passed (files not tried by then are not named).
std::vector<Culprit> files_that_fail(const std::vector<std::string>& files,
                                     const std::function<void(const std::string&)>& read_one, double per_file,
                                     double budget) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<Culprit> culprits;
  for (const auto& file : files) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > budget) break;
    const child_process::Outcome o = child_process::run(
        [&](int fd) {
          try {
            read_one(file);
          } catch (...) {  // an error is not a crash
          }
          child_process::write_value(fd, kResult);
        },
        [](int fd) { child_process::read_value<char>(fd); }, per_file);
    if (o.crashed) culprits.push_back({file, o.timed_out, o.timed_out ? "" : child_process::crash_line(o.stderr_text)});
  }
  return culprits;
}

std::string file_names(const std::vector<const Culprit*>& culprits) {
  std::string names;
  for (std::size_t k = 0; k < culprits.size() && k < 3; ++k) {
    names += (k ? ", '" : "'") + fs::path(culprits[k]->file).filename().string() + "'";
  }
  if (culprits.size() > 3) names += " and " + std::to_string(culprits.size() - 3) + " more";
  return names;
}

// A child that read `files` crashed or ran out of time: the error names the
// files that do so alone.
[[noreturn]] void fail_isolated(const fs::path& path, const child_process::Outcome& outcome,
                                const std::vector<std::string>& files,
                                const std::function<void(const std::string&)>& read_one) {
  const double timeout = dicom_timeout_seconds();
  // One file that timed out is the culprit without trying it again; several
  // are tried one by one, for at most a minute each and, after a timeout,
  // for at most the timeout in all.
  const double per_file = std::min(timeout, 60.0);
  const std::vector<Culprit> culprits =
      outcome.timed_out && files.size() == 1
          ? std::vector<Culprit>{{files.front(), true, ""}}
          : files_that_fail(files, read_one, per_file, outcome.timed_out ? timeout : HUGE_VAL);
  std::vector<const Culprit*> crashing, hanging;
  for (const auto& c : culprits) (c.hangs ? hanging : crashing).push_back(&c);
  if (!crashing.empty() || !outcome.timed_out) {
    std::string reason = crashing.empty() ? "" : crashing.front()->reason;
    if (reason.empty()) reason = child_process::crash_line(outcome.stderr_text);
    const std::string how = outcome.signal != 0 ? "signal " + std::to_string(outcome.signal) : "an exit";
    const std::string why = reason.empty() ? how : how + ": " + core::quote_short(reason, 120);
    if (crashing.empty() && hanging.empty()) {
      fail(path, "the DICOM decoder (GDCM) crashed (" + why + ") on these files, though no single file does");
    }
    if (!crashing.empty()) {
      const bool one = crashing.size() == 1;
      fail(path, std::string(one ? "file " : "files ") + file_names(crashing) + (one ? " crashes" : " crash") +
                     " the DICOM decoder (GDCM, " + why + "); remove or replace " + (one ? "it" : "them"));
    }
  }
  if (!hanging.empty()) {
    const bool one = hanging.size() == 1;
    fail(path, std::string(one ? "file " : "files ") + file_names(hanging) + (one ? " hangs" : " hang") +
                   " the DICOM decoder (GDCM: no result within " +
                   seconds_text(files.size() == 1 ? timeout : per_file) + ", stopped); remove or replace " +
                   (one ? "it" : "them"));
  }
  fail(path, "the DICOM decoder (GDCM) did not finish within " + seconds_text(timeout) +
                 " and was stopped, though no single file keeps it busy for " + seconds_text(per_file) +
                 "; if the files are only slow to read, raise the limit with --dicom-timeout SECONDS");
}

// What decode_series does to one slice: header, then pixels.
void decode_one_file(const std::string& file) {
  child_process::test_hang_on_file(file);
  auto reader = itk::ImageFileReader<FloatImage>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileName(file);
  reader->UpdateOutputInformation();
  const auto size = reader->GetOutput()->GetLargestPossibleRegion().GetSize();
  check_voxel_count(file, {size[0], size[1], size[2]});
  reader->Update();
}

Volume decode_series_isolated(const fs::path& path, const std::vector<std::string>& files) {
  if (child_process::in_child()) return finish(path, decode_series(path, files), files.size());
  Volume v;
  std::optional<at::Tensor> voxels;
  const child_process::Outcome outcome = child_process::run(
      [&](int fd) {
        DecodedSeries d;
        try {
          d = decode_series(path, files);
        } catch (const Error& e) {
          send_error(fd, e);
          return;
        }
        child_process::write_value(fd, kResult);
        const Geometry g = itk_bridge::geometry_of(*d.image);
        child_process::write_value(fd, g);
        for (const std::string* text : metadata_texts(d.meta)) child_process::write_string(fd, *text);
        for (const std::string* text : {&d.pixel_type, &d.slice_thickness}) child_process::write_string(fd, *text);
        for (const std::optional<double>* number : {&d.meta.window_center, &d.meta.window_width}) {
          child_process::write_value(fd, number->value_or(std::nan("")));
        }
        child_process::write_all(fd, d.image->GetBufferPointer(),
                                 static_cast<std::size_t>(g.num_voxels()) * sizeof(float));
      },
      [&](int fd) {
        receive_tag(fd);
        v.geometry = child_process::read_value<Geometry>(fd);
        const auto& size = v.geometry.size;
        for (const auto s : size) {
          if (s < 1) throw std::runtime_error("isolated reader: empty image");
        }
        check_voxel_count(path, {static_cast<std::uint64_t>(size[0]), static_cast<std::uint64_t>(size[1]),
                                 static_cast<std::uint64_t>(size[2])});
        for (std::string* text : metadata_texts(v.metadata)) *text = child_process::read_string(fd);
        v.pixel_type = child_process::read_string(fd);
        const std::string thickness = child_process::read_string(fd);
        for (std::optional<double>* number : {&v.metadata.window_center, &v.metadata.window_width}) {
          const auto value = child_process::read_value<double>(fd);
          if (!std::isnan(value)) *number = value;
        }
        at::Tensor data = at::empty({size[2], size[1], size[0]}, at::kFloat);
        child_process::read_all(fd, data.data_ptr<float>(), static_cast<std::size_t>(data.numel()) * sizeof(float));
        voxels = data;
        if (files.size() == 1) {
          const double t = std::atof(thickness.c_str());
          if (t > 0.0) v.geometry.spacing[2] = t;
        }
      },
      dicom_timeout_seconds());
  if (outcome.crashed) fail_isolated(path, outcome, files, decode_one_file);
  v.data = *std::move(voxels);
  v.source_path = path.string();
  refuse_non_finite(path, v.data);
  check_geometry(path, v.geometry);
  return v;
}

}  // namespace

namespace detail {

bool is_dicom_file(const fs::path& file) {
  const auto ask = [&] {
    child_process::test_hang_on_file(file.string());
    const std::string reason = gdcm_crash_reason(file.string());
    if (!reason.empty()) fail(file, "is " + reason);
    return itk::GDCMImageIO::New()->CanReadFile(file.c_str());
  };
  if (child_process::in_child()) return ask();
  bool is_dicom = false;
  const child_process::Outcome outcome = child_process::run(
      [&](int fd) {
        bool answer = false;
        try {
          answer = ask();
        } catch (const Error& e) {
          send_error(fd, e);
          return;
        }
        child_process::write_value(fd, kResult);
        child_process::write_value(fd, answer);
      },
      [&](int fd) {
        receive_tag(fd);
        is_dicom = child_process::read_value<bool>(fd);
      },
      dicom_timeout_seconds());
  if (outcome.crashed) fail_isolated(file, outcome, {file.string()}, [](const std::string& f) {
    itk::GDCMImageIO::New()->CanReadFile(f.c_str());
  });
  return is_dicom;
}

Volume read_dicom_files(const fs::path& path, std::vector<std::string> files) {
  return decode_series_isolated(path, files);
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

namespace {

std::vector<DicomSeriesInfo> scan_folder(const fs::path& folder) {
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

// What scan_folder does to each file: GDCM's header scan and ITK's header read.
void scan_one_file(const std::string& file) {
  child_process::test_hang_on_file(file);
  if (!gdcm_crash_reason(file).empty()) return;
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  if (reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010))) read_dicom_header(file);
}

std::vector<DicomSeriesInfo> scan_folder_isolated(const fs::path& folder) {
  if (child_process::in_child()) return scan_folder(folder);
  std::vector<DicomSeriesInfo> result;
  const child_process::Outcome outcome = child_process::run(
      [&](int fd) {
        std::vector<DicomSeriesInfo> found;
        try {
          found = scan_folder(folder);
        } catch (const Error& e) {
          send_error(fd, e);
          return;
        }
        child_process::write_value(fd, kResult);
        child_process::write_value<std::uint64_t>(fd, found.size());
        for (const auto& info : found) {
          for (const std::string* text : series_texts(info)) child_process::write_string(fd, *text);
          child_process::write_value<std::uint64_t>(fd, info.files.size());
          for (const auto& f : info.files) child_process::write_string(fd, f);
        }
      },
      [&](int fd) {
        receive_tag(fd);
        const auto count = child_process::read_value<std::uint64_t>(fd);
        for (std::uint64_t k = 0; k < count; ++k) {
          DicomSeriesInfo info;
          for (std::string* text : series_texts(info)) *text = child_process::read_string(fd);
          const auto files = child_process::read_value<std::uint64_t>(fd);
          for (std::uint64_t f = 0; f < files; ++f) info.files.push_back(child_process::read_string(fd));
          result.push_back(std::move(info));
        }
      },
      dicom_timeout_seconds());
  if (outcome.crashed) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
      if (entry.is_regular_file(ec)) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    fail_isolated(folder, outcome, files, scan_one_file);
  }
  return result;
}

}  // namespace

std::vector<DicomSeriesInfo> list_dicom_series(const fs::path& folder) {
  itk_messages::silence_itk_warnings();
  const itk_messages::StderrCapture capture;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail(folder, "not a folder");
  if (fs::is_empty(folder, ec)) fail(folder, "folder is empty");
  return scan_folder_isolated(folder);
}

Volume read_dicom_series(const fs::path& folder, const DicomSeriesInfo& series) {
  itk_messages::silence_itk_warnings();
  const itk_messages::StderrCapture capture;
  if (series.files.empty()) fail(folder, "DICOM series " + series.uid + " has no files");
  return detail::read_dicom_files(folder, series.files);
}

}  // namespace medseg::pipeline
