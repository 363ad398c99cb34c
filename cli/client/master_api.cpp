#include "cli/client/master_api.hpp"

namespace drover::cli {

namespace {
// A master that keeps answering the same cursor would loop forever.
constexpr int kMaxPages = 100'000;
}  // namespace

Result<std::vector<JobInfo>> list_all_jobs(MasterApi& api) {
  std::vector<JobInfo> jobs;
  std::string after;
  for (int page = 0; page < kMaxPages; ++page) {
    auto list = api.list_jobs(after);
    if (!list) return list.error();
    for (auto& job : list->jobs) jobs.push_back(std::move(job));
    if (list->next.empty() || list->next == after) break;
    after = list->next;
  }
  return jobs;
}

Result<std::vector<TaskInfo>> list_all_tasks(MasterApi& api, const std::string& job,
                                             const TaskFilter& filter) {
  std::vector<TaskInfo> tasks;
  std::string after;
  for (int page = 0; page < kMaxPages; ++page) {
    auto list = api.list_tasks(job, filter, after);
    if (!list) return list.error();
    for (auto& task : list->tasks) tasks.push_back(std::move(task));
    if (list->next.empty() || list->next == after) break;
    after = list->next;
  }
  return tasks;
}

}  // namespace drover::cli
