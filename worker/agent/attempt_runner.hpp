#pragma once
// AttemptRunner: runs one Attempt from assignment to acknowledged report:
//
//   admit ─> prepare (bundle, sandbox, upstream, input list, checkpoint restore)
//        ─> spawn (pgid recorded) ─> POST started (unless it ended within 20 ms)
//        ─> wait (timeout / kill), checkpoint saved every interval meanwhile
//        ─> pack + upload output and logs ─> final checkpoint save
//        ─> POST finished (retried while the master is unreachable) ─> clean up
//
// With a shared output store (OutputStore) the task writes its output straight
// into <root>/attempts/a-<id>: nothing is packed; the report carries
// "shared:attempts/a-<id>" and the bytes of its files. That directory is
// removed unless the attempt succeeded and its report was acknowledged (or
// could not be delivered before shutdown: then the master decides).
//
// A 409 on "started" means the master fenced the attempt: it is killed and
// dropped without a report; a 409 on a checkpoint kills it like a master kill.
// Missing or corrupt upstream outputs are listed in the report (lineage); a
// full work_dir fails the attempt with "no space left on device in <path>".
// run() blocks and is called on the attempt's own thread; admit() and refuse()
// by the work loop. The runner itself is stateless and thread-safe; it is
// owned by the composition root.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/base/clock.hpp"
#include "common/proto/assignment.hpp"
#include "worker/agent/attempt_table.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/output_store.hpp"
#include "worker/agent/stop_signal.hpp"
#include "worker/executor/executor.hpp"
#include "worker/sandbox/blob_cache.hpp"
#include "worker/sandbox/disk_space.hpp"

namespace drover::worker {

struct RunnerOptions {
  std::filesystem::path work_dir;
  std::optional<TaskUser> task_user;                       // set when tasks run as another user
  std::string task_path = "/usr/local/bin:/usr/bin:/bin";  // PATH given to tasks
  // After shutdown began, stop retrying an unreachable master after this long.
  Duration report_deadline_after_stop = std::chrono::seconds(10);
  DiskFullProbe disk_full = filesystem_full;  // tests fake a full disk
  // "started" is reported only for a task still running this long after its
  // start; a quicker one's finished report stands for both (one request and
  // one commit on the master instead of two).
  Duration started_report_delay = std::chrono::milliseconds(20);
};

struct RunnerDeps {
  MasterApi& master;
  Executor& executor;
  BlobCache& cache;
  AttemptTable& table;
  const Clock& clock;
  const StopSignal& stop;
  const OutputStore* store = nullptr;  // nullptr: output store "master"
  SpareAttemptDirs* spares = nullptr;  // nullptr: each attempt makes its directories
};

class AttemptRunner {
 public:
  AttemptRunner(RunnerOptions options, RunnerDeps deps)
      : options_(std::move(options)), deps_(deps) {}

  // Puts the attempt in the table so kills and heartbeats see it at once;
  // nullptr when it is already there (a duplicate assignment).
  std::shared_ptr<RunningAttempt> admit(const Assignment& assignment);

  // Runs an admitted attempt to its end, reports it and removes it. Blocks.
  void run(const Assignment& assignment, const std::shared_ptr<RunningAttempt>& attempt);

  // Reports an assignment that is not started (state killed, `reason`) without
  // admitting it; e.g. one that arrived while the worker drains. Blocks.
  void refuse(const Assignment& assignment, const std::string& reason,
              const std::string& message);

  // The report for an attempt (run or not) that ended; exposed for tests.
  // nullopt: fenced by the master, nothing to report.
  std::optional<AttemptReport> execute(const Assignment& assignment, RunningAttempt& attempt);

 private:
  // A failure report when the attempt cannot start; nullopt when ready.
  std::optional<AttemptReport> prepare(const Assignment& assignment, const AttemptPaths& paths);
  // A drover_error for a local failure; says "no space left on device" when it was that.
  AttemptReport local_failure(const std::string& what, const Error& error) const;
  AttemptReport outcome(const Assignment& assignment, const ExecResult& result,
                        RunningAttempt& attempt);
  void add_output(std::int64_t attempt_id, const AttemptPaths& paths, AttemptReport& report);
  // The attempt dir, or the shared output dir, when its file system is full.
  std::optional<std::filesystem::path> full_disk(const AttemptPaths& paths) const;
  void add_logs(const AttemptPaths& paths, AttemptReport& report);
  enum class Delivery { acknowledged, rejected, undelivered };
  // Sends the report until the master answers; `undelivered` when it gave up
  // (shutdown with the master unreachable).
  Delivery deliver(std::int64_t attempt_id, const AttemptReport& report);
  std::optional<std::filesystem::path> shared_root() const;

  RunnerOptions options_;
  RunnerDeps deps_;
};

// "killed by signal 9 (SIGKILL)"
std::string describe_signal(int signal);

}  // namespace drover::worker
