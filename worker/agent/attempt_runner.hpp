#pragma once
// AttemptRunner: runs one Attempt from assignment to acknowledged report:
//
//   admit ─> prepare (bundle, sandbox, upstream) ─> spawn ─> POST started
//        ─> wait (timeout / kill) ─> pack + upload output and logs
//        ─> POST finished (retried while the master is unreachable) ─> clean up
//
// A 409 on "started" means the master fenced the attempt: it is killed and
// dropped without a report. run() blocks and is called on the attempt's own
// thread; admit() is called by the work loop. The runner itself is stateless
// and thread-safe; it is owned by the composition root.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "common/base/clock.hpp"
#include "common/proto/assignment.hpp"
#include "worker/agent/attempt_table.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/stop_signal.hpp"
#include "worker/executor/executor.hpp"
#include "worker/sandbox/blob_cache.hpp"

namespace drover::worker {

struct RunnerOptions {
  std::filesystem::path work_dir;
  std::optional<TaskUser> task_user;                       // set when tasks run as another user
  std::string task_path = "/usr/local/bin:/usr/bin:/bin";  // PATH given to tasks
  // After shutdown began, stop retrying an unreachable master after this long.
  Duration report_deadline_after_stop = std::chrono::seconds(10);
};

struct RunnerDeps {
  MasterApi& master;
  Executor& executor;
  BlobCache& cache;
  AttemptTable& table;
  const Clock& clock;
  const StopSignal& stop;
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

  // The report for an attempt (run or not) that ended; exposed for tests.
  // nullopt: fenced by the master, nothing to report.
  std::optional<AttemptReport> execute(const Assignment& assignment, RunningAttempt& attempt);

 private:
  Status prepare(const Assignment& assignment, const AttemptPaths& paths);
  AttemptReport outcome(const Assignment& assignment, const ExecResult& result,
                        RunningAttempt& attempt);
  void add_output(const AttemptPaths& paths, AttemptReport& report);
  void add_logs(const AttemptPaths& paths, AttemptReport& report);
  Result<std::string> upload_file_content(std::string content, std::uint64_t* size);
  // Sends the report until acknowledged (or fenced); false when it gave up.
  bool deliver(std::int64_t attempt_id, const AttemptReport& report);

  RunnerOptions options_;
  RunnerDeps deps_;
};

// "killed by signal 9 (SIGKILL)"
std::string describe_signal(int signal);

}  // namespace drover::worker
