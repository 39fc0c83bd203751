#include "app/gui/logic/training_run.h"

#include <signal.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/error_message.h"
#include "pipeline/config/train_config.h"

namespace medseg::gui {
namespace fs = std::filesystem;

TrainingConfigCheck check_training_config(const fs::path& config) {
  TrainingConfigCheck check;
  try {
    const pipeline::TrainConfig c = pipeline::load_train_config(config);
    check.output = c.output;
    check.epochs = c.training.epochs;
    check.validate_every = c.validation.every;
    check.resumable = fs::exists(c.output / "checkpoint.pt");
  } catch (...) {
    check.error = core::current_exception_line();
  }
  return check;
}

std::vector<std::string> train_arguments(const fs::path& config, bool resume) {
  std::vector<std::string> args{"train"};
  if (resume) args.emplace_back("--resume");
  args.push_back(config.string());
  return args;
}

std::optional<fs::path> find_medseg_cli(const fs::path& gui_directory) {
  for (const fs::path& candidate : {gui_directory / "medseg", gui_directory.parent_path() / "medseg"}) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

namespace {

TrainingLogEntry parse_entry(const std::string& line, std::size_t line_number) {
  try {
    const nlohmann::json j = nlohmann::json::parse(line);
    TrainingLogEntry e;
    e.epoch = j.at("epoch").get<std::int64_t>();
    e.train_loss = j.at("train_loss").get<double>();
    e.best = j.value("best", false);
    e.precision = j.value("precision", std::string());
    if (j.contains("validation_dice")) {
      for (const auto& d : j.at("validation_dice")) {
        e.validation_dice.push_back(d.is_null() ? std::numeric_limits<double>::quiet_NaN() : d.get<double>());
      }
      e.mean_validation_dice = j.at("mean_validation_dice").get<double>();
    }
    return e;
  } catch (const nlohmann::json::exception& ex) {
    throw IoError("training log line " + std::to_string(line_number) + " is not a log record: " + ex.what());
  }
}

}  // namespace

std::vector<TrainingLogEntry> parse_training_log(const std::string& text) {
  std::vector<TrainingLogEntry> entries;
  std::size_t start = 0;
  std::size_t line_number = 0;
  // A line without its '\n' is still being appended: wait for the next read.
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    ++line_number;
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    entries.push_back(parse_entry(line, line_number));
  }
  return entries;
}

std::vector<TrainingLogEntry> read_training_log(const fs::path& run_folder) {
  std::ifstream in(run_folder / "log.jsonl", std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_training_log(text.str());
}

fs::path training_pid_file(const fs::path& run_folder) { return run_folder / "medseg-gui.train.pid"; }

fs::path training_console_file(const fs::path& run_folder) { return run_folder / "medseg-gui.train.log"; }

bool process_alive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat_in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(stat_in, stat);
  const auto paren = stat.rfind(')');  // the state follows "(comm) "
  return !(paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

std::optional<pid_t> running_training(const fs::path& run_folder) {
  std::ifstream pid_in(training_pid_file(run_folder));
  long long pid = 0;
  if (!(pid_in >> pid) || pid <= 0 || !process_alive(static_cast<pid_t>(pid))) return std::nullopt;
  // /proc/PID/cmdline: NUL-separated argv. A pid the kernel gave to another
  // program since is not our run.
  std::ifstream cmd_in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(cmd_in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  std::istringstream parts(cmdline);
  for (std::string arg; std::getline(parts, arg, '\0');) argv.push_back(arg);
  if (argv.size() < 2 || fs::path(argv[0]).filename() != "medseg" || argv[1] != "train") return std::nullopt;
  return static_cast<pid_t>(pid);
}

std::string last_error_line(const fs::path& console_file) {
  std::ifstream in(console_file);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.find("error: ") != std::string::npos) last = line;
  }
  return last;
}

}  // namespace medseg::gui
