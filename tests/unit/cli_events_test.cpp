#include <catch2/catch.hpp>

#include "cli/commands/events.hpp"
#include "cli_fake_master_api.hpp"

using namespace drover;
using namespace drover::cli;
using drover::cli::testing::FakeCommandEnv;

namespace {

JobEvent event(std::int64_t seq, std::string type, std::string stage = "", std::int64_t index = -1) {
  JobEvent e;
  e.seq = seq;
  e.time = 1'790'000'000'123;  // 2026-09-21T14:13:20.123Z
  e.type = std::move(type);
  e.stage = std::move(stage);
  e.index = index;
  return e;
}

JobEventList page(std::vector<JobEvent> events, std::string next = "") {
  return JobEventList{std::move(events), std::move(next)};
}

JobInfo job(JobState state) {
  JobInfo j;
  j.id = "j1";
  j.state = state;
  return j;
}

}  // namespace

TEST_CASE("cli events renders one line per event with task, attempt, worker and detail", "[cli][events]") {
  JobEvent failed = event(7, "failed", "map", 3);
  failed.attempt = 2;
  failed.worker = "w2";
  failed.reason = "exit_code";
  failed.message = "exit code 3";
  CHECK(render_event(failed) ==
        "2026-09-21T14:13:20.123Z  failed        map/3 #2 on w2       exit_code: exit code 3");
  JobEvent submitted = event(1, "submitted");
  submitted.message = "4 tasks in 2 stages";
  CHECK(render_event(submitted) ==
        "2026-09-21T14:13:20.123Z  submitted     -                    4 tasks in 2 stages");
  CHECK(is_job_end(event(9, "job_partial")));
  CHECK(is_job_end(event(9, "cancelled")));
  CHECK_FALSE(is_job_end(event(9, "failed", "map", 3)));
  CHECK_FALSE(is_job_end(event(9, "submitted")));
}

TEST_CASE("cli events reads every page once", "[cli][events]") {
  FakeCommandEnv env;
  env.api.event_answers = {page({event(1, "submitted"), event(2, "assigned", "s", 0)}, "2"),
                           page({event(5, "job_succeeded")})};
  CHECK(run_events(env.ctx, EventsArgs{"j1", false}) == 0);
  CHECK(env.api.list_events_after == std::vector<std::int64_t>{0, 2});
  CHECK(env.out.str().find("submitted") != std::string::npos);
  CHECK(env.out.str().find("s/0") != std::string::npos);
  CHECK(env.sleeps == 0);
}

TEST_CASE("cli events --follow polls from the last seq until the job's end event", "[cli][events]") {
  FakeCommandEnv env;
  env.api.job_answers = {job(JobState::running)};
  env.api.event_answers = {page({event(1, "submitted")}), page({}),
                           page({event(4, "started", "s", 0)}), page({event(6, "job_failed")}),
                           page({event(99, "should never be read")})};
  CHECK(run_events(env.ctx, EventsArgs{"j1", true}) == 0);
  CHECK(env.api.list_events_after == std::vector<std::int64_t>{0, 1, 1, 4});
  CHECK(env.sleeps == 3);
  CHECK(env.out.str().find("job_failed") != std::string::npos);
}

TEST_CASE("cli events --follow stops one round after the job ended without an end event", "[cli][events]") {
  FakeCommandEnv env;  // e.g. a job whose log predates events
  env.api.job_answers = {job(JobState::succeeded)};
  env.api.event_answers = {page({}), page({}), page({event(99, "never")})};
  CHECK(run_events(env.ctx, EventsArgs{"j1", true}) == 0);
  CHECK(env.api.list_events_after.size() == 2);
}

TEST_CASE("cli events reports an unknown job with exit 2", "[cli][events]") {
  FakeCommandEnv env;
  env.api.event_answers = {Result<JobEventList>(make_error(ErrorCode::not_found, "no job j9", "job"))};
  CHECK(run_events(env.ctx, EventsArgs{"j9", false}) == 2);
  CHECK(env.err.str().find("no job j9") != std::string::npos);
}
