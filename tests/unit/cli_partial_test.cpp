// Jobs that end `partial` (SPEC §3, §5: exit code 4, failed inputs listed in
// `status`) and tasks that reused a cached output, against the fake master.
#include <catch2/catch.hpp>
#include <fstream>

#include "cli/commands/status.hpp"
#include "cli/commands/submit.hpp"
#include "cli/commands/tasks.hpp"
#include "cli/commands/wait.hpp"
#include "cli_fake_master_api.hpp"
#include "common/fs/fs.hpp"

using namespace drover;
using namespace drover::cli;
using drover::cli::testing::FakeCommandEnv;
namespace fs = std::filesystem;

namespace {

// A job of two stages that ended partial: count[1] and count[3] failed for good.
JobInfo partial_job() {
  JobInfo job;
  job.id = "j7";
  job.name = "wc";
  job.state = JobState::partial;
  job.task_count = 5;
  job.counts = {{"succeeded", 3}, {"failed", 2}};
  job.message = "2 tasks failed for good (max_failed_tasks: 2)";
  StageInfo count;
  count.name = "count";
  count.task_count = 4;
  count.counts = {{"succeeded", 2}, {"failed", 2}};
  count.progress = 0.5;
  count.failures = {TaskFailure{"count", 1, "/data/b.txt", "exit_code", "exit code 2"},
                    TaskFailure{"count", 3, "/data/d.txt", "timeout", "timed out after 1h"}};
  StageInfo merge;
  merge.name = "merge";
  merge.after = {"count"};
  merge.task_count = 1;
  merge.counts = {{"succeeded", 1}};
  merge.progress = 1;
  job.stages = {count, merge};
  job.failed_tasks = count.failures;
  return job;
}

struct TempDir {
  fs::path path = make_temp_dir("drover-cli-partial-").value();
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("cli wait exits 4 on partial and lists the failed inputs", "[cli][wait][partial]") {
  FakeCommandEnv env;
  JobInfo running = partial_job();
  running.state = JobState::running;
  env.api.job_answers = {running, partial_job()};
  CHECK(run_wait(env.ctx, WaitArgs{"j7"}) == 4);
  CHECK(env.out.str() == "partial\n");
  const std::string err = env.err.str();
  CHECK(err.find("job j7 partial\n"
                 "2 tasks failed for good (max_failed_tasks: 2)\n"
                 "failed inputs:\n"
                 "  count[1] /data/b.txt: exit_code: exit code 2\n"
                 "  count[3] /data/d.txt: timeout: timed out after 1h\n") != std::string::npos);

  FakeCommandEnv json;
  json.ctx.format = OutputFormat::json;
  json.api.job_answers = {partial_job()};
  CHECK(run_wait(json.ctx, WaitArgs{"j7"}) == 4);
  CHECK(nlohmann::json::parse(json.out.str())["state"] == "partial");
}

TEST_CASE("cli submit --wait exits 4 on partial", "[cli][submit][partial]") {
  TempDir bundle;
  std::ofstream(bundle.path / "job.yaml")
      << "name: wc\nmax_failed_tasks: 2\nstages:\n  - name: one\n    command: [\"true\"]\n";
  FakeCommandEnv env;
  JobInfo created = partial_job();
  created.state = JobState::queued;
  env.api.submit_answer = created;
  env.api.job_answers = {partial_job()};
  SubmitArgs args;
  args.bundle = bundle.path.string();
  args.wait = true;
  CHECK(run_submit(env.ctx, args) == 4);
  CHECK(env.out.str() == "j7\n");
  CHECK(env.err.str().find("failed inputs:\n") != std::string::npos);
}

TEST_CASE("cli status lists the failed inputs of a partial job", "[cli][status][partial]") {
  FakeCommandEnv env;
  JobInfo job = partial_job();
  job.rerun_of = "j3";
  // A recent failed attempt of a task that later succeeded stays under "failures:".
  job.stages[1].failures = {TaskFailure{"merge", 0, "", "lost_worker", "worker w2 dead"}};
  env.api.job_answers = {job};
  CHECK(run_status(env.ctx, StatusArgs{"j7"}) == 0);
  const std::string text = env.out.str();
  CHECK(text.find("state:      partial\n") != std::string::npos);
  CHECK(text.find("rerun of:   j3\n") != std::string::npos);
  CHECK(text.find("\nfailed inputs:\n"
                  "STAGE  INDEX  INPUT        REASON     MESSAGE\n"
                  "count  1      /data/b.txt  exit_code  exit code 2\n"
                  "count  3      /data/d.txt  timeout    timed out after 1h\n"
                  "\nfailures:\n"
                  "STAGE  INDEX  INPUT  REASON       MESSAGE\n"
                  "merge  0             lost_worker  worker w2 dead\n") != std::string::npos);

  FakeCommandEnv json;  // -o json: the JobInfo as is
  json.ctx.format = OutputFormat::json;
  json.api.job_answers = {partial_job()};
  CHECK(run_status(json.ctx, StatusArgs{"j7"}) == 0);
  auto body = nlohmann::json::parse(json.out.str());
  CHECK(body == nlohmann::json(partial_job()));
  REQUIRE(body["failed_tasks"].size() == 2);
  CHECK(body["failed_tasks"][1] == nlohmann::json{{"stage", "count"},
                                                  {"index", 3},
                                                  {"input", "/data/d.txt"},
                                                  {"reason", "timeout"},
                                                  {"message", "timed out after 1h"}});

  FakeCommandEnv list;  // the jobs table shows partial like any state
  JobList page;
  page.jobs = {partial_job()};
  list.api.job_pages = {page};
  CHECK(run_status(list.ctx, StatusArgs{}) == 0);
  CHECK(list.out.str().find("j7  wc    partial  3/5") != std::string::npos);
}

TEST_CASE("cli status of a job without failures shows no failure sections",
          "[cli][status][partial]") {
  JobInfo job = partial_job();
  job.state = JobState::succeeded;
  job.failed_tasks.clear();
  job.stages[0].failures.clear();
  const std::string text = render_job_detail(job, from_millis(0));
  CHECK(text.find("failed inputs:") == std::string::npos);
  CHECK(text.find("failures:") == std::string::npos);
  CHECK(text.find("rerun of:") == std::string::npos);
}

TEST_CASE("cli tasks marks tasks that reused a cached output", "[cli][tasks][cache]") {
  FakeCommandEnv env;
  TaskList page;
  TaskInfo cached;
  cached.stage = "count";
  cached.index = 0;
  cached.input = "/data/a.txt";
  cached.state = TaskState::succeeded;
  cached.cached = true;
  TaskInfo ran = cached;
  ran.index = 1;
  ran.input = "/data/b.txt";
  ran.cached = false;
  AttemptInfo attempt;
  attempt.worker = "w1";
  attempt.state = AttemptState::succeeded;
  attempt.started_at = 1000;
  attempt.finished_at = 1350;
  attempt.exit_code = 0;
  ran.attempts = {attempt};
  page.tasks = {cached, ran};
  env.api.task_pages = {page};
  CHECK(run_tasks(env.ctx, TasksArgs{"j7", "", ""}) == 0);
  CHECK(env.out.str() ==
        "STAGE  INDEX  STATE               ATTEMPTS  WORKER  DURATION  EXIT  INPUT\n"
        "count  0      succeeded (cached)  0         -       -         -     /data/a.txt\n"
        "count  1      succeeded           1         w1      350ms     0     /data/b.txt\n");

  FakeCommandEnv json;  // -o json carries the flag as is
  json.ctx.format = OutputFormat::json;
  json.api.task_pages = {page};
  CHECK(run_tasks(json.ctx, TasksArgs{"j7", "", ""}) == 0);
  auto body = nlohmann::json::parse(json.out.str());
  CHECK(body["tasks"][0]["cached"] == true);
  CHECK(body["tasks"][0]["state"] == "succeeded");
  CHECK(body["tasks"][1]["cached"] == false);
}
