#pragma once
// Checkpoints (SPEC §2 DROVER_CHECKPOINT_DIR, §4 guarantee 6): one attempt's
// checkpoint dir, restored before the task starts and saved to the master
// whenever it changed:
//
//   restore_checkpoint (before spawn: blob cache, digest verified, unpack)
//     ─> PeriodicCheckpoint: save() every checkpoint_interval on its own thread
//     ─> final save() on the attempt thread after the task ended
//     ─> its digest goes into AttemptReport::checkpoint_digest
//
// A save: fingerprint the tree (paths, sizes, mtimes); unchanged or empty ->
// nothing; else pack, PUT /blobs/{sha256}, POST /attempts/{id}/checkpoint.
// A 409/404 on that POST means the attempt is fenced: no more saves, and the
// periodic thread asks for the attempt to be killed.
//
// Checkpointer is owned by the attempt's runner thread; save() is serialized by
// its mutex, so an attempt never has two saves in flight. PeriodicCheckpoint
// is owned by the same thread; its own thread only calls save().
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/stop_signal.hpp"
#include "worker/sandbox/blob_cache.hpp"

namespace drover::worker {

// A cheap summary of a tree: sha256 over the sorted (path, type, size, mtime)
// of every entry below `dir`; "" when the tree has no entries.
[[nodiscard]] Result<std::string> tree_fingerprint(const std::filesystem::path& dir);

// Downloads checkpoint `digest` through the cache (verified) and unpacks it
// into `dir`, which must exist and be empty.
[[nodiscard]] Status restore_checkpoint(const std::filesystem::path& dir, const std::string& digest,
                                        BlobCache& cache);

class Checkpointer {
 public:
  enum class Outcome { saved, unchanged, empty, fenced, failed };

  Checkpointer(std::int64_t attempt_id, std::filesystem::path dir, MasterApi& master,
               const StopSignal& stop)
      : attempt_id_(attempt_id), dir_(std::move(dir)), master_(master), stop_(stop) {}

  // Records the restored tree as already saved under `digest`; "": nothing
  // was restored, and the directory is empty.
  void restored(const std::string& digest);

  // Saves the tree if it is non-empty and changed since the last save. With
  // `final`, a blob that was uploaded counts as saved even when the POST that
  // announces it failed for a transient reason: the report carries its digest.
  Outcome save(bool final = false);

  // The newest saved (or restored) checkpoint; "" = none.
  std::string latest_digest() const;
  bool fenced() const;

 private:
  const std::int64_t attempt_id_;
  const std::filesystem::path dir_;
  MasterApi& master_;
  const StopSignal& stop_;
  mutable std::mutex mu_;  // held for a whole save: one save in flight
  std::string saved_fingerprint_;
  std::string latest_digest_;
  bool fenced_ = false;
};

// Calls Checkpointer::save() every `interval` on its own thread until stop().
class PeriodicCheckpoint {
 public:
  // No thread when `interval` <= 0. `on_fenced` runs once on the thread when a
  // save was refused as fenced; the thread then ends.
  PeriodicCheckpoint(Checkpointer& checkpointer, Duration interval,
                     std::function<void()> on_fenced);
  ~PeriodicCheckpoint();
  PeriodicCheckpoint(const PeriodicCheckpoint&) = delete;
  PeriodicCheckpoint& operator=(const PeriodicCheckpoint&) = delete;

  // Wakes the thread and joins it (waiting for a save in flight). Idempotent.
  void stop();

 private:
  void loop();

  Checkpointer& checkpointer_;
  const Duration interval_;
  std::function<void()> on_fenced_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace drover::worker
