#pragma once
// StoreMasterApi: a MasterApi decorator that sends blob traffic where the
// OutputStore says. It forwards every call to the wrapped MasterApi, except:
//   - register_worker: the reply's output_store is given to the OutputStore
//     (the first one fixes the mode);
//   - fetch_blob / upload_blob with a shared output store: read from / written
//     to the BlobDir <root>/blobs directly (verified, atomic), never over HTTP.
//     Errors then are BlobDir's: not_found (absent or corrupt), invalid_argument
//     (bad digest), io (the mount failed; retryable like a 5xx).
// Thread-safe as the wrapped MasterApi is; owned by the composition root.
#include "worker/agent/master_api.hpp"
#include "worker/agent/output_store.hpp"

namespace drover::worker {

class StoreMasterApi final : public MasterApi {
 public:
  StoreMasterApi(MasterApi& inner, OutputStore& store) : inner_(inner), store_(store) {}

  Result<RegistrationReply> register_worker(const WorkerRegistration& r) override;
  Result<WorkReply> poll_work(const std::string& worker_id, Duration wait) override {
    return inner_.poll_work(worker_id, wait);
  }
  Result<HeartbeatReply> heartbeat(const std::string& worker_id, const Heartbeat& hb) override {
    return inner_.heartbeat(worker_id, hb);
  }
  Status attempt_started(std::int64_t attempt_id, TimePoint started_at) override {
    return inner_.attempt_started(attempt_id, started_at);
  }
  Status attempt_finished(std::int64_t attempt_id, const AttemptReport& report) override {
    return inner_.attempt_finished(attempt_id, report);
  }
  Status attempt_checkpoint(std::int64_t attempt_id, const CheckpointReport& report) override {
    return inner_.attempt_checkpoint(attempt_id, report);
  }
  Result<std::string> fetch_blob(const std::string& digest) override;
  Status upload_blob(const std::string& digest, std::string content) override;
  Status drain_worker(const std::string& worker_id) override {
    return inner_.drain_worker(worker_id);
  }
  Status leave(const std::string& worker_id) override { return inner_.leave(worker_id); }

 private:
  MasterApi& inner_;
  OutputStore& store_;
};

}  // namespace drover::worker
