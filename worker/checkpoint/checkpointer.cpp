#include "worker/checkpoint/checkpointer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "worker/agent/blob_upload.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

Result<std::string> tree_fingerprint(const fs::path& dir) {
  std::vector<std::string> entries;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;  // removed while we walk
    entries.push_back(fmt::format("{}\t{:o}\t{}\t{}.{:09}", it->path().lexically_relative(dir).string(),
                                  st.st_mode, S_ISREG(st.st_mode) ? st.st_size : 0,
                                  st.st_mtim.tv_sec, st.st_mtim.tv_nsec));
  }
  if (ec) {
    return make_error(ErrorCode::io, fmt::format("cannot read {}: {}", dir.string(), ec.message()));
  }
  if (entries.empty()) return std::string{};
  std::sort(entries.begin(), entries.end());
  std::string all;
  for (const auto& e : entries) all.append(e).push_back('\n');
  return sha256_hex(all);
}

Status restore_checkpoint(const fs::path& dir, const std::string& digest, BlobCache& cache) {
  auto blob = cache.blob(digest);
  if (!blob.ok()) {
    return make_error(blob.error().code,
                      fmt::format("restore of checkpoint failed: {}", blob.error().describe()));
  }
  Status unpacked = unpacked_without_loss(unpack_archive_file(*blob, dir), dir);
  if (!unpacked.ok()) {
    return make_error(unpacked.error().code, fmt::format("restore of checkpoint {} failed: {}",
                                                         digest, unpacked.error().describe()));
  }
  return ok_status();
}

void Checkpointer::restored(const std::string& digest) {
  std::lock_guard lock(mu_);
  latest_digest_ = digest;
  if (digest.empty()) {  // nothing was restored: the directory is empty
    saved_fingerprint_.clear();
    return;
  }
  auto fp = tree_fingerprint(dir_);
  saved_fingerprint_ = fp.ok() ? *fp : std::string{};
}

std::string Checkpointer::latest_digest() const {
  std::lock_guard lock(mu_);
  return latest_digest_;
}

bool Checkpointer::fenced() const {
  std::lock_guard lock(mu_);
  return fenced_;
}

Checkpointer::Outcome Checkpointer::save(bool final) {
  std::lock_guard lock(mu_);
  if (fenced_) return Outcome::fenced;
  auto fingerprint = tree_fingerprint(dir_);
  if (!fingerprint.ok()) {
    spdlog::warn("attempt {}: checkpoint not saved: {}", attempt_id_,
                 fingerprint.error().describe());
    return Outcome::failed;
  }
  if (fingerprint->empty()) return Outcome::empty;
  if (*fingerprint == saved_fingerprint_) return Outcome::unchanged;
  // Taken before packing: a change made while we pack shows up next time.
  auto packed = pack_untrusted_directory(dir_);  // the task may swap in links meanwhile
  if (!packed.ok()) {
    spdlog::warn("attempt {}: pack of checkpoint failed: {}", attempt_id_,
                 packed.error().describe());
    return Outcome::failed;
  }
  std::size_t bytes = packed->size();
  if (sha256_hex(*packed) == latest_digest_) {  // touched, same content
    saved_fingerprint_ = *fingerprint;
    return Outcome::unchanged;
  }
  auto digest = upload_blob_retrying(master_, stop_, std::move(*packed));
  if (!digest.ok()) {
    spdlog::warn("attempt {}: upload of checkpoint failed: {}", attempt_id_,
                 digest.error().describe());
    return Outcome::failed;
  }
  Status ack = master_.attempt_checkpoint(attempt_id_, CheckpointReport{*digest});
  if (!ack.ok() && is_final_rejection(ack.error())) {
    spdlog::info("attempt {}: checkpoint refused, the attempt is fenced ({})", attempt_id_,
                 ack.error().describe());
    fenced_ = true;
    return Outcome::fenced;
  }
  if (!ack.ok() && !final) {
    spdlog::warn("attempt {}: checkpoint not recorded: {}", attempt_id_, ack.error().describe());
    return Outcome::failed;
  }
  saved_fingerprint_ = *fingerprint;
  latest_digest_ = *digest;
  spdlog::info("attempt {}: checkpoint {} saved ({} bytes)", attempt_id_, digest->substr(0, 12),
               bytes);
  return Outcome::saved;
}

PeriodicCheckpoint::PeriodicCheckpoint(Checkpointer& checkpointer, Duration interval,
                                       std::function<void()> on_fenced)
    : checkpointer_(checkpointer), interval_(interval), on_fenced_(std::move(on_fenced)) {
  if (interval_.count() > 0) thread_ = std::thread([this] { loop(); });
}

PeriodicCheckpoint::~PeriodicCheckpoint() { stop(); }

void PeriodicCheckpoint::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicCheckpoint::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval_, [&] { return stopping_; })) return;
    }
    if (checkpointer_.save() == Checkpointer::Outcome::fenced) {
      if (on_fenced_) on_fenced_();
      return;
    }
  }
}

}  // namespace drover::worker
