#pragma once
// Attempt directories made before they are needed. Making an attempt's tree
// when its assignment arrives (the root, input, checkpoint, tmp and sandbox,
// six mkdirs with output) was 0.3 ms of the 3 ms from a submit to its task
// running (tests/bench/perf.py, part b). A spare made after an earlier attempt
// ended becomes the new attempt's root with one rename; output is still made
// then, as its place depends on the output store.
//
// Spares are "<attempts_dir>/.spare-<n>": not attempt ids, so the cleaner
// leaves them alone, and reset_work_dir removes those of an earlier run.
// Tasks never see them: the sandbox hides the work dir. Thread-safe.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <vector>

namespace drover::worker {

class SpareAttemptDirs {
 public:
  SpareAttemptDirs(std::filesystem::path attempts_dir, std::size_t keep)
      : attempts_dir_(std::move(attempts_dir)), keep_(keep) {}

  // Renames a spare to `root`, which must not exist; false when no spare is
  // ready (or the rename failed): the caller makes the directories itself.
  bool take(const std::filesystem::path& root);

  // Makes spares until `keep` are ready. Failures (a full disk) only mean
  // fewer spares: the next attempt makes its directories itself.
  void refill();

 private:
  const std::filesystem::path attempts_dir_;
  const std::size_t keep_;
  std::mutex mu_;
  std::vector<std::filesystem::path> ready_;
  std::size_t making_ = 0;  // being made by refill() calls now
  std::uint64_t next_ = 0;
};

}  // namespace drover::worker
