#pragma once
// What the master sends a worker to run, and what the worker reports back.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto/states.hpp"

namespace drover {

struct UpstreamOutput {
  std::string stage;
  std::int64_t index = 0;
  // The committed output: the sha256 of its tar.gz blob, or with a shared
  // output_store "shared:<path relative to the store root>" (a directory).
  // See common/proto/output_ref.hpp.
  std::string digest;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(UpstreamOutput, stage, index, digest)

struct Assignment {
  std::int64_t attempt_id = 0;  // unique across the cluster; fences every report
  std::string job;
  std::string stage;
  std::int64_t index = 0;
  std::int64_t count = 0;    // tasks in the stage
  int attempt = 1;           // 1 for the first attempt
  std::string input_kind;    // "none" | "file" | "files" | "item" | "index" | "partition"
  std::string input;         // file path (relative = inside the bundle), item, index or partition
  std::vector<std::string> inputs;  // kind "files" (group_bytes): every file; input is the first
  std::int64_t partition = -1;      // >= 0: take only the <partition>/ part of each upstream output
  std::string bundle_digest;
  std::vector<std::string> command;  // placeholders not yet expanded
  std::map<std::string, std::string> env;
  std::int64_t timeout_ms = 0;  // 0 = none
  std::int64_t checkpoint_interval_ms = 30000;
  double cpus = 1;
  std::uint64_t memory = 0;
  std::vector<UpstreamOutput> upstream;
  std::string checkpoint_digest;  // newest saved checkpoint (tar.gz blob); restore it first
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Assignment, attempt_id, job, stage, index, count,
                                                attempt, input_kind, input, inputs, partition,
                                                bundle_digest, command,
                                                env, timeout_ms, checkpoint_interval_ms, cpus,
                                                memory, upstream, checkpoint_digest)

// GET /internal/v1/workers/{id}/work?wait_ms=N (long poll)
struct WorkReply {
  std::vector<Assignment> assignments;
  std::vector<std::int64_t> kill;  // attempts to kill (cancelled or fenced)
  bool drain = false;  // `drover drain`: take no more work; finish, then hand back (guarantee 8)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WorkReply, assignments, kill, drain)

// POST /internal/v1/attempts/{id}/checkpoint — after the checkpoint blob was uploaded.
struct CheckpointReport {
  std::string digest;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(CheckpointReport, digest)

// Why an attempt failed, as recorded and shown.
struct FailureReason {
  static constexpr const char* exit_code = "exit_code";
  static constexpr const char* signal = "signal";
  static constexpr const char* timeout = "timeout";
  static constexpr const char* out_of_memory = "out_of_memory";
  static constexpr const char* lost_worker = "lost_worker";
  static constexpr const char* drover_error = "drover_error";  // download, upload, disk, spawn
  static constexpr const char* killed = "killed";    // cancelled or fenced
  static constexpr const char* drained = "drained";  // handed back by a draining worker
};

// POST /internal/v1/attempts/{id}/finished — after the output blob was uploaded.
struct AttemptReport {
  AttemptState state = AttemptState::failed;  // succeeded | failed | killed
  int exit_code = -1;                          // -1 when it did not exit normally
  int signal = 0;
  std::string reason;   // FailureReason value; empty on success
  std::string message;  // human detail, e.g. "download of bundle failed: ..."
  // succeeded only: sha256 of the output tar.gz blob, or with a shared
  // output_store "shared:attempts/a-<attempt_id>" (the directory the task wrote)
  std::string output_digest;
  std::uint64_t output_bytes = 0;
  std::string stdout_digest;  // logs, uploaded as blobs; empty = no bytes
  std::string stderr_digest;
  std::int64_t started_at = 0;  // ms since epoch, worker clock
  std::int64_t finished_at = 0;
  std::string checkpoint_digest;  // final checkpoint saved when the attempt ended; empty = none
  std::int64_t cpu_ms = 0;        // user + system cpu time the task used (accounting)
  // Upstream outputs that could not be fetched or were corrupt (failed, drover_error):
  // the master reruns their producing tasks (lineage) and does not count this failure.
  std::vector<UpstreamOutput> missing_upstream;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AttemptReport, state, exit_code, signal, reason,
                                                message, output_digest, output_bytes,
                                                stdout_digest, stderr_digest, started_at,
                                                finished_at, checkpoint_digest, cpu_ms,
                                                missing_upstream)

// POST /internal/v1/attempts/reports — several attempts' reports in one
// request (a busy worker's started and finished reports travel together).
// Each item is handled exactly as its own /started or /finished request would
// be, started ones first; the reply has one result per item, in order.
struct StartedReport {
  std::int64_t attempt_id = 0;
  std::int64_t started_at = 0;  // ms since epoch, worker clock; 0 = the master's now
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StartedReport, attempt_id, started_at)

struct FinishedReport {
  std::int64_t attempt_id = 0;
  AttemptReport report;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(FinishedReport, attempt_id, report)

struct ReportBatch {
  std::vector<StartedReport> started;
  std::vector<FinishedReport> finished;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ReportBatch, started, finished)

// The outcome of one item: status 200, or the HTTP status, code and message
// its own request would have got (404 unknown attempt, 409 fenced, ...).
struct ReportResult {
  std::int64_t attempt_id = 0;
  int status = 200;
  std::string code;
  std::string message;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ReportResult, attempt_id, status, code, message)

struct ReportBatchReply {
  std::vector<ReportResult> started;
  std::vector<ReportResult> finished;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ReportBatchReply, started, finished)

}  // namespace drover
