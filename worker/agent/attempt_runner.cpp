#include "worker/agent/attempt_runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <string.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "worker/agent/task_env.hpp"

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
void mark_drover_error(AttemptReport& r, const std::string& what, const Error& error) {
  AttemptReport f = drover_error(what, error);
  r.state = f.state;
  r.reason = f.reason;
  r.message = f.message;
  r.output_digest.clear();
  r.output_bytes = 0;
}

bool is_final_rejection(const Error& e) {
  return e.code == ErrorCode::conflict || e.code == ErrorCode::not_found;
}

// Transport failures and 5xx are worth retrying; other statuses are answers.
bool is_retryable(const Error& e) {
  return e.code == ErrorCode::unavailable || e.code == ErrorCode::internal ||
         e.code == ErrorCode::io;
}

}  // namespace

std::string describe_signal(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev == nullptr) return fmt::format("killed by signal {}", signal);
  return fmt::format("killed by signal {} (SIG{})", signal, abbrev);
}

std::shared_ptr<RunningAttempt> AttemptRunner::admit(const Assignment& a) {
  auto attempt = std::make_shared<RunningAttempt>(
      a.attempt_id, AttemptPaths::under(options_.work_dir, a.attempt_id));
  if (!deps_.table.add(attempt)) return nullptr;
  return attempt;
}

void AttemptRunner::run(const Assignment& a, const std::shared_ptr<RunningAttempt>& attempt) {
  spdlog::info("attempt {} ({} {}/{} #{}) assigned", a.attempt_id, a.job, a.stage, a.index,
               a.attempt);
  auto report = execute(a, *attempt);
  if (report) {
    spdlog::info("attempt {} {}{}{}", a.attempt_id, to_string(report->state),
                 report->message.empty() ? "" : ": ", report->message);
    if (!deliver(a.attempt_id, *report)) {
      spdlog::warn("attempt {}: report not delivered before shutdown", a.attempt_id);
    }
  }
  deps_.table.remove(a.attempt_id);
  Status removed = drover::remove_all(attempt->paths().root);
  if (!removed.ok()) {
    spdlog::warn("attempt {}: cannot remove {}: {}", a.attempt_id, attempt->paths().root.string(),
                 removed.error().describe());
  }
}

Status AttemptRunner::prepare(const Assignment& a, const AttemptPaths& paths) {
  auto bundle = deps_.cache.bundle(a.bundle_digest);
  if (!bundle.ok()) return bundle.error();
  DROVER_TRY(create_attempt_dirs(paths, *bundle));
  DROVER_TRY(stage_upstream(paths, a.upstream, deps_.cache));
  return hand_over(paths, options_.task_user);
}

std::optional<AttemptReport> AttemptRunner::execute(const Assignment& a, RunningAttempt& attempt) {
  const AttemptPaths& paths = attempt.paths();
  const TimePoint prepared_from = deps_.clock.now();
  auto stamp = [&](AttemptReport r, TimePoint started) {
    r.started_at = to_millis(started);
    r.finished_at = to_millis(deps_.clock.now());
    return r;
  };
  Status prepared = prepare(a, paths);
  if (!prepared.ok()) return stamp(drover_error("prepare failed", prepared.error()), prepared_from);
  if (attempt.kill_requested()) {
    AttemptReport r;
    r.state = AttemptState::killed;
    r.reason = FailureReason::killed;
    r.message = attempt.kill_message();
    return stamp(r, prepared_from);
  }

  TaskLaunch launch = build_task_launch(a, paths, options_.task_path);
  ExecSpec spec{launch.argv,       launch.env,        paths.sandbox,
                paths.stdout_file, paths.stderr_file, Duration{a.timeout_ms}};
  auto execution = deps_.executor.start(spec);
  if (!execution.ok()) return stamp(drover_error("spawn failed", execution.error()), prepared_from);
  const TimePoint started = deps_.clock.now();
  attempt.attach(execution->get());

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
  ExecResult result = (*execution)->wait();
  attempt.detach();
  return stamp(outcome(a, result, attempt), started);
}

AttemptReport AttemptRunner::outcome(const Assignment& a, const ExecResult& result,
                                     RunningAttempt& attempt) {
  AttemptReport r;
  r.exit_code = result.status.exit_code;
  r.signal = result.status.signal;
  if (result.termination == Termination::killed) {
    r.state = AttemptState::killed;
    r.reason = FailureReason::killed;
    r.message = attempt.kill_message();
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
    add_output(attempt.paths(), r);
  }
  add_logs(attempt.paths(), r);
  return r;
}

Result<std::string> AttemptRunner::upload_file_content(std::string content, std::uint64_t* size) {
  std::string digest = sha256_hex(content);
  *size = content.size();
  Backoff backoff;
  for (int tries = 1;; ++tries) {
    Status uploaded = deps_.master.upload_blob(digest, content);
    if (uploaded.ok()) return digest;
    if (!is_retryable(uploaded.error()) || tries >= 4 || deps_.stop.stopping()) {
      return uploaded.error();
    }
    deps_.stop.sleep_for(backoff.next());
  }
}

void AttemptRunner::add_output(const AttemptPaths& paths, AttemptReport& r) {
  auto packed = pack_directory(paths.output);
  if (!packed.ok()) return mark_drover_error(r, "pack of output failed", packed.error());
  auto digest = upload_file_content(std::move(*packed), &r.output_bytes);
  if (!digest.ok()) return mark_drover_error(r, "upload of output failed", digest.error());
  r.output_digest = *digest;
}

void AttemptRunner::add_logs(const AttemptPaths& paths, AttemptReport& r) {
  auto one = [&](const std::filesystem::path& file, std::string& digest_out) {
    auto content = read_file(file);
    if (!content.ok() || content->empty()) return;
    std::uint64_t size = 0;
    auto digest = upload_file_content(std::move(*content), &size);
    if (digest.ok()) {
      digest_out = *digest;
    } else {  // logs are best effort: the task's result stands
      spdlog::warn("upload of {} failed: {}", file.string(), digest.error().describe());
    }
  };
  one(paths.stdout_file, r.stdout_digest);
  one(paths.stderr_file, r.stderr_digest);
}

bool AttemptRunner::deliver(std::int64_t attempt_id, const AttemptReport& report) {
  Backoff backoff;
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  bool warned = false;
  for (;;) {
    Status sent = deps_.master.attempt_finished(attempt_id, report);
    if (sent.ok()) return true;
    if (!is_retryable(sent.error())) {
      if (!is_final_rejection(sent.error())) {
        spdlog::error("attempt {}: report refused: {}", attempt_id, sent.error().describe());
      } else {
        spdlog::info("attempt {}: report dropped by the master ({})", attempt_id,
                     sent.error().describe());
      }
      return true;
    }
    if (!warned) {
      spdlog::warn("attempt {}: report not delivered, retrying: {}", attempt_id,
                   sent.error().describe());
      warned = true;
    }
    if (deps_.stop.stopping()) {
      auto now = deps_.clock.steady_now();
      if (!give_up_at) give_up_at = now + options_.report_deadline_after_stop;
      if (now >= *give_up_at) return false;
      std::this_thread::sleep_for(backoff.next());
    } else {
      deps_.stop.sleep_for(backoff.next());
    }
  }
}

}  // namespace drover::worker
