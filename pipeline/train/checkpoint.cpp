#include "pipeline/train/checkpoint.h"

#include <torch/torch.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/error_message.h"

namespace medseg::pipeline {
namespace fs = std::filesystem;

void save_checkpoint(const fs::path& file, models::UNet3d& model, torch::optim::Optimizer& optimizer,
                     const CheckpointState& state) {
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  model->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("epoch", torch::tensor(state.epoch, torch::kLong));
  archive.write("best_mean_dice", torch::tensor(state.best_mean_dice, torch::kDouble));
  archive.write("best_epoch", torch::tensor(state.best_epoch, torch::kLong));
  // Serialized in memory, then written through the one atomic text writer
  // (whose test hook can stop it halfway: docs/reliability.md, "Kill -9").
  std::string bytes;
  try {
    archive.save_to([&bytes](const void* data, size_t size) -> size_t {
      bytes.append(static_cast<const char*>(data), size);
      return size;
    });
  } catch (const c10::Error& e) {
    throw IoError("cannot write checkpoint '" + file.string() + "': " + core::one_line(e));
  }
  core::write_text_file_atomically(file, bytes);
}

CheckpointState load_checkpoint(const fs::path& file, models::UNet3d& model, torch::optim::Optimizer& optimizer) {
  CheckpointState state;
  try {
    torch::serialize::InputArchive archive, model_archive, optimizer_archive;
    archive.load_from(file.string());
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    model->load(model_archive);
    optimizer.load(optimizer_archive);
    // One tensor per value: InputArchive::read into a defined tensor calls
    // set_(), which keeps that tensor's dtype, so reusing the int64 epoch
    // tensor read best_mean_dice's double bits as an int64 (0.04 came back
    // as 4.6e18, and no epoch after a resume was ever "best" again).
    torch::Tensor epoch, best_mean_dice, best_epoch;
    archive.read("epoch", epoch);
    state.epoch = epoch.item<std::int64_t>();
    archive.read("best_mean_dice", best_mean_dice);
    state.best_mean_dice = best_mean_dice.item<double>();
    archive.read("best_epoch", best_epoch);
    state.best_epoch = best_epoch.item<std::int64_t>();
  } catch (const c10::Error& e) {
    throw IoError("cannot resume from '" + file.string() + "': " + core::one_line(e));
  }
  return state;
}

}  // namespace medseg::pipeline
