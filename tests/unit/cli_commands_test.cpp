#include <catch2/catch.hpp>
#include <fstream>

#include "cli/commands/cancel.hpp"
#include "cli/commands/logs.hpp"
#include "cli/commands/output.hpp"
#include "cli/commands/rerun.hpp"
#include "cli/commands/status.hpp"
#include "cli/commands/tasks.hpp"
#include "cli/commands/wait.hpp"
#include "cli/commands/workers.hpp"
#include "cli_fake_master_api.hpp"
#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"

using namespace drover;
using namespace drover::cli;
using drover::cli::testing::FakeCommandEnv;
namespace fs = std::filesystem;

namespace {

JobInfo job_in(JobState state, std::int64_t succeeded = 0) {
  JobInfo job;
  job.id = "j1";
  job.state = state;
  job.task_count = 2;
  StageInfo stage;
  stage.name = "count";
  stage.task_count = 2;
  stage.counts = {{"succeeded", succeeded}};
  job.stages = {stage};
  return job;
}

LogChunk chunk(std::string data, AttemptState state, int attempt = 1) {
  return LogChunk{std::move(data), attempt, state};
}

}  // namespace

TEST_CASE("cli exit codes follow SPEC §5", "[cli][exit]") {
  CHECK(job_exit_code(JobState::succeeded) == 0);
  CHECK(job_exit_code(JobState::partial) == 4);
  CHECK(job_exit_code(JobState::failed) == 1);
  CHECK(job_exit_code(JobState::cancelled) == 1);

  FakeCommandEnv env;
  CHECK(report_error(env.ctx, make_error(ErrorCode::invalid_spec, "bad", "stages[1].after")) == 2);
  CHECK(env.err.str() == "error: stages[1].after: bad\n");
  CHECK(report_error(env.ctx, make_error(ErrorCode::unauthorized, "no token")) == 3);
  CHECK(report_error(env.ctx, make_error(ErrorCode::forbidden, "role")) == 3);
  CHECK(report_error(env.ctx, make_error(ErrorCode::unavailable, "refused")) == 3);

  env.api.workers = make_error(ErrorCode::unauthorized, "missing token");
  CHECK(run_workers(env.ctx, {}) == 3);
}

TEST_CASE("cli wait polls until the job ends and exits like it", "[cli][wait]") {
  FakeCommandEnv env;
  env.api.job_answers = {job_in(JobState::queued), job_in(JobState::running, 1),
                         job_in(JobState::succeeded, 2)};
  CHECK(run_wait(env.ctx, WaitArgs{"j1"}) == 0);
  CHECK(env.sleeps == 2);
  CHECK(env.out.str() == "succeeded\n");
  CHECK(env.err.str().find("count     2/2 succeeded") != std::string::npos);
  CHECK(env.err.str().find("job j1 succeeded") != std::string::npos);

  FakeCommandEnv partial;
  partial.api.job_answers = {job_in(JobState::partial, 1)};
  CHECK(run_wait(partial.ctx, WaitArgs{"j1"}) == 4);

  FakeCommandEnv failed;
  JobInfo job = job_in(JobState::failed);
  job.message = "task count[1] failed for good";
  job.stages[0].failures = {TaskFailure{"count", 1, "b.txt", "exit_code", "exit code 2"}};
  failed.api.job_answers = {job};
  CHECK(run_wait(failed.ctx, WaitArgs{"j1"}) == 1);
  CHECK(failed.err.str().find("task count[1] failed for good") != std::string::npos);
  CHECK(failed.err.str().find("count[1] b.txt: exit_code: exit code 2") != std::string::npos);
}

TEST_CASE("cli wait survives a short master outage but not a long one", "[cli][wait]") {
  FakeCommandEnv env;
  env.api.job_answers = {make_error(ErrorCode::unavailable, "refused"),
                         make_error(ErrorCode::unavailable, "refused"),
                         job_in(JobState::cancelled)};
  CHECK(run_wait(env.ctx, WaitArgs{"j1"}) == 1);

  FakeCommandEnv down;
  down.api.job_answers = {make_error(ErrorCode::unavailable, "refused")};
  CHECK(run_wait(down.ctx, WaitArgs{"j1"}) == 3);
  CHECK(down.sleeps > 100);  // ~30 s of 250 ms polls on the manual clock

  FakeCommandEnv unknown;
  unknown.api.job_answers = {make_error(ErrorCode::not_found, "no job j9")};
  CHECK(run_wait(unknown.ctx, WaitArgs{"j9"}) == 2);
}

