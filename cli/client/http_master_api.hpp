#pragma once
// HttpMasterApi: MasterApi over the master's REST API (SPEC §6). The only code
// in the CLI that knows URLs, query parameters and response headers. Blocking;
// one instance per thread (it owns a keep-alive http::Client).
#include <string>

#include "cli/client/master_api.hpp"
#include "common/http/client.hpp"

namespace drover::cli {

class HttpMasterApi final : public MasterApi {
 public:
  explicit HttpMasterApi(const MasterConnection& connection);

  Result<JobInfo> submit_job(std::string bundle, const SubmitParams& params) override;
  Result<JobList> list_jobs(const std::string& after) override;
  Result<JobInfo> get_job(const std::string& job) override;
  Result<TaskList> list_tasks(const std::string& job, const TaskFilter& filter,
                              const std::string& after) override;
  Result<LogChunk> read_logs(const LogQuery& query) override;
  Result<JobEventList> list_events(const std::string& job, std::int64_t after) override;
  Result<std::string> download_output(const std::string& job, const std::string& stage,
                                      std::int64_t index) override;
  Result<JobInfo> cancel_job(const std::string& job) override;
  Result<JobInfo> rerun_job(const std::string& job, bool failed_only) override;
  Result<std::vector<WorkerInfo>> list_workers() override;
  Result<nlohmann::json> drain_worker(const std::string& worker) override;
  Status check_ready() override;

 private:
  // Sends a request; non-2xx statuses become the Error from the body.
  Result<http::Response> send(std::string_view method, const std::string& target,
                              std::string body = {}, std::string content_type = {},
                              Duration timeout = Duration{0});

  http::Client client_;
};

}  // namespace drover::cli
