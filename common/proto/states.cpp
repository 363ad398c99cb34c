#include "common/proto/states.hpp"

namespace drover {

namespace {
template <typename E>
std::optional<E> enum_from(std::string_view s, std::initializer_list<E> all) {
  for (E e : all) {
    if (nlohmann::json(e).get<std::string>() == s) return e;
  }
  return std::nullopt;
}
}  // namespace

std::string_view to_string(JobState s) {
  switch (s) {
    case JobState::queued: return "queued";
    case JobState::running: return "running";
    case JobState::succeeded: return "succeeded";
    case JobState::partial: return "partial";
    case JobState::failed: return "failed";
    case JobState::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(AttemptState s) {
  switch (s) {
    case AttemptState::pending: return "pending";
    case AttemptState::assigned: return "assigned";
    case AttemptState::running: return "running";
    case AttemptState::succeeded: return "succeeded";
    case AttemptState::failed: return "failed";
    case AttemptState::lost: return "lost";
    case AttemptState::killed: return "killed";
  }
  return "unknown";
}

std::string_view to_string(WorkerState s) {
  switch (s) {
    case WorkerState::alive: return "alive";
    case WorkerState::dead: return "dead";
    case WorkerState::draining: return "draining";
    case WorkerState::excluded: return "excluded";
  }
  return "unknown";
}

std::optional<JobState> job_state_from_string(std::string_view s) {
  return enum_from(s, {JobState::queued, JobState::running, JobState::succeeded, JobState::partial,
                       JobState::failed, JobState::cancelled});
}

std::optional<AttemptState> attempt_state_from_string(std::string_view s) {
  return enum_from(s, {AttemptState::pending, AttemptState::assigned, AttemptState::running,
                       AttemptState::succeeded, AttemptState::failed, AttemptState::lost,
                       AttemptState::killed});
}

}  // namespace drover
