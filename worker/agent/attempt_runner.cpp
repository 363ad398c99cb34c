#include "worker/agent/attempt_runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
#include "worker/agent/blob_upload.hpp"
#include "worker/agent/task_env.hpp"
#include "worker/checkpoint/checkpointer.hpp"
#include "worker/executor/process_group_record.hpp"

namespace drover::worker {

namespace {

AttemptReport failure(std::string reason, std::string message) {
  AttemptReport r;
  r.state = AttemptState::failed;
  r.reason = std::move(reason);
  r.message = std::move(message);
  return r;
}

AttemptReport drover_error(const std::string& what, const Error& error) {
  return failure(FailureReason::drover_error, fmt::format("{}: {}", what, error.describe()));
}

// Turns `r` into a drover-side failure, keeping its times and log digests.
void mark_drover_error(AttemptReport& r, std::string message) {
  r.state = AttemptState::failed;
  r.reason = FailureReason::drover_error;
  r.message = std::move(message);
  r.output_digest.clear();
  r.output_bytes = 0;
}

AttemptReport killed_report(const RunningAttempt& attempt) {
  AttemptReport r;
  r.state = AttemptState::killed;
  r.reason = attempt.kill_reason().empty() ? FailureReason::killed : attempt.kill_reason();
  r.message = attempt.kill_message();
  return r;
}

constexpr const char* kFencedByCheckpoint = "fenced by the master";

}  // namespace

std::string describe_signal(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return fmt::format("killed by signal {}", signal);
  return fmt::format("killed by signal {} (SIG{})", signal, abbrev);
}

std::optional<std::filesystem::path> AttemptRunner::shared_root() const {
  if (deps_.store == nullptr) return std::nullopt;
  return deps_.store->shared_root();
}

std::shared_ptr<RunningAttempt> AttemptRunner::admit(const Assignment& a) {
  auto root = shared_root();
  auto attempt = std::make_shared<RunningAttempt>(
      a.attempt_id, root ? AttemptPaths::under(options_.work_dir, a.attempt_id, *root)
                         : AttemptPaths::under(options_.work_dir, a.attempt_id));
  if (!deps_.table.add(attempt)) return nullptr;
  return attempt;
}

void AttemptRunner::run(const Assignment& a, const std::shared_ptr<RunningAttempt>& attempt) {
  spdlog::info("attempt {} ({} {}/{} #{}) assigned", a.attempt_id, a.job, a.stage, a.index,
               a.attempt);
  auto report = execute(a, *attempt);
  // Fenced at start (no report): as if rejected.
  Delivery delivery = Delivery::rejected;
  if (report) {
    spdlog::info("attempt {} {}{}{}", a.attempt_id, to_string(report->state),
                 report->message.empty() ? "" : ": ", report->message);
    delivery = deliver(a.attempt_id, *report);
    if (delivery == Delivery::undelivered) {
      spdlog::warn("attempt {}: report not delivered before shutdown", a.attempt_id);
    }
  }
  deps_.table.remove(a.attempt_id);
  const auto record = process_group_file(options_.work_dir, a.attempt_id);
  if (std::error_code ec; std::filesystem::exists(record, ec) &&
                          (deps_.spares == nullptr || !deps_.spares->recycle_record(record))) {
    std::filesystem::remove(record, ec);
  }
  auto remove = [&](const std::filesystem::path& dir) {
    Status removed = drover::remove_all(dir);
    if (!removed.ok()) {
      spdlog::warn("attempt {}: cannot remove {}: {}", a.attempt_id, dir.string(),
                   removed.error().describe());
    }
  };
  // Kept for the next attempt where it can be (the task's processes all ended
  // with it); else a new spare replaces the one this attempt took.
  const bool recycled = deps_.spares != nullptr && deps_.spares->recycle(attempt->paths().root);
  if (!recycled) remove(attempt->paths().root);
  // A shared output the master may commit (by renaming it) stays; any other goes.
  bool may_commit = report && report->state == AttemptState::succeeded &&
                    delivery != Delivery::rejected;
  if (attempt->paths().shared_output && !may_commit) remove(attempt->paths().output);
  if (deps_.spares != nullptr && !recycled) deps_.spares->refill();
}

void AttemptRunner::refuse(const Assignment& a, const std::string& reason,
                           const std::string& message) {
  AttemptReport r;
  r.state = AttemptState::killed;
  r.reason = reason;
  r.message = message;
  r.started_at = r.finished_at = to_millis(deps_.clock.now());
  spdlog::info("attempt {} ({} {}/{} #{}) not started: {}", a.attempt_id, a.job, a.stage, a.index,
               a.attempt, message);
  if (deliver(a.attempt_id, r) == Delivery::undelivered) {
    spdlog::warn("attempt {}: report not delivered before shutdown", a.attempt_id);
  }
}

AttemptReport AttemptRunner::local_failure(const std::string& what, const Error& error) const {
  if (is_disk_full(error, options_.work_dir, options_.disk_full)) {
    return failure(FailureReason::drover_error,
                   disk_full_message(options_.work_dir,
                                     fmt::format("{}: {}", what, error.describe())));
  }
  return drover_error(what, error);
}

std::optional<AttemptReport> AttemptRunner::prepare(const Assignment& a,
                                                    const AttemptPaths& paths) {
  const char* what = "prepare failed";
  auto bundle = deps_.cache.bundle(a.bundle_digest);
  if (!bundle.ok()) return local_failure(what, bundle.error());
  if (Status s = create_attempt_dirs(paths, *bundle, deps_.spares); !s.ok()) {
    return local_failure(what, s.error());
  }
  std::vector<UpstreamOutput> missing;
  StagingOptions staging{a.partition, shared_root()};
  if (Status s = stage_upstream(paths, a.upstream, deps_.cache, missing, staging); !s.ok()) {
    if (missing.empty()) return local_failure(what, s.error());
    AttemptReport r = failure(FailureReason::drover_error, s.error().message);
    r.missing_upstream = std::move(missing);
    return r;
  }
  if (has_input_list(a)) {
    Status s = write_file_atomic(paths.input_list, input_list_text(task_input_files(a, paths)));
    if (!s.ok()) return local_failure(what, s.error());
  }
  if (!a.checkpoint_digest.empty()) {
    Status s = restore_checkpoint(paths.checkpoint, a.checkpoint_digest, deps_.cache);
    if (!s.ok()) return local_failure(what, s.error());
  }
  if (Status s = hand_over(paths, options_.task_user); !s.ok()) return local_failure(what, s.error());
  return std::nullopt;
}

std::optional<AttemptReport> AttemptRunner::execute(const Assignment& a, RunningAttempt& attempt) {
  const AttemptPaths& paths = attempt.paths();
  const TimePoint prepared_from = deps_.clock.now();
  auto stamp = [&](AttemptReport r, TimePoint started) {
    r.started_at = to_millis(started);
    r.finished_at = to_millis(deps_.clock.now());
    return r;
  };
  if (attempt.kill_requested()) return stamp(killed_report(attempt), prepared_from);  // queued
  if (auto failed = prepare(a, paths)) return stamp(std::move(*failed), prepared_from);
  if (attempt.kill_requested()) return stamp(killed_report(attempt), prepared_from);
  Checkpointer checkpoint(a.attempt_id, paths.checkpoint, deps_.master, deps_.stop);
  checkpoint.restored(a.checkpoint_digest);

  TaskLaunch launch = build_task_launch(a, paths, options_.task_path);
  ExecSpec spec{launch.argv,       launch.env,        paths.sandbox,
                paths.stdout_file, paths.stderr_file, Duration{a.timeout_ms}};
  spec.attempt_id = a.attempt_id;
  spec.memory = a.memory;
  spec.private_dir = paths.root;
  auto execution = deps_.executor.start(spec);
  if (!execution.ok()) return stamp(local_failure("spawn failed", execution.error()), prepared_from);
  const TimePoint started = deps_.clock.now();
  attempt.attach(execution->get());
  // A kept sandbox's group is recorded once, for all the tasks it runs.
  if (!(*execution)->group_recorded()) {
    const auto record = process_group_file(options_.work_dir, a.attempt_id);
    if (deps_.spares != nullptr) deps_.spares->take_record(record);  // else it is created
    Status recorded = record_process_group(record, (*execution)->pid());
    if (!recorded.ok()) {
      spdlog::warn("attempt {}: cannot record its process group: {}", a.attempt_id,
                   recorded.error().describe());
    }
  }

  // A task that ends this soon is reported once, finished: the report says
  // when it started, and the master records the start from it. Nor does it
  // get a thread for periodic checkpoints (one thread made and joined per
  // task): the final save below covers it.
  const bool quick = (*execution)->ended_within(options_.started_report_delay);
  if (!quick) {
    Status ack = deps_.master.attempt_started(a.attempt_id, started);
    if (!ack.ok() && is_final_rejection(ack.error())) {
      spdlog::info("attempt {} fenced by the master: killing it", a.attempt_id);
      (*execution)->kill();
      (void)(*execution)->wait();
      attempt.detach();
      return std::nullopt;
    }
    if (!ack.ok()) {
      spdlog::warn("attempt {}: start not acknowledged: {}", a.attempt_id, ack.error().describe());
    }
  }
  ExecResult result;
  {
    // Saves run on their own thread: the task keeps running while one uploads.
    const Duration interval{quick ? 0 : a.checkpoint_interval_ms};
    PeriodicCheckpoint periodic(checkpoint, interval, [&attempt] {
      attempt.request_kill(FailureReason::killed, kFencedByCheckpoint);
    });
    result = (*execution)->wait();
    attempt.detach();
    attempt.release();  // a queued attempt may start while this one reports
    periodic.stop();
  }
  AttemptReport report = outcome(a, result, attempt);
  (void)checkpoint.save(/*final=*/true);
  report.checkpoint_digest = checkpoint.latest_digest();
  return stamp(std::move(report), started);
}

AttemptReport AttemptRunner::outcome(const Assignment& a, const ExecResult& result,
                                     RunningAttempt& attempt) {
  AttemptReport r;
  r.cpu_ms = result.cpu_ms;
  const auto full = result.termination == Termination::none ? full_disk(attempt.paths())
                                                            : std::nullopt;
  r.exit_code = result.status.exit_code;
  r.signal = result.status.signal;
  if (result.termination == Termination::killed) {
    AttemptReport k = killed_report(attempt);
    r.state = k.state;
    r.reason = k.reason;
    r.message = k.message;
  } else if (result.out_of_memory && (result.status.signal != 0 || result.status.exit_code != 0)) {
    r.state = AttemptState::failed;
    r.reason = FailureReason::out_of_memory;
    r.message = fmt::format("out of memory: exceeded memory limit of {}", format_size(a.memory));
  } else if (full) {
    // Its writes (output, logs) may have failed: neither its result nor its
    // output can be trusted. A drover-side failure, retried elsewhere.
    r.state = AttemptState::failed;
    r.reason = FailureReason::drover_error;
    r.message = disk_full_message(
        *full,
        fmt::format("the task ended ({}) while the disk was full",
                    result.status.signal != 0 ? describe_signal(result.status.signal)
                                              : fmt::format("exit code {}", result.status.exit_code)));
  } else if (result.termination == Termination::timeout) {
    r.state = AttemptState::failed;
    r.reason = FailureReason::timeout;
    r.message = fmt::format("timed out after {}", format_duration(Duration{a.timeout_ms}));
  } else if (result.status.signal != 0) {
    r.state = AttemptState::failed;
    r.reason = FailureReason::signal;
    r.message = describe_signal(result.status.signal);
  } else if (result.status.exit_code != 0) {
    r.state = AttemptState::failed;
    r.reason = FailureReason::exit_code;
    r.message = fmt::format("exit code {}", result.status.exit_code);
  } else {
    r.state = AttemptState::succeeded;
    add_output(a.attempt_id, attempt.paths(), r);
  }
  add_logs(attempt.paths(), r);
  return r;
}

std::optional<std::filesystem::path> AttemptRunner::full_disk(const AttemptPaths& paths) const {
  if (options_.disk_full(paths.root)) return paths.root;
  if (paths.shared_output && options_.disk_full(paths.output)) return paths.output;
  return std::nullopt;
}

void AttemptRunner::add_output(std::int64_t attempt_id, const AttemptPaths& paths,
                               AttemptReport& r) {
  if (paths.shared_output) {  // written in place; the master commits it by renaming
    auto bytes = tree_bytes(paths.output);
    if (!bytes.ok()) {
      return mark_drover_error(r, local_failure("output failed", bytes.error()).message);
    }
    r.output_bytes = *bytes;
    r.output_digest = attempt_output_ref(attempt_id);
    return;
  }
  if (empty_dir(paths.output)) {
    // Nothing written: the master always has the empty output, no upload.
    static const std::string empty_digest = sha256_hex(empty_archive());
    r.output_bytes = empty_archive().size();
    r.output_digest = empty_digest;
    return;
  }
  auto packed = pack_untrusted_directory(paths.output);  // the task may have swapped in links
  if (!packed.ok()) {
    AttemptReport f = local_failure("pack of output failed", packed.error());
    return mark_drover_error(r, f.message);
  }
  r.output_bytes = packed->size();
  auto digest = upload_blob_retrying(deps_.master, deps_.stop, std::move(*packed));
  if (!digest.ok()) {
    return mark_drover_error(r, drover_error("upload of output failed", digest.error()).message);
  }
  r.output_digest = *digest;
}

void AttemptRunner::add_logs(const AttemptPaths& paths, AttemptReport& r) {
  auto one = [&](const std::filesystem::path& file, std::string& digest_out) {
    auto content = read_task_file(file);  // the task may have swapped in a link or fifo
    if (!content.ok()) spdlog::warn("attempt log not uploaded: {}", content.error().describe());
    if (!content.ok() || content->empty()) return;
    auto digest = upload_blob_retrying(deps_.master, deps_.stop, std::move(*content));
    if (digest.ok()) {
      digest_out = *digest;
    } else {  // logs are best effort: the task's result stands
      spdlog::warn("upload of {} failed: {}", file.string(), digest.error().describe());
    }
  };
  one(paths.stdout_file, r.stdout_digest);
  one(paths.stderr_file, r.stderr_digest);
}

AttemptRunner::Delivery AttemptRunner::deliver(std::int64_t attempt_id,
                                               const AttemptReport& report) {
  Backoff backoff;
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  bool warned = false;
  for (;;) {
    Status sent = deps_.master.attempt_finished(attempt_id, report);
    if (sent.ok()) return Delivery::acknowledged;
    if (!is_retryable(sent.error())) {
      if (!is_final_rejection(sent.error())) {
        spdlog::error("attempt {}: report refused: {}", attempt_id, sent.error().describe());
      } else {
        spdlog::info("attempt {}: report dropped by the master ({})", attempt_id,
                     sent.error().describe());
      }
      return Delivery::rejected;
    }
    if (!warned) {
      spdlog::warn("attempt {}: report not delivered, retrying: {}", attempt_id,
                   sent.error().describe());
      warned = true;
    }
    if (deps_.stop.stopping()) {
      auto now = deps_.clock.steady_now();
      if (!give_up_at) give_up_at = now + options_.report_deadline_after_stop;
      if (now >= *give_up_at) return Delivery::undelivered;
      std::this_thread::sleep_for(backoff.next());
    } else {
      deps_.stop.sleep_for(backoff.next());
    }
  }
}

}  // namespace drover::worker
