#pragma once
// MasterApi: the worker's side of the internal protocol with the master. The
// only code that knows the /internal/v1 URLs is HttpMasterApi; tests fake it.
// Errors: `not_found` (404: the master does not know this worker or attempt),
// `conflict` (409: fenced), `unavailable` (transport), others as the master sent.
// Implementations are thread-safe: the work loop, the heartbeat thread and every
// attempt thread call it concurrently.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/worker.hpp"
#include "worker/agent/report_batcher.hpp"

namespace drover::http {
class Client;
struct Response;
}  // namespace drover::http

namespace drover::worker {

class MasterApi {
 public:
  virtual ~MasterApi() = default;
  [[nodiscard]] virtual Result<RegistrationReply> register_worker(const WorkerRegistration& r) = 0;
  // Long poll: returns when there is work or after about `wait`.
  [[nodiscard]] virtual Result<WorkReply> poll_work(const std::string& worker_id,
                                                    Duration wait) = 0;
  [[nodiscard]] virtual Result<HeartbeatReply> heartbeat(const std::string& worker_id,
                                                         const Heartbeat& heartbeat) = 0;
  [[nodiscard]] virtual Status attempt_started(std::int64_t attempt_id, TimePoint started_at) = 0;
  [[nodiscard]] virtual Status attempt_finished(std::int64_t attempt_id,
                                                const AttemptReport& report) = 0;
  // After the checkpoint blob was uploaded; `conflict` = fenced.
  [[nodiscard]] virtual Status attempt_checkpoint(std::int64_t attempt_id,
                                                  const CheckpointReport& report) = 0;
  [[nodiscard]] virtual Result<std::string> fetch_blob(const std::string& digest) = 0;
  [[nodiscard]] virtual Status upload_blob(const std::string& digest, std::string content) = 0;
  // SIGTERM drain: ask the master to stop assigning work here, then to forget
  // this worker once its attempts are reported (SPEC §4.8).
  [[nodiscard]] virtual Status drain_worker(const std::string& worker_id) = 0;
  [[nodiscard]] virtual Status leave(const std::string& worker_id) = 0;
};

// HTTP implementation. Keeps a small stack of idle http::Clients (one is used
// by one thread at a time) so that keep-alive connections are reused. Started
// and finished reports of concurrent attempts go together in one request
// (ReportBatcher, POST /internal/v1/attempts/reports).
class HttpMasterApi final : public MasterApi {
 public:
  // ca_file: PEM CA for an https:// master; empty = the system's CAs.
  HttpMasterApi(std::string master_url, std::string bearer_token, std::string ca_file = {});
  ~HttpMasterApi() override;

  Result<RegistrationReply> register_worker(const WorkerRegistration& r) override;
  Result<WorkReply> poll_work(const std::string& worker_id, Duration wait) override;
  Result<HeartbeatReply> heartbeat(const std::string& worker_id, const Heartbeat& hb) override;
  Status attempt_started(std::int64_t attempt_id, TimePoint started_at) override;
  Status attempt_finished(std::int64_t attempt_id, const AttemptReport& report) override;
  Status attempt_checkpoint(std::int64_t attempt_id, const CheckpointReport& report) override;
  Result<std::string> fetch_blob(const std::string& digest) override;
  Status upload_blob(const std::string& digest, std::string content) override;
  Status drain_worker(const std::string& worker_id) override;
  Status leave(const std::string& worker_id) override;

 private:
  struct Lease;
  Lease lease(bool reuse = true);
  Result<http::Response> send(std::string_view method, const std::string& target,
                              const std::string& body, const std::string& content_type,
                              Duration timeout);
  Result<nlohmann::json> call_json(std::string_view method, const std::string& target,
                                   const nlohmann::json* body, Duration timeout);
  Result<ReportBatchReply> send_reports(const ReportBatch& batch);
  // Through /started and /finished, for a master without the batch endpoint.
  Result<ReportBatchReply> send_reports_one_by_one(const ReportBatch& batch);

  std::string url_;
  std::string token_;
  std::string ca_file_;
  std::mutex mu_;
  std::vector<std::unique_ptr<http::Client>> idle_;
  std::atomic<bool> batch_endpoint_{true};
  ReportBatcher reports_;  // last: its sender uses the members above
};

}  // namespace drover::worker
