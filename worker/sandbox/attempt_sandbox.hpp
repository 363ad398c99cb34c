#pragma once
// The per-attempt directory tree and its preparation:
//   work_dir/attempts/<attempt_id>/
//     sandbox/     a fresh copy of the bundle files: the task's cwd and HOME
//     input/<stage>/<index>/   upstream outputs, unpacked
//     output/      DROVER_OUTPUT_DIR, packed and uploaded on success
//     checkpoint/  DROVER_CHECKPOINT_DIR
//     tmp/         TMPDIR
//     stdout, stderr, progress
// Functions here run on the attempt's own thread; they share nothing.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "common/base/result.hpp"
#include "common/proto/assignment.hpp"
#include "worker/sandbox/blob_cache.hpp"

namespace drover::worker {

struct AttemptPaths {
  std::filesystem::path root;
  std::filesystem::path sandbox;
  std::filesystem::path input;
  std::filesystem::path output;
  std::filesystem::path checkpoint;
  std::filesystem::path tmp;
  std::filesystem::path stdout_file;
  std::filesystem::path stderr_file;
  std::filesystem::path progress_file;

  static AttemptPaths under(const std::filesystem::path& work_dir, std::int64_t attempt_id);
};

// The user that runs tasks when it is not the worker's own.
struct TaskUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

// At worker start: creates work_dir and empties work_dir/attempts (leftovers of an
// earlier run cannot be reported any more).
[[nodiscard]] Status reset_work_dir(const std::filesystem::path& work_dir);

// Creates the tree (removing a stale one first) and copies the bundle into sandbox/.
[[nodiscard]] Status create_attempt_dirs(const AttemptPaths& paths,
                                         const std::filesystem::path& bundle_dir);

// Downloads (through the cache) and unpacks each upstream output into
// input/<stage>/<index>/. Outputs that are missing (the master answers 404) or
// corrupt (digest mismatch, not a valid archive) are appended to `missing` and
// the others are still checked; the error then names the first of them
// ("upstream output s/3 is missing or corrupt"). Any other failure (master
// unreachable, local disk) stops at once and is returned as it is, unless
// missing outputs were found before it.
[[nodiscard]] Status stage_upstream(const AttemptPaths& paths,
                                    const std::vector<UpstreamOutput>& upstream, BlobCache& cache,
                                    std::vector<UpstreamOutput>& missing);

// `unpacked`, or an ENOSPC error when it is ok but `dest`'s file system is now
// full: libarchive reports a failed data write only as a warning, so a full
// disk can leave truncated files behind an "ok" unpack.
[[nodiscard]] Status unpacked_without_loss(Status unpacked, const std::filesystem::path& dest);

// Makes the tree private to the task: owned by `user` (when set), root mode 0700.
[[nodiscard]] Status hand_over(const AttemptPaths& paths, const std::optional<TaskUser>& user);

}  // namespace drover::worker
