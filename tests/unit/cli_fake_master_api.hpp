#pragma once
// A scripted MasterApi for the CLI's unit tests: answers come from queues and
// maps the test fills; every call is recorded.
#include <deque>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cli/client/master_api.hpp"
#include "cli/commands/context.hpp"

namespace drover::cli::testing {

class FakeMasterApi final : public MasterApi {
 public:
  // get_job answers from this queue; the last answer repeats.
  std::deque<Result<JobInfo>> job_answers;
  std::vector<Result<JobList>> job_pages;    // list_jobs answers, in order
  std::vector<Result<TaskList>> task_pages;  // list_tasks answers, in order
  std::deque<Result<LogChunk>> log_answers;
  std::deque<Result<JobEventList>> event_answers;  // list_events; the last answer repeats
  std::map<std::int64_t, Result<std::string>> outputs;  // by task index; absent = 404
  Result<std::vector<WorkerInfo>> workers = std::vector<WorkerInfo>{};
  Result<JobInfo> submit_answer = JobInfo{};
  Result<JobInfo> cancel_answer = JobInfo{};
  Result<JobInfo> rerun_answer = JobInfo{};

  std::vector<std::string> list_jobs_after;
  std::vector<std::string> list_tasks_after;
  std::vector<LogQuery> log_queries;
  std::vector<std::int64_t> list_events_after;
  std::string submitted_bundle;
  SubmitParams submitted_params;
  bool rerun_failed_only = false;

  Result<JobInfo> submit_job(std::string bundle, const SubmitParams& params) override {
    submitted_bundle = std::move(bundle);
    submitted_params = params;
    return submit_answer;
  }
  Result<JobList> list_jobs(const std::string& after) override {
    list_jobs_after.push_back(after);
    return job_pages.at(list_jobs_after.size() - 1);
  }
  Result<JobInfo> get_job(const std::string&) override {
    Result<JobInfo> answer = job_answers.front();
    if (job_answers.size() > 1) job_answers.pop_front();
    return answer;
  }
  Result<TaskList> list_tasks(const std::string&, const TaskFilter&,
                              const std::string& after) override {
    list_tasks_after.push_back(after);
    return task_pages.at(list_tasks_after.size() - 1);
  }
  Result<LogChunk> read_logs(const LogQuery& query) override {
    log_queries.push_back(query);
    Result<LogChunk> answer = log_answers.front();
    if (log_answers.size() > 1) log_answers.pop_front();
    return answer;
  }
  Result<JobEventList> list_events(const std::string&, std::int64_t after) override {
    list_events_after.push_back(after);
    Result<JobEventList> answer = event_answers.front();
    if (event_answers.size() > 1) event_answers.pop_front();
    return answer;
  }
  Result<std::string> download_output(const std::string&, const std::string&,
                                      std::int64_t index) override {
    auto it = outputs.find(index);
    if (it == outputs.end()) return make_error(ErrorCode::not_found, "no committed output");
    return it->second;
  }
  Result<JobInfo> cancel_job(const std::string&) override { return cancel_answer; }
  Result<JobInfo> rerun_job(const std::string&, bool failed_only) override {
    rerun_failed_only = failed_only;
    return rerun_answer;
  }
  Result<std::vector<WorkerInfo>> list_workers() override { return workers; }
  Result<nlohmann::json> drain_worker(const std::string&) override {
    return nlohmann::json::object();
  }
  Status check_ready() override { return ok_status(); }
};

// A CommandContext over string streams and a manual clock that sleeping advances.
struct FakeCommandEnv {
  FakeMasterApi api;
  std::ostringstream out;
  std::ostringstream err;
  ManualClock clock;
  int sleeps = 0;
  CommandContext ctx{api,
                     out,
                     err,
                     clock,
                     OutputFormat::table,
                     false,
                     [this](Duration d) {
                       ++sleeps;
                       clock.advance(d);
                     },
                     {}};
};

}  // namespace drover::cli::testing
