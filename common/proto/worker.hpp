#pragma once
// Worker resources on the wire: registration, heartbeats and the REST view.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto/states.hpp"

namespace drover {

// POST /internal/v1/workers/register
struct WorkerRegistration {
  std::string id;
  std::string address;  // "host:port" where the worker serves logs
  double cpus = 0;
  std::uint64_t memory = 0;
  std::map<std::string, std::string> labels;
  std::vector<std::int64_t> running;  // attempts still running on it (re-registration)
  bool draining = false;              // it is draining and takes no new work
  // The bearer token its log server asks for: made up by the worker at start
  // and sent only to the master (over TLS when the master has it), so the
  // workers' shared token never travels to a worker. "" without auth.
  std::string log_token;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WorkerRegistration, id, address, cpus, memory,
                                                labels, running, draining, log_token)

struct RegistrationReply {
  std::int64_t heartbeat_interval_ms = 1000;
  std::int64_t worker_timeout_ms = 10000;
  std::vector<std::int64_t> kill;  // reported attempts the master does not want: kill them
  // "master": blobs and outputs go through the master's HTTP API.
  // "shared:/path": the worker reads and writes blobs (<path>/blobs) and
  // outputs (<path>/attempts, <path>/outputs) on that shared mount itself.
  std::string output_store = "master";
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RegistrationReply, heartbeat_interval_ms,
                                                worker_timeout_ms, kill, output_store)

struct AttemptProgress {
  std::int64_t attempt_id = 0;
  double progress = -1;  // 0..1 from DROVER_PROGRESS_FILE; -1 unknown
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AttemptProgress, attempt_id, progress)

// POST /internal/v1/workers/{id}/heartbeat
struct Heartbeat {
  std::vector<AttemptProgress> running;
  std::string log_token;  // as in WorkerRegistration: a restarted master learns it again
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Heartbeat, running, log_token)

struct HeartbeatReply {
  std::vector<std::int64_t> kill;
  bool reregister = false;  // the master does not know this worker (it restarted or declared it dead)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HeartbeatReply, kill, reregister)

// GET /api/v1/workers
struct WorkerInfo {
  std::string id;
  std::string address;
  WorkerState state = WorkerState::alive;
  double cpus = 0;
  double cpus_used = 0;
  std::uint64_t memory = 0;
  std::uint64_t memory_used = 0;
  int running = 0;  // active attempts
  std::map<std::string, std::string> labels;
  std::int64_t registered_at = 0;      // ms since epoch
  std::int64_t last_heartbeat_at = 0;  // ms since epoch
  std::int64_t heartbeat_age_ms = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WorkerInfo, id, address, state, cpus, cpus_used,
                                                memory, memory_used, running, labels,
                                                registered_at, last_heartbeat_at, heartbeat_age_ms)

}  // namespace drover
