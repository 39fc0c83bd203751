#pragma once
// The Train panel's Qt-free side: check a training config the way `medseg
// train` will (same loader, so the same file/key/line errors), build the
// `medseg train` command line, read the run's log.jsonl while it grows, and
// tell a finished run from a stopped or failed one. The run itself is a
// child process (`medseg train`), not a thread: it survives the GUI, and its
// checkpoint makes Stop + Resume lose at most the current epoch.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medseg::gui {

/// What the panel shows about a config before it runs.
struct TrainingConfigCheck {
  /// Empty when the config is valid; else the loader's one-line message
  /// (file, key, line), as `medseg train` would print it.
  std::string error;
  std::filesystem::path output;  ///< the run folder (resolved like the CLI does)
  std::int64_t epochs = 0;
  std::int64_t validate_every = 0;
  /// The run folder holds a checkpoint: Resume continues it, Start refuses.
  bool resumable = false;
};

TrainingConfigCheck check_training_config(const std::filesystem::path& config);

/// Arguments after the program: {"train", [--resume,] CONFIG}.
std::vector<std::string> train_arguments(const std::filesystem::path& config, bool resume);

/// The medseg CLI the GUI starts: `medseg` beside the GUI's executable, or one
/// folder up (the build tree: app/gui/medseg-gui, app/medseg); nullopt when
/// neither exists.
std::optional<std::filesystem::path> find_medseg_cli(const std::filesystem::path& gui_directory);

/// One line of log.jsonl (pipeline::to_json_line), the fields the panel plots.
struct TrainingLogEntry {
  std::int64_t epoch = 0;
  double train_loss = 0.0;
  /// Per foreground label; empty when the epoch did not validate. NaN for a
  /// label absent from the validation cases (null in the log).
  std::vector<double> validation_dice;
  double mean_validation_dice = -1.0;
  bool best = false;
  std::string precision;
};

/// Parses log.jsonl text. Only complete lines count (the trainer appends
/// while the GUI reads); a malformed complete line throws IoError naming its
/// line number.
std::vector<TrainingLogEntry> parse_training_log(const std::string& text);

/// Reads `run_folder`/log.jsonl (empty when it does not exist yet).
std::vector<TrainingLogEntry> read_training_log(const std::filesystem::path& run_folder);

/// Where the GUI records the pid of the `medseg train` it started (so a
/// restarted GUI finds a run still going) and the run's console output.
std::filesystem::path training_pid_file(const std::filesystem::path& run_folder);
std::filesystem::path training_console_file(const std::filesystem::path& run_folder);

/// True while `pid` exists and has not exited (a zombie has).
bool process_alive(pid_t pid);

/// The pid in training_pid_file when that process is alive and is a `medseg
/// train` (its /proc cmdline says so: a recycled pid is not mistaken for it).
std::optional<pid_t> running_training(const std::filesystem::path& run_folder);

/// A run's last console line that reads as an error ("error: …"), else "".
std::string last_error_line(const std::filesystem::path& console_file);

}  // namespace medseg::gui
