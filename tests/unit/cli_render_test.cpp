#include <catch2/catch.hpp>
#include <sstream>

#include "cli/commands/status.hpp"
#include "cli/commands/tasks.hpp"
#include "cli/commands/workers.hpp"
#include "cli/render/format.hpp"
#include "cli/render/progress.hpp"
#include "cli/render/table.hpp"

using namespace drover;
using namespace drover::cli;
using namespace std::chrono_literals;

namespace {

StageInfo make_stage(std::string name, std::int64_t total,
                     std::map<std::string, std::int64_t> counts) {
  StageInfo stage;
  stage.name = std::move(name);
  stage.task_count = total;
  stage.counts = std::move(counts);
  return stage;
}

}  // namespace

TEST_CASE("cli table pads columns and trims trailing spaces", "[cli][render]") {
  Table table({"ID", "NAME", "STATE"});
  table.add_row({"j1", "wordcount", "running"});
  table.add_row({"j22", "x"});
  CHECK(table.render() ==
        "ID   NAME       STATE\n"
        "j1   wordcount  running\n"
        "j22  x\n");
}

TEST_CASE("cli ages and durations are compact", "[cli][render]") {
  CHECK(format_age(400ms) == "0.4s");
  CHECK(format_age(9'960ms) == "10.0s");
  CHECK(format_age(42s) == "42s");
  CHECK(format_age(5min + 30s) == "5m");
  CHECK(format_age(3h) == "3h");
  CHECK(format_age(50h) == "2d");
  CHECK(format_age(-5s) == "0.0s");
  CHECK(format_age_since(0, from_millis(1000)) == "-");
  CHECK(format_age_since(1000, from_millis(3500)) == "2.5s");

  CHECK(format_elapsed(350ms) == "350ms");
  CHECK(format_elapsed(12'340ms) == "12.3s");
  CHECK(format_elapsed(4min + 5s) == "4m05s");
  CHECK(format_elapsed(1h + 2min) == "1h02m");

  CHECK(format_slots(0, 4) == "0/4");
  CHECK(format_slots(0.5, 2) == "0.5/2");
  CHECK(format_number(1.25) == "1.25");
}

TEST_CASE("cli attempt exit and duration cells", "[cli][render]") {
  AttemptInfo a;
  a.state = AttemptState::running;
  a.started_at = 1000;
  CHECK(attempt_exit(a) == "-");
  CHECK(attempt_duration(a, from_millis(3000)) == "2.0s");

  a.state = AttemptState::succeeded;
  a.exit_code = 0;
  a.finished_at = 1500;
  CHECK(attempt_exit(a) == "0");
  CHECK(attempt_duration(a, from_millis(99'000)) == "500ms");

  a.state = AttemptState::failed;
  a.exit_code = 3;
  a.reason = "exit_code";
  CHECK(attempt_exit(a) == "3");

  a.exit_code = -1;
  a.signal = 9;
  a.reason = "timeout";
  CHECK(attempt_exit(a) == "sig 9 (timeout)");

  AttemptInfo lost;
  lost.state = AttemptState::lost;
  lost.reason = "lost_worker";
  CHECK(attempt_exit(lost) == "lost_worker");
  CHECK(attempt_duration(lost, from_millis(5000)) == "-");
}

TEST_CASE("cli progress line per stage", "[cli][render]") {
  JobInfo job;
  job.stages = {make_stage("count", 200, {{"succeeded", 120}, {"running", 3}, {"assigned", 1}}),
                make_stage("merge", 4, {})};
  CHECK(stage_name_width(job) == 10);
  auto lines = progress_lines(job);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "count     120/200 succeeded  4 running  0 failed");
  CHECK(lines[1] == "merge     0/4 succeeded  0 running  0 failed");
}

TEST_CASE("cli progress without a TTY prints changed lines at most once a second",
          "[cli][render]") {
  std::ostringstream err;
  ManualClock clock;
  ProgressDisplay display(err, false, clock);
  JobInfo job;
  job.stages = {make_stage("count", 2, {})};

  display.update(job);
  display.update(job);  // unchanged: nothing new
  CHECK(err.str() == "count     0/2 succeeded  0 running  0 failed\n");

  job.stages[0].counts["running"] = 2;
  clock.advance(300ms);
  display.update(job);  // changed, but too soon
  CHECK(err.str() == "count     0/2 succeeded  0 running  0 failed\n");
  clock.advance(800ms);
  display.update(job);
  CHECK(err.str() ==
        "count     0/2 succeeded  0 running  0 failed\n"
        "count     0/2 succeeded  2 running  0 failed\n");

  job.stages[0].counts = {{"succeeded", 2}};
  display.finish(job);  // the final state is always shown
  CHECK(err.str().ends_with("count     2/2 succeeded  0 running  0 failed\n"));
}

TEST_CASE("cli progress on a TTY redraws in place", "[cli][render]") {
  std::ostringstream err;
  ManualClock clock;
  ProgressDisplay display(err, true, clock);
  JobInfo job;
  job.stages = {make_stage("a", 1, {}), make_stage("b", 1, {})};
  display.update(job);
  CHECK(err.str().find("\x1b[") != std::string::npos);
  CHECK(err.str().find("\x1b[2A") == std::string::npos);
  display.update(job);
  CHECK(err.str().find("\x1b[2A") != std::string::npos);  // moved back up over the 2 lines
}

TEST_CASE("cli jobs, tasks and workers tables", "[cli][render]") {
  const TimePoint now = from_millis(1'000'000);
  JobInfo job;
  job.id = "j-1";
  job.name = "wc";
  job.state = JobState::running;
  job.task_count = 10;
  job.counts = {{"succeeded", 4}};
  job.submitted_at = 1'000'000 - 90'000;
  CHECK(render_jobs_table({job}, now) ==
        "ID   NAME  STATE    TASKS  SUBMITTED\n"
        "j-1  wc    running  4/10   1m\n");

  TaskInfo task;
  task.stage = "count";
  task.index = 7;
  task.state = TaskState::failed;
  task.input = "/data/a.txt";
  AttemptInfo attempt;
  attempt.worker = "w1";
  attempt.state = AttemptState::failed;
  attempt.started_at = 1000;
  attempt.finished_at = 3500;
  attempt.exit_code = 2;
  attempt.reason = "exit_code";
  task.attempts = {attempt, attempt};
  CHECK(render_tasks_table({task}, now) ==
        "STAGE  INDEX  STATE   ATTEMPTS  WORKER  DURATION  EXIT  INPUT\n"
        "count  7      failed  2         w1      2.5s      2     /data/a.txt\n");

  WorkerInfo worker;
  worker.id = "w1";
  worker.address = "127.0.0.1:7071";
  worker.cpus = 4;
  worker.cpus_used = 1;
  worker.running = 1;
  worker.heartbeat_age_ms = 400;
  CHECK(render_workers_table({worker}) ==
        "ID  ADDRESS         STATE  SLOTS  RUNNING  HEARTBEAT\n"
        "w1  127.0.0.1:7071  alive  1/4    1        0.4s\n");
}

TEST_CASE("cli job detail shows stages and failures", "[cli][render]") {
  JobInfo job;
  job.id = "j-2";
  job.state = JobState::partial;
  job.task_count = 3;
  StageInfo stage = make_stage("count", 3, {{"succeeded", 2}, {"failed", 1}});
  stage.failures = {TaskFailure{"count", 2, "bad.txt", "exit_code", "exit code 2"}};
  job.stages = {stage};
  const std::string text = render_job_detail(job, from_millis(0));
  CHECK(text.find("state:      partial") != std::string::npos);
  CHECK(text.find("count  3      0        0        2          1") != std::string::npos);
  CHECK(text.find("count  2      bad.txt  exit_code  exit code 2") != std::string::npos);
}
