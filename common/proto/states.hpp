#pragma once
// The state machines of SPEC §3. Enum values are the wire strings.
//
// Job:      queued ──> running ──> succeeded | partial | failed | cancelled
//              └──────────────────────────────────────────> cancelled
//
// Attempt:  pending ──> assigned ──> running ──> succeeded
//                 │         │           ├──────> failed   (exit != 0, signal, timeout, drover error)
//                 │         └───────────┼──────> lost     (worker dead or restarted)
//                 └─────────────────────┴──────> killed   (cancelled, drained, fenced)
//
// A task's state is its latest attempt's (pending when it has none).
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace drover {

enum class JobState { queued, running, succeeded, partial, failed, cancelled };
enum class AttemptState { pending, assigned, running, succeeded, failed, lost, killed };
using TaskState = AttemptState;
enum class WorkerState { alive, dead, draining, excluded };

NLOHMANN_JSON_SERIALIZE_ENUM(JobState, {{JobState::queued, "queued"},
                                        {JobState::running, "running"},
                                        {JobState::succeeded, "succeeded"},
                                        {JobState::partial, "partial"},
                                        {JobState::failed, "failed"},
                                        {JobState::cancelled, "cancelled"}})
NLOHMANN_JSON_SERIALIZE_ENUM(AttemptState, {{AttemptState::pending, "pending"},
                                            {AttemptState::assigned, "assigned"},
                                            {AttemptState::running, "running"},
                                            {AttemptState::succeeded, "succeeded"},
                                            {AttemptState::failed, "failed"},
                                            {AttemptState::lost, "lost"},
                                            {AttemptState::killed, "killed"}})
NLOHMANN_JSON_SERIALIZE_ENUM(WorkerState, {{WorkerState::alive, "alive"},
                                           {WorkerState::dead, "dead"},
                                           {WorkerState::draining, "draining"},
                                           {WorkerState::excluded, "excluded"}})

std::string_view to_string(JobState s);
std::string_view to_string(AttemptState s);
std::string_view to_string(WorkerState s);
std::optional<JobState> job_state_from_string(std::string_view s);
std::optional<AttemptState> attempt_state_from_string(std::string_view s);

inline bool is_terminal(JobState s) {
  return s != JobState::queued && s != JobState::running;
}
inline bool is_terminal(AttemptState s) {
  return s == AttemptState::succeeded || s == AttemptState::failed || s == AttemptState::lost ||
         s == AttemptState::killed;
}
// An attempt holding resources on a worker.
inline bool is_active(AttemptState s) {
  return s == AttemptState::assigned || s == AttemptState::running;
}

}  // namespace drover
