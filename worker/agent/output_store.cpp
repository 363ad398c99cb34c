#include "worker/agent/output_store.hpp"

#include <spdlog/spdlog.h>

#include "common/proto/output_ref.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

bool OutputStore::adopt(const std::string& setting) {
  std::optional<fs::path> root;
  if (setting != "master") {
    std::string path = shared_store_root(setting);
    if (path.empty() || path.front() != '/') {
      spdlog::error("the master's output_store \"{}\" is neither \"master\" nor "
                    "\"shared:<absolute path>\"; ignoring it",
                    setting);
      return false;
    }
    root = fs::path(path).lexically_normal();
  }
  std::lock_guard lock(mu_);
  if (fixed_) {
    if (root == root_) return true;
    spdlog::error("the master now says output_store \"{}\", but this worker started with \"{}\"; "
                  "keeping \"{}\" until the worker restarts",
                  setting, setting_, setting_);
    return false;
  }
  fixed_ = true;
  setting_ = setting;
  root_ = root;
  if (!root_) {
    spdlog::info("output store: the master (blobs over HTTP)");
    return true;
  }
  std::error_code ec;
  if (!fs::is_directory(*root_, ec)) {
    spdlog::error("output store {}: {} is not a directory here; is the shared file system "
                  "mounted? attempts will fail until it is",
                  setting, root_->string());
  } else {
    spdlog::info("output store: shared file system at {}", root_->string());
  }
  return true;
}

std::optional<fs::path> OutputStore::shared_root() const {
  std::lock_guard lock(mu_);
  return root_;
}

std::optional<BlobDir> OutputStore::shared_blobs() const {
  std::lock_guard lock(mu_);
  if (!root_) return std::nullopt;
  return BlobDir(*root_ / "blobs");
}

}  // namespace drover::worker
