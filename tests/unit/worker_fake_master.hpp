#pragma once
// A scripted MasterApi for the worker's unit tests: records calls, serves blobs
// from memory, and answers the long poll from a queue.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "worker/agent/master_api.hpp"

namespace drover::worker::testing {

// Records what the runner sends; serves blobs from memory.
class FakeMaster final : public MasterApi {
 public:
  Result<RegistrationReply> register_worker(const WorkerRegistration& r) override {
    std::lock_guard lock(mu);
    registrations.push_back(r);
    RegistrationReply reply;
    reply.heartbeat_interval_ms = 50;
    reply.output_store = output_store;
    return reply;
  }
  // Pops the next scripted reply, or waits a little and returns no work.
  Result<WorkReply> poll_work(const std::string&, Duration) override {
    std::unique_lock lock(mu);
    ++polls;
    cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return !work.empty(); });
    if (work.empty()) return WorkReply{};
    auto next = std::move(work.front());
    work.pop_front();
    return next;
  }
  Result<HeartbeatReply> heartbeat(const std::string&, const Heartbeat& hb) override {
    std::lock_guard lock(mu);
    heartbeats.push_back(hb);
    HeartbeatReply reply;
    reply.kill = std::move(heartbeat_kills);
    heartbeat_kills.clear();
    return reply;
  }
  void push_work(Result<WorkReply> reply) {
    {
      std::lock_guard lock(mu);
      work.push_back(std::move(reply));
    }
    cv.notify_all();
  }
  std::size_t report_count() {
    std::lock_guard lock(mu);
    return reports.size();
  }
  Status attempt_started(std::int64_t id, TimePoint) override {
    std::lock_guard lock(mu);
    started.push_back(id);
    if (fence_on_start) return make_error(ErrorCode::conflict, "fenced");
    return ok_status();
  }
  Status attempt_finished(std::int64_t id, const AttemptReport& r) override {
    std::unique_lock lock(mu);
    reports.emplace_back(id, r);
    events.push_back("finished " + std::to_string(id));
    cv.notify_all();
    // Held reports are answered once the test lets go (bounded: 20 s).
    cv.wait_for(lock, std::chrono::seconds(20), [&] { return !hold_finished; });
    if (reject_finished) return make_error(*reject_finished, "rejected by the fake master");
    return ok_status();
  }
  Status attempt_checkpoint(std::int64_t id, const CheckpointReport& r) override {
    std::lock_guard lock(mu);
    checkpoints.emplace_back(id, r.digest);
    if (fence_on_checkpoint) return make_error(ErrorCode::conflict, "fenced");
    return ok_status();
  }
  Result<std::string> fetch_blob(const std::string& digest) override {
    std::lock_guard lock(mu);
    ++blob_fetches;
    if (unreachable_blobs) return make_error(ErrorCode::unavailable, "connection refused");
    auto it = blobs.find(digest);
    if (it == blobs.end()) return make_error(ErrorCode::not_found, "no blob");
    return it->second;
  }
  Status drain_worker(const std::string& id) override {
    std::lock_guard lock(mu);
    events.push_back("drain " + id);
    return make_error(ErrorCode::unavailable, "ignored by the worker");
  }
  Status leave(const std::string& id) override {
    std::lock_guard lock(mu);
    events.push_back("leave " + id);
    return ok_status();
  }
  std::size_t checkpoint_count() {
    std::lock_guard lock(mu);
    return checkpoints.size();
  }
  Status upload_blob(const std::string& digest, std::string content) override {
    std::lock_guard lock(mu);
    ++blob_uploads;
    blobs[digest] = std::move(content);
    return ok_status();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::string output_store = "master";  // RegistrationReply::output_store
  std::optional<ErrorCode> reject_finished;  // attempt_finished answers this (after recording)
  bool hold_finished = false;  // attempt_finished records, then waits for false (notify cv)
  std::deque<Result<WorkReply>> work;
  int polls = 0;
  std::vector<WorkerRegistration> registrations;
  std::vector<Heartbeat> heartbeats;
  std::vector<std::int64_t> heartbeat_kills;
  bool fence_on_start = false;
  std::vector<std::int64_t> started;
  std::vector<std::pair<std::int64_t, AttemptReport>> reports;
  std::map<std::string, std::string> blobs;
  int blob_fetches = 0;
  int blob_uploads = 0;
  bool unreachable_blobs = false;  // fetch_blob answers "unavailable"
  bool fence_on_checkpoint = false;
  std::vector<std::pair<std::int64_t, std::string>> checkpoints;  // attempt, digest
  std::vector<std::string> events;  // "finished N", "drain ID", "leave ID" in order
};

// A one-task assignment running `sh -c script` in the bundle `bundle_digest`.
inline Assignment sh_assignment(std::int64_t id, const std::string& bundle_digest,
                                const std::string& script) {
  Assignment a;
  a.attempt_id = id;
  a.job = "j-1";
  a.stage = "s";
  a.count = 1;
  a.input_kind = "none";
  a.bundle_digest = bundle_digest;
  a.command = {"sh", "-c", script};
  return a;
}

}  // namespace drover::worker::testing
