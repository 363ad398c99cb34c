#pragma once
// The per-attempt directory tree and its preparation:
//   work_dir/attempts/<attempt_id>/
//     sandbox/     a fresh copy of the bundle files: the task's cwd and HOME
//     input/<stage>/<index>/   upstream outputs: unpacked blobs, or symlinks
//                              into the shared output store
//     output/      DROVER_OUTPUT_DIR, packed and uploaded on success (output
//                  store "master"; with a shared one it is
//                  <shared root>/attempts/a-<attempt_id> instead)
//     checkpoint/  DROVER_CHECKPOINT_DIR
//     tmp/         TMPDIR
//     stdout, stderr, progress
//     input_list   DROVER_INPUT_LIST (input kinds "file" and "files")
// Functions here run on the attempt's own thread; they share nothing.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "common/base/result.hpp"
#include "worker/sandbox/spare_dirs.hpp"
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
  std::filesystem::path input_list;
  bool shared_output = false;  // `output` lies on the shared store, outside `root`

  static AttemptPaths under(const std::filesystem::path& work_dir, std::int64_t attempt_id);
  // The same, with `output` = <shared_root>/attempts/a-<attempt_id>.
  static AttemptPaths under(const std::filesystem::path& work_dir, std::int64_t attempt_id,
                            const std::filesystem::path& shared_root);
};

// The user that runs tasks when it is not the worker's own.
struct TaskUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

// At worker start: creates work_dir and empties work_dir/attempts (leftovers of an
// earlier run cannot be reported any more).
[[nodiscard]] Status reset_work_dir(const std::filesystem::path& work_dir);

// Creates the tree (removing a stale one first, and a stale shared output dir),
// from a spare when `spares` has one ready, and copies the bundle into sandbox/.
[[nodiscard]] Status create_attempt_dirs(const AttemptPaths& paths,
                                         const std::filesystem::path& bundle_dir,
                                         SpareAttemptDirs* spares = nullptr);

// How upstream outputs are staged for one attempt.
struct StagingOptions {
  // >= 0: only the <partition>/ part of each output, prefix stripped (an output
  // without one gives an empty directory).
  std::int64_t partition = -1;
  // The shared output store's root, for "shared:<rel>" refs; nullopt in master mode.
  std::optional<std::filesystem::path> shared_root;
};

// Stages each upstream output as input/<stage>/<index>/:
//   - a blob digest: downloaded through the cache (once per worker) and unpacked;
//   - "shared:<rel>": a symlink to <shared_root>/<rel> (with a partition, to
//     <shared_root>/<rel>/<partition>, or an empty directory without one).
// Outputs that are missing (the master answers 404, <shared_root>/<rel> does
// not exist) or corrupt (digest mismatch, not a valid archive) are appended to
// `missing` and the others are still checked; the error then names the first of
// them ("upstream output s/3 is missing or corrupt"). Any other failure (master
// unreachable, local disk, a malformed ref) stops at once and is returned as it
// is, unless missing outputs were found before it.
[[nodiscard]] Status stage_upstream(const AttemptPaths& paths,
                                    const std::vector<UpstreamOutput>& upstream, BlobCache& cache,
                                    std::vector<UpstreamOutput>& missing,
                                    const StagingOptions& options = {});

// Total size of the regular files below `dir` (symlinks not followed).
[[nodiscard]] Result<std::uint64_t> tree_bytes(const std::filesystem::path& dir);

// `unpacked`, or an ENOSPC error when it is ok but `dest`'s file system is now
// full: libarchive reports a failed data write only as a warning, so a full
// disk can leave truncated files behind an "ok" unpack.
[[nodiscard]] Status unpacked_without_loss(Status unpacked, const std::filesystem::path& dest);

// Opens, read-only, a file of the attempt dir that the task's user may have
// replaced (stdout, stderr, progress): no symlink is followed as its last
// component (the attempt dir itself lies in the worker's own attempts dir) and
// only a regular file is accepted (a fifo or device would block or flood a
// root worker). An fd to close, or -1 with errno set (ENOENT: no file yet).
int open_task_file(const std::filesystem::path& path);

// The content of such a file, from `offset`, at most `max_bytes` of it;
// *size (if set) gets the file's size. A missing file reads as empty.
[[nodiscard]] Result<std::string> read_task_file(const std::filesystem::path& path,
                                                 std::uint64_t offset = 0,
                                                 std::uint64_t max_bytes = UINT64_MAX,
                                                 std::uint64_t* size = nullptr);

// Makes the tree private to the task: owned by `user` (when set), root mode 0700.
// A shared output dir is handed over too (owned by `user`, mode 0755: the master
// reads and renames it).
[[nodiscard]] Status hand_over(const AttemptPaths& paths, const std::optional<TaskUser>& user);

}  // namespace drover::worker
