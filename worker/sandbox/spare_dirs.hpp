#pragma once
// Attempt trees made before they are needed, and reused.
//
// Making an attempt's tree when its assignment arrives (the root, input,
// output, checkpoint, tmp and sandbox: six mkdirs) was 0.3 ms of the 3 ms from
// a submit to its task running (tests/bench/perf.py, part b). A spare becomes
// the new attempt's root with one rename.
//
// Reuse: creating and deleting the tree's inodes for every task cost more
// than the task itself on ext4 without a journal, whose inode allocator skips
// every inode deleted in the last minute (perf: 40% of the worker's cpu in
// part a went to that scan). With recycling on, a finished attempt's tree is
// emptied and kept as a spare instead of being removed: the same inodes serve
// the next attempt.
//
// Spares are "<attempts_dir>/.spare-<n>": not attempt ids, so the cleaner
// leaves them alone, and reset_work_dir removes those of an earlier run.
// Tasks never see them: the sandbox hides the work dir. Thread-safe.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace drover::worker {

class SpareAttemptDirs {
 public:
  // `recycle`: finished attempts' trees may become spares. Only when every
  // process of a task ends with it (the sandbox's pid namespace): a process
  // left running could otherwise write into the next attempt's tree.
  SpareAttemptDirs(std::filesystem::path attempts_dir, std::size_t keep, bool recycle = false);

  // Renames a spare to `root`, which must not exist; false when no spare is
  // ready (or the rename failed): the caller makes the directories itself.
  // A spare holds empty input/, output/, checkpoint/, tmp/ and sandbox/, and
  // maybe empty stdout and stderr files.
  bool take(const std::filesystem::path& root);

  // Makes spares until `keep` are ready. Failures (a full disk) only mean
  // fewer spares: the next attempt makes its directories itself.
  void refill();

  // Empties a finished attempt's tree and keeps it as a spare. False when it
  // is not kept: recycling is off, enough spares are ready, or the tree is not
  // as the worker made it (a link or file where a directory was, extended
  // attributes or ACLs on one): the caller removes it then. Everything the
  // task left is removed; ownership and modes are the worker's again.
  bool recycle(const std::filesystem::path& root);

  // Process-group records (worker/executor/process_group_record) are reused
  // the same way, sandbox or not (tasks never see them): a finished attempt's
  // record is kept under a spare name (not *.pgid); the next attempt's record
  // is one renamed into place (`record` must not exist). False: none kept
  // (take_record: the caller creates the file) or enough are (recycle_record:
  // the caller removes it).
  bool take_record(const std::filesystem::path& record);
  bool recycle_record(const std::filesystem::path& record);

 private:
  // Renames the last of `pool` (guarded by mu_) to `to`; false when empty or failed.
  bool take_from(std::vector<std::filesystem::path>& pool, const std::filesystem::path& to);
  std::filesystem::path reserve();  // with mu_ held: counts one more in making, names it
  void settle(std::filesystem::path spare, bool ready);  // counts it done; keeps it if ready
  bool scrub(const std::filesystem::path& root) const;
  // Below the directory open as `parent`: a directory emptied and reset to
  // `mode`; an empty regular file with one link, reset to `mode` (false when
  // it is anything else: it is removed then, and made again by the next
  // task's init).
  bool reset_dir(int parent, const std::filesystem::path& dir, mode_t mode) const;
  bool reset_log(int parent, const std::string& name, mode_t mode) const;

  const std::filesystem::path attempts_dir_;
  const std::size_t keep_;
  const bool recycle_;
  const mode_t umask_;
  const uid_t euid_;
  const gid_t egid_;
  std::mutex mu_;
  std::vector<std::filesystem::path> ready_;
  std::vector<std::filesystem::path> records_;  // empty spare records
  std::size_t making_ = 0;  // being made or recycled now
  std::uint64_t next_ = 0;
};

}  // namespace drover::worker
