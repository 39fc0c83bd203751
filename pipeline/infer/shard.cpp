#include "pipeline/infer/shard.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/csv.h"
#include "core/error.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;
namespace {

std::optional<std::int64_t> whole_number(const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

Shard slurm_shard(const std::function<const char*(const char*)>& getenv) {
  const auto number = [&](const char* name) -> std::int64_t {
    const char* value = getenv(name);
    if (value == nullptr) throw ConfigError("--shard slurm: " + std::string(name) + " is not set (not a Slurm job array?)");
    const auto v = whole_number(value);
    if (!v) throw ConfigError("--shard slurm: " + std::string(name) + "='" + value + "' is not a whole number");
    return *v;
  };
  const std::int64_t id = number("SLURM_ARRAY_TASK_ID");
  const std::int64_t min = number("SLURM_ARRAY_TASK_MIN");
  const std::int64_t count = number("SLURM_ARRAY_TASK_COUNT");
  const char* step = getenv("SLURM_ARRAY_TASK_STEP");
  if (step != nullptr && whole_number(step).value_or(1) != 1) {
    throw ConfigError("--shard slurm: a stepped job array (SLURM_ARRAY_TASK_STEP=" + std::string(step) +
                      ") leaves gaps; use --array=FIRST-LAST or --shard K/N");
  }
  if (count < 1 || id < min || id - min >= count) {
    throw ConfigError("--shard slurm: task " + std::to_string(id) + " is not among " + std::to_string(count) +
                      " tasks from " + std::to_string(min));
  }
  return {id - min, count};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read shard summary '" + path.string() + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const std::regex& shard_file_pattern() {
  static const std::regex pattern(R"(summary\.shard-(\d+)-of-(\d+)\.csv)");
  return pattern;
}

}  // namespace

Shard parse_shard(const std::string& text, const std::function<const char*(const char*)>& getenv) {
  if (text == "slurm") return slurm_shard(getenv);
  const auto slash = text.find('/');
  const auto k = slash == std::string::npos ? std::nullopt : whole_number(text.substr(0, slash));
  const auto n = slash == std::string::npos ? std::nullopt : whole_number(text.substr(slash + 1));
  if (!k || !n || *n < 1 || *k < 0 || *k >= *n) {
    throw ConfigError("--shard '" + text + "': expected K/N with 0 <= K < N (e.g. 0/4 ... 3/4), or 'slurm'");
  }
  return {*k, *n};
}

std::vector<InferenceCase> select_shard(std::vector<InferenceCase> cases, const Shard& shard) {
  std::stable_sort(cases.begin(), cases.end(),
                   [](const InferenceCase& a, const InferenceCase& b) { return a.id < b.id; });
  std::vector<InferenceCase> mine;
  for (std::size_t i = static_cast<std::size_t>(shard.index); i < cases.size();
       i += static_cast<std::size_t>(shard.count)) {
    mine.push_back(std::move(cases[i]));
  }
  return mine;
}

std::string shard_summary_name(const Shard& shard) {
  return "summary.shard-" + std::to_string(shard.index) + "-of-" + std::to_string(shard.count) + ".csv";
}

std::string merge_shard_summaries(const std::vector<fs::path>& inputs) {
  // Folders stand for the shard summaries they hold.
  std::vector<fs::path> files;
  for (const fs::path& input : inputs) {
    std::error_code ec;
    if (!fs::is_directory(input, ec)) {
      files.push_back(input);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(input, ec)) {
      if (std::regex_match(entry.path().filename().string(), shard_file_pattern())) found.push_back(entry.path());
    }
    if (found.empty()) throw IoError("'" + input.string() + "' holds no summary.shard-K-of-N.csv files");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  if (files.empty()) throw IoError("no shard summaries given");

  std::vector<std::string> header;
  fs::path header_file;
  std::map<std::string, std::vector<std::string>> rows;  // by case: sorted output
  std::map<std::string, fs::path> row_file;
  std::optional<std::int64_t> count;
  std::set<std::int64_t> seen;
  for (const fs::path& file : files) {
    std::smatch m;
    const std::string name = file.filename().string();
    if (std::regex_match(name, m, shard_file_pattern())) {
      const auto k_value = whole_number(m[1].str()), n_value = whole_number(m[2].str());
      if (!k_value || !n_value || *n_value < 1 || *k_value >= *n_value) {
        throw IoError("'" + file.string() + "' is not a shard summary name summary.shard-K-of-N.csv with K < N");
      }
      const std::int64_t k = *k_value, n = *n_value;
      if (count && *count != n) {
        throw IoError("'" + file.string() + "' is a shard of " + std::to_string(n) + ", the others of " +
                      std::to_string(*count));
      }
      count = n;
      if (!seen.insert(k).second) throw IoError("shard " + std::to_string(k) + " is given twice ('" + file.string() + "')");
    }
    const auto records = core::parse_csv(read_file(file));
    if (!records || records->empty() || records->front().empty() || records->front().front() != "case") {
      throw IoError("'" + file.string() + "' is not a medseg infer summary (no 'case,...' header)");
    }
    if (header.empty()) {
      header = records->front();
      header_file = file;
    } else if (records->front() != header) {
      throw IoError("'" + file.string() + "' has other columns than '" + header_file.string() +
                    "' (a different model?)");
    }
    for (std::size_t r = 1; r < records->size(); ++r) {
      const auto& record = (*records)[r];
      if (record.size() != header.size()) {
        throw IoError("'" + file.string() + "' record " + std::to_string(r + 1) + " has " +
                      std::to_string(record.size()) + " fields, the header " + std::to_string(header.size()));
      }
      const auto [it, added] = rows.emplace(record.front(), record);
      if (!added) {
        throw IoError("case '" + record.front() + "' is in both '" + row_file[record.front()].string() + "' and '" +
                      file.string() + "'");
      }
      row_file[record.front()] = file;
    }
  }
  if (count) {
    for (std::int64_t k = 0; k < *count; ++k) {
      if (!seen.count(k)) {
        throw IoError("shard " + std::to_string(k) + " of " + std::to_string(*count) + " is missing (" +
                      shard_summary_name({k, *count}) + ")");
      }
    }
  }
  const auto line = [](const std::vector<std::string>& fields) {
    std::string s;
    for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + core::csv_field(fields[i]);
    return s + "\n";
  };
  std::string merged = line(header);
  for (const auto& [id, record] : rows) merged += line(record);
  return merged;
}

}  // namespace medseg::pipeline