TEST_CASE("cli status follows pagination", "[cli][status]") {
  FakeCommandEnv env;
  JobList first, second;
  first.jobs = {job_in(JobState::running)};
  first.next = "j1";
  second.jobs = {job_in(JobState::succeeded)};
  second.jobs[0].id = "j2";
  env.api.job_pages = {first, second};
  env.ctx.format = OutputFormat::json;
  CHECK(run_status(env.ctx, StatusArgs{}) == 0);
  CHECK(env.api.list_jobs_after == std::vector<std::string>{"", "j1"});
  auto body = nlohmann::json::parse(env.out.str());
  REQUIRE(body["jobs"].size() == 2);
  CHECK(body["jobs"][1]["id"] == "j2");
}

TEST_CASE("cli tasks follows pagination and renders", "[cli][tasks]") {
  FakeCommandEnv env;
  TaskList first, second;
  first.tasks.resize(1);
  first.tasks[0].stage = "count";
  first.next = "count/0";
  second.tasks.resize(1);
  second.tasks[0].stage = "count";
  second.tasks[0].index = 1;
  env.api.task_pages = {first, second};
  CHECK(run_tasks(env.ctx, TasksArgs{"j1", "count", ""}) == 0);
  CHECK(env.api.list_tasks_after == std::vector<std::string>{"", "count/0"});
  CHECK(env.out.str().find("count  1      pending") != std::string::npos);
}

TEST_CASE("cli logs --follow reads until the attempt ended and nothing is new", "[cli][logs]") {
  FakeCommandEnv env;
  env.api.log_answers = {
      chunk("hello ", AttemptState::running, 2), chunk("", AttemptState::running, 2),
      chunk("world\n", AttemptState::succeeded, 2), chunk("", AttemptState::succeeded, 2)};
  LogsArgs args;
  args.job = "j1";
  args.stage = "count";
  args.index = 3;
  args.stderr_stream = true;
  args.follow = true;
  CHECK(run_logs(env.ctx, args) == 0);
  CHECK(env.out.str() == "hello world\n");
  REQUIRE(env.api.log_queries.size() == 4);
  CHECK(env.api.log_queries[0].offset == 0);
  CHECK_FALSE(env.api.log_queries[0].attempt);
  CHECK(env.api.log_queries[1].offset == 6);
  CHECK(env.api.log_queries[1].attempt == 2);  // pinned to the attempt first shown
  CHECK(env.api.log_queries[3].offset == 12);
  CHECK(env.api.log_queries[3].stderr_stream);

  FakeCommandEnv once;
  once.api.log_answers = {chunk("partial", AttemptState::running)};
  args.follow = false;
  CHECK(run_logs(once.ctx, args) == 0);
  CHECK(once.api.log_queries.size() == 1);
}

TEST_CASE("cli output unpacks each task and reports missing ones", "[cli][output]") {
  auto src = make_temp_dir("drover-cli-src-").value();
  auto dest = make_temp_dir("drover-cli-out-").value();
  std::ofstream(src / "result") << "42\n";
  FakeCommandEnv env;
  env.api.job_answers = {job_in(JobState::partial, 1)};
  env.api.outputs.emplace(0, pack_directory(src).value());
  CHECK(run_output(env.ctx, OutputArgs{"j1", "", dest.string()}) == 1);
  CHECK(read_file(dest / "count" / "0" / "result").value() == "42\n");
  CHECK(env.err.str().find("count[1]: no committed output") != std::string::npos);
  CHECK(env.out.str() == (dest / "count").string() + "\n");

  FakeCommandEnv bad_stage;
  bad_stage.api.job_answers = {job_in(JobState::succeeded, 2)};
  CHECK(run_output(bad_stage.ctx, OutputArgs{"j1", "nope", dest.string()}) == 2);
  CHECK(bad_stage.err.str().rfind("error: --stage: ", 0) == 0);
  std::error_code ec;
  fs::remove_all(src, ec);
  fs::remove_all(dest, ec);
}

TEST_CASE("cli cancel and rerun print the state and the new id", "[cli][cancel]") {
  FakeCommandEnv env;
  env.api.cancel_answer = job_in(JobState::cancelled);
  CHECK(run_cancel(env.ctx, CancelArgs{"j1"}) == 0);
  CHECK(env.out.str() == "cancelled\n");

  FakeCommandEnv rerun;
  JobInfo again = job_in(JobState::queued);
  again.id = "j2";
  rerun.api.rerun_answer = again;
  CHECK(run_rerun(rerun.ctx, RerunArgs{"j1", true}) == 0);
  CHECK(rerun.out.str() == "j2\n");
  CHECK(rerun.api.rerun_failed_only);
}
