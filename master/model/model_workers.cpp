// Workers: registration, heartbeats, liveness, drain.
#include <fmt/format.h>

#include "master/model/model.hpp"

namespace drover::master {

Effects Model::register_worker(const WorkerRegistration& reg, TimePoint now) {
  Effects fx;
  fx.reschedule = true;
  Worker& w = workers_[reg.id];
  w.id = reg.id;
  w.address = reg.address;
  w.log_token = reg.log_token;
  w.cpus = reg.cpus;
  w.memory = reg.memory;
  w.labels = reg.labels;
  // A restart ends a drain, not an exclusion.
  if (w.state != WorkerState::excluded || now >= w.excluded_until) w.state = WorkerState::alive;
  if (reg.draining) w.state = WorkerState::draining;
  w.registered_at = now;
  w.last_heartbeat_at = now;
  dirty_.workers.insert(w.id);
  std::set<AttemptId> reported(reg.running.begin(), reg.running.end());
  for (AttemptId id : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    if (!reported.count(id)) lose(attempts_.at(id), "worker restarted without it", now, fx);
  }
  for (AttemptId id : reported) {
    if (!w.active.count(id)) fx.kill.emplace_back(w.id, id);  // adopted only if still ours
  }
  return fx;
}

std::optional<Effects> Model::heartbeat(const WorkerId& id, const Heartbeat& hb, TimePoint now,
                                        Duration assign_grace) {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.state == WorkerState::dead) return std::nullopt;
  Worker& w = it->second;
  w.last_heartbeat_at = now;
  if (w.log_token != hb.log_token) w.log_token = hb.log_token;  // seldom a change
  Effects fx;
  std::set<AttemptId> reported;
  for (const AttemptProgress& p : hb.running) {
    reported.insert(p.attempt_id);
    if (w.active.count(p.attempt_id)) {
      attempts_.at(p.attempt_id).progress = p.progress;
    } else {
      fx.kill.emplace_back(id, p.attempt_id);
    }
  }
  // An assignment the worker never acknowledged was lost in transit.
  for (AttemptId aid : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    Attempt& a = attempts_.at(aid);
    if (a.state == AttemptState::assigned && !reported.count(aid) &&
        now - a.assigned_at > assign_grace) {
      lose(a, "assignment never reached the worker", now, fx);
    }
  }
  return fx;
}

Effects Model::expire_workers(TimePoint now, Duration timeout) {
  Effects fx;
  for (auto& [id, w] : workers_) {
    if (w.state == WorkerState::excluded && now >= w.excluded_until) {
      w.state = WorkerState::alive;
      w.failures_in_a_row = 0;
      dirty_.workers.insert(id);
      fx.reschedule = true;
    }
    if (w.state == WorkerState::dead || now - w.last_heartbeat_at <= timeout) continue;
    lose_all(w, fmt::format("worker {} missed heartbeats for {}", id, format_duration(timeout)),
             now, fx);
  }
  return fx;
}

void Model::lose_all(Worker& w, const std::string& why, TimePoint now, Effects& fx) {
  w.state = WorkerState::dead;
  dirty_.workers.insert(w.id);
  fx.reschedule = true;
  for (AttemptId aid : std::vector<AttemptId>(w.active.begin(), w.active.end())) {
    lose(attempts_.at(aid), why, now, fx);
  }
}

Effects Model::mark_dead(const WorkerId& id, const std::string& why, TimePoint now) {
  Effects fx;
  auto it = workers_.find(id);
  if (it != workers_.end() && it->second.state != WorkerState::dead) {
    lose_all(it->second, why, now, fx);
  }
  return fx;
}

Status Model::drain(const WorkerId& id) {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second.state == WorkerState::dead) {
    return make_error(ErrorCode::not_found, fmt::format("no live worker {}", id), "worker");
  }
  it->second.state = WorkerState::draining;
  dirty_.workers.insert(id);
  return ok_status();
}

void Model::restart_liveness(TimePoint now) {
  for (auto& [id, w] : workers_) {
    if (w.state != WorkerState::dead) w.last_heartbeat_at = now;
  }
}

}  // namespace drover::master
