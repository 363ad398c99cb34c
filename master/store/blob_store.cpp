#include "master/store/blob_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs/fs.hpp"

namespace drover::master {

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
    if (::utimensat(AT_FDCWD, dir_.path_of(digest).c_str(), nullptr, AT_SYMLINK_NOFOLLOW) == 0) {
      return ok_status();
    }
  }
  return dir_.put(digest, data);
}

}  // namespace drover::master
