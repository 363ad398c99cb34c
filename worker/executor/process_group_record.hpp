#pragma once
// Records of the process groups this worker spawned, so that a worker restarted
// after a crash kills the orphans of its previous run before it clears work_dir:
//
//   work_dir/attempts/<attempt_id>.pgid    "<pgid> <boot id> <leader start time>"
//   work_dir/attempts/sandbox-<pid>.pgid   the same, for a kept sandbox's init
//                                          (one record for all its tasks)
//
// padded with spaces to kRecordBytes (a reused file is overwritten whole).
//
// The record lives beside the attempt dir, not in it: the attempt dir belongs
// to the task's user, who must not be able to point the worker at other
// processes. Boot id and start time guard against a recycled process group id.
// Free functions; the attempt thread writes, main() reads at startup.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>

#include "common/base/result.hpp"

namespace drover::worker {

inline constexpr std::size_t kRecordBytes = 96;

std::filesystem::path process_group_file(const std::filesystem::path& work_dir,
                                         std::int64_t attempt_id);

std::filesystem::path kept_sandbox_file(const std::filesystem::path& work_dir, pid_t pid);

// Writes the record for the group led by `pgid` (the task, just spawned).
[[nodiscard]] Status record_process_group(const std::filesystem::path& file, pid_t pgid);

// At startup: SIGKILLs every recorded group that still exists and is the same
// group (same boot; its leader has the recorded start time, or the leader is
// gone while the group lives, which keeps its id from being reused). Returns
// how many groups were killed; unreadable records are skipped.
int kill_recorded_groups(const std::filesystem::path& work_dir);

}  // namespace drover::worker
