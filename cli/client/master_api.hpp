#pragma once
// MasterApi: what the CLI asks of a drover master, as typed calls. Commands
// depend on this interface only; HttpMasterApi is the one implementation that
// knows URLs, tests use a fake. Implementations return the master's error
// (code, message, field) as an Error and transport failures as `unavailable`.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/proto/event.hpp"
#include "common/proto/job.hpp"
#include "common/proto/task.hpp"
#include "common/proto/worker.hpp"

namespace drover::cli {

// Where the master is and how to authenticate.
struct MasterConnection {
  std::string url = "http://127.0.0.1:7070";
  std::string token;    // bearer token; empty = none
  std::string ca_file;  // private CA (PEM) for an https:// master; empty = the system's CAs
};

struct SubmitParams {
  std::optional<std::string> name;       // overrides job.yaml's name
  std::optional<std::int64_t> priority;  // overrides job.yaml's priority
};

struct TaskFilter {
  std::string stage;  // empty = every stage
  std::string state;  // empty = every state
};

struct LogQuery {
  std::string job;
  std::string stage;
  std::int64_t index = 0;
  bool stderr_stream = false;  // false: stdout
  std::optional<int> attempt;  // unset: the latest attempt
  std::uint64_t offset = 0;    // first byte wanted
};

struct LogChunk {
  std::string data;  // bytes from the requested offset
  int attempt = 0;   // which attempt the bytes belong to (X-Drover-Attempt)
  std::optional<AttemptState> attempt_state;  // X-Drover-Attempt-State
};

class MasterApi {
 public:
  virtual ~MasterApi() = default;

  // Uploads a gzip'd tar bundle; returns the created job.
  [[nodiscard]] virtual Result<JobInfo> submit_job(std::string bundle,
                                                   const SubmitParams& params) = 0;
  // One page of jobs, starting after the cursor `after` (empty: the first page).
  [[nodiscard]] virtual Result<JobList> list_jobs(const std::string& after) = 0;
  [[nodiscard]] virtual Result<JobInfo> get_job(const std::string& job) = 0;
  [[nodiscard]] virtual Result<TaskList> list_tasks(const std::string& job,
                                                    const TaskFilter& filter,
                                                    const std::string& after) = 0;
  [[nodiscard]] virtual Result<LogChunk> read_logs(const LogQuery& query) = 0;
  // One page of the job's event log: events with seq > after (0: from the start).
  [[nodiscard]] virtual Result<JobEventList> list_events(const std::string& job,
                                                         std::int64_t after) = 0;
  // The committed output of a task as a gzip'd tar; not_found when none is committed.
  [[nodiscard]] virtual Result<std::string> download_output(const std::string& job,
                                                            const std::string& stage,
                                                            std::int64_t index) = 0;
  [[nodiscard]] virtual Result<JobInfo> cancel_job(const std::string& job) = 0;
  [[nodiscard]] virtual Result<JobInfo> rerun_job(const std::string& job, bool failed_only) = 0;
  [[nodiscard]] virtual Result<std::vector<WorkerInfo>> list_workers() = 0;
  // The master's answer as JSON (its shape is not fixed yet).
  [[nodiscard]] virtual Result<nlohmann::json> drain_worker(const std::string& worker) = 0;
  // Ok once the master answers /readyz with 200.
  [[nodiscard]] virtual Status check_ready() = 0;
};

// Every job, following `next` cursors page by page.
[[nodiscard]] Result<std::vector<JobInfo>> list_all_jobs(MasterApi& api);
// Every task matching `filter`, following `next` cursors page by page.
[[nodiscard]] Result<std::vector<TaskInfo>> list_all_tasks(MasterApi& api, const std::string& job,
                                                           const TaskFilter& filter);

}  // namespace drover::cli
