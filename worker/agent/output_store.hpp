#pragma once
// OutputStore: where this worker's bulk data goes, as the master said in its
// first registration reply (RegistrationReply::output_store, SPEC §1):
//   "master"        blobs (bundles, outputs, logs, checkpoints) over HTTP;
//                   outputs packed as tar.gz blobs
//   "shared:/root"  blobs in the BlobDir <root>/blobs on the shared mount;
//                   a task writes its output straight into
//                   <root>/attempts/a-<attempt_id>, which the master renames
//                   to commit it; upstream "shared:<rel>" refs are symlinked
// The first reply fixes the mode for the worker's life: attempts already
// running depend on it. A later reply that differs is logged as an error and
// ignored. Before the first registration the mode is "master".
// Thread-safe (one mutex); owned by the composition root; read by every
// attempt thread, written by whichever thread registers.
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include "common/fs/blob_dir.hpp"

namespace drover::worker {

class OutputStore {
 public:
  // Records the master's setting. True when it is the mode in force: the first
  // valid setting, or a later one equal to it. A setting that is neither
  // "master" nor "shared:<absolute path>" is logged and ignored.
  bool adopt(const std::string& setting);

  // The shared root; nullopt in master mode.
  std::optional<std::filesystem::path> shared_root() const;
  // The shared blob directory <root>/blobs; nullopt in master mode.
  std::optional<BlobDir> shared_blobs() const;

 private:
  mutable std::mutex mu_;
  bool fixed_ = false;
  std::string setting_ = "master";
  std::optional<std::filesystem::path> root_;
};

}  // namespace drover::worker
