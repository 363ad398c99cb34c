// Retention and garbage collection on the coordinator's strand: the Model
// picks the expired jobs, the store deletes them in the next commit, then the
// blob store (and the shared output store) drop what nothing names any more.
#include <spdlog/spdlog.h>

#include "common/archive/archive.hpp"
#include "common/base/units.hpp"
#include "common/fs/fs.hpp"
#include "master/coordinator/coordinator.hpp"

namespace drover::master {

// ------------------------------------------------------------ retention

void Coordinator::retention_tick() {
  retention_pass();
  reactor_.call_after(options_.retention_interval, [this] { retention_tick(); });
}

void Coordinator::retention_pass() {
  if (options_.retention <= Duration{0}) return;  // keep forever
  const TimePoint now = clock_.now();
  std::vector<JobId> removed = model_.expire_jobs(now, options_.retention);
  if (!removed.empty()) {
    spdlog::info("retention: deleting {} job{} that ended over {} ago ({}{})", removed.size(),
                 removed.size() == 1 ? "" : "s", format_duration(options_.retention),
                 removed.front(), removed.size() > 1 ? ", ..." : "");
  }
  const bool due = last_gc_ == TimePoint{} || now - last_gc_ >= options_.gc_interval;
  if (removed.empty() && !due) return;
  // Collect only once the deletion is durable: a master that crashes before
  // the commit reloads those jobs, and must find every blob they name.
  after_commit([this] { collect_garbage(); });
}

void Coordinator::collect_garbage() {
  if (gc_running_) return;
  gc_running_ = true;
  last_gc_ = clock_.now();
  auto rules = std::make_shared<GarbageRules>();
  rules->keep = model_.referenced_refs();
  rules->keep.insert(sha256_hex(empty_archive()));  // workers name it without uploading it
  rules->cutoff = last_gc_ - options_.blob_grace;
  if (!options_.shared_root.empty()) {
    rules->shared_root = options_.shared_root;
    rules->next_job_seq = model_.next_job_seq();
    for (const auto& [id, job] : model_.jobs()) rules->live_jobs.insert(id);
    rules->next_attempt_id = model_.next_attempt_id();
    for (const auto& [id, a] : model_.attempts()) rules->live_attempts.insert(id);
  }
  auto report = std::make_shared<GarbageReport>();
  reactor_.run_blocking([this, rules, report] { *report = blobs_.collect_garbage(*rules); },
                        [this, report] {
                          gc_running_ = false;
                          for (const std::string& e : report->errors) {
                            spdlog::warn("garbage collection: cannot delete {}", e);
                          }
                          if (report->blobs + report->outputs + report->attempt_dirs > 0) {
                            spdlog::info("garbage collection: deleted {} blobs ({} bytes), {} "
                                         "shared outputs, {} attempt directories",
                                         report->blobs, report->blob_bytes, report->outputs,
                                         report->attempt_dirs);
                          }
                          last_garbage_ = std::move(*report);
                        });
}

}  // namespace drover::master
