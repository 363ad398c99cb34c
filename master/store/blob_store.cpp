#include "master/store/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs/fs.hpp"

namespace drover::master {

bool BlobStore::has(std::string_view digest) const {
  const std::uint64_t seen_at = generation();
  {
    std::lock_guard lock(known_mu_);
    if (known_.count(std::string(digest))) return true;
  }
  if (!dir_.has(digest)) return false;
  remember(digest, seen_at);
  return true;
}

std::uint64_t BlobStore::generation() const {
  std::lock_guard lock(known_mu_);
  return generation_;
}

void BlobStore::remember(std::string_view digest, std::uint64_t seen_at) const {
  std::lock_guard lock(known_mu_);
  if (generation_ == seen_at) known_.emplace(digest);
}

Result<std::string> BlobStore::get(std::string_view digest) const {
  auto data = dir_.get(digest);
  if (!data.ok()) forget_all();
  return data;
}

void BlobStore::forget_all() const {
  std::lock_guard lock(known_mu_);
  ++generation_;
  known_.clear();
}

GarbageReport BlobStore::collect_garbage(const GarbageRules& rules) {
  forget_all();
  GarbageReport report = master::collect_garbage(dir_, rules, &gc_mu_);
  forget_all();
  return report;
}

Status BlobStore::put(std::string_view digest, std::string_view data) {
  if (crash_.armed(CrashPoints::Point::blob_mid_write) && is_sha256_hex(digest) &&
      !dir_.has(digest)) {
    // Tests: leave half a temp file (named as write_file_atomic names it) and crash.
    auto path = dir_.path_of(digest);
    DROVER_TRY(make_dirs(path.parent_path()));
    std::string tmp = (path.parent_path() / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
    int fd = ::mkstemp(tmp.data());
    if (fd >= 0) {
      (void)!::write(fd, data.data(), data.size() / 2);
      ::fsync(fd);
      crash_.reached(CrashPoints::Point::blob_mid_write);
      ::close(fd);
      ::unlink(tmp.c_str());
    }
  }
  if (digest != kEmptyDigest && dir_.has(digest) && sha256_hex(data) == digest) {
    std::lock_guard lock(gc_mu_);
    // Present already (an earlier upload, maybe unreferenced and old): make it
    // young again so the garbage collection does not take it before a job names it.
    const std::uint64_t seen_at = generation();
    if (::utimensat(AT_FDCWD, dir_.path_of(digest).c_str(), nullptr, AT_SYMLINK_NOFOLLOW) == 0) {
      remember(digest, seen_at);
      return ok_status();
    }
  }
  const std::uint64_t seen_at = generation();
  DROVER_TRY(dir_.put(digest, data));
  remember(digest, seen_at);
  return ok_status();
}

}  // namespace drover::master
