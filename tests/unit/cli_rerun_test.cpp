// `drover rerun`: argument parsing, the command against the fake master, and
// HttpMasterApi::rerun_job against a real HTTP server on 127.0.0.1:0 (the
// URL, method, query and body it sends). Every wait is bounded.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "cli/app.hpp"
#include "cli/client/http_master_api.hpp"
#include "cli/commands/rerun.hpp"
#include "cli_fake_master_api.hpp"
#include "common/http/event_loop.hpp"
#include "common/http/server.hpp"

using namespace drover;
using namespace drover::cli;
using drover::cli::testing::FakeCommandEnv;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 5s;

JobInfo job_in(const std::string& id, JobState state, std::int64_t succeeded = 0) {
  JobInfo job;
  job.id = id;
  job.name = "wc";
  job.state = state;
  job.task_count = 2;
  job.rerun_of = "j1";
  StageInfo stage;
  stage.name = "count";
  stage.task_count = 2;
  stage.counts = {{"succeeded", succeeded}};
  job.stages = {stage};
  return job;
}

// Parses argv (without the program name); the exit code when parsing ends the run.
std::optional<int> parse(Invocation& inv, std::vector<std::string> args) {
  args.insert(args.begin(), "drover");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  auto app = build_app(inv);
  std::ostringstream out, err;
  return parse_command_line(*app, inv, static_cast<int>(argv.size()), argv.data(), out, err);
}

// What the test server saw of the last request.
struct SeenRequest {
  std::string method, path, job, body, content_type;
  std::map<std::string, std::string> query;
};

// A master stand-in: a real http::Server on its own loop thread that answers
// POST /api/v1/jobs/{job}/rerun with a scripted response.
class RerunServer {
 public:
  explicit RerunServer(http::Response answer) : answer_(std::move(answer)) {
    router_.add("POST", "/api/v1/jobs/{job}/rerun",
                [this](http::Request& r) -> Result<http::Response> {
                  std::lock_guard lock(mutex_);
                  seen_ = SeenRequest{
                      r.method, r.path, r.param("job"), r.body, r.header("Content-Type"), r.query};
                  ++requests_;
                  return answer_;
                });
    server_ = std::make_unique<http::Server>(loop_, router_, http::ServerOptions{});
    auto bound = server_->start();
    REQUIRE(bound.ok());
    url_ = "http://" + *bound;
    thread_ = std::thread([this] { loop_.run(); });
  }

  ~RerunServer() {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    loop_.post([this, done] {
      server_.reset();
      done->set_value();
    });
    (void)finished.wait_for(kWait);
    loop_.stop();
    thread_.join();
  }

  const std::string& url() const { return url_; }
  SeenRequest seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  http::Response answer_;
  http::EventLoop loop_;
  http::Router router_;
  std::unique_ptr<http::Server> server_;
  std::string url_;
  std::thread thread_;
  std::mutex mutex_;
  SeenRequest seen_;
  int requests_ = 0;
};

// A loopback URL on which nothing listens (a port bound, then released).
std::string closed_port_url() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

}  // namespace

TEST_CASE("cli rerun parses its flags and bad usage exits 2", "[cli][rerun][args]") {
  Invocation plain;
  REQUIRE_FALSE(parse(plain, {"rerun", "j1"}));
  CHECK(plain.command == "rerun");
  CHECK(plain.rerun.job == "j1");
  CHECK_FALSE(plain.rerun.failed_only);
  CHECK_FALSE(plain.rerun.wait);

  Invocation both;
  REQUIRE_FALSE(parse(both, {"rerun", "--failed-only", "j1", "--wait", "-o", "json"}));
  CHECK(both.rerun.job == "j1");
  CHECK(both.rerun.failed_only);
  CHECK(both.rerun.wait);
  CHECK(both.global.output == "json");

  Invocation bad;
  CHECK(parse(bad, {"rerun"}) == 2);                        // JOB is required
  CHECK(parse(bad, {"rerun", "j1", "j2"}) == 2);            // one job only
  CHECK(parse(bad, {"rerun", "j1", "--failed"}) == 2);      // unknown flag
  CHECK(parse(bad, {"rerun", "j1", "--wait=maybe"}) == 2);  // a flag takes no value
}

TEST_CASE("cli rerun prints the new job id as the only stdout line", "[cli][rerun]") {
  FakeCommandEnv env;
  env.api.rerun_answer = job_in("j2", JobState::queued);
  CHECK(run_rerun(env.ctx, RerunArgs{"j1", false, false}) == 0);
  CHECK(env.out.str() == "j2\n");
  CHECK_FALSE(env.api.rerun_failed_only);
  CHECK(env.err.str() == "job j2 reruns j1\n");
  CHECK(env.sleeps == 0);

  FakeCommandEnv failed_only;
  failed_only.api.rerun_answer = job_in("j3", JobState::queued);
  CHECK(run_rerun(failed_only.ctx, RerunArgs{"j1", true, false}) == 0);
  CHECK(failed_only.api.rerun_failed_only);
  CHECK(failed_only.out.str() == "j3\n");
  CHECK(failed_only.err.str() == "job j3 reruns j1 (failed tasks only)\n");

  FakeCommandEnv json;
  json.ctx.format = OutputFormat::json;
  json.api.rerun_answer = job_in("j2", JobState::queued);
  CHECK(run_rerun(json.ctx, RerunArgs{"j1", false, false}) == 0);
  auto body = nlohmann::json::parse(json.out.str());
  CHECK(body["id"] == "j2");
  CHECK(body["rerun_of"] == "j1");
}

TEST_CASE("cli rerun --wait waits and exits like the new job", "[cli][rerun][wait]") {
  struct Case {
    JobState end;
    int exit;
  };
  for (const Case c : {Case{JobState::succeeded, 0}, Case{JobState::partial, 4},
                       Case{JobState::failed, 1}, Case{JobState::cancelled, 1}}) {
    FakeCommandEnv env;
    env.api.rerun_answer = job_in("j2", JobState::queued);
    env.api.job_answers = {job_in("j2", JobState::running, 1), job_in("j2", c.end, 1)};
    CAPTURE(to_string(c.end));
    CHECK(run_rerun(env.ctx, RerunArgs{"j1", true, true}) == c.exit);
    CHECK(env.out.str() == "j2\n");  // the id only; the end goes to stderr
    CHECK(env.sleeps == 1);
    CHECK(env.err.str().find(fmt::format("job j2 {}", to_string(c.end))) != std::string::npos);
  }

  FakeCommandEnv json;
  json.ctx.format = OutputFormat::json;
  json.api.rerun_answer = job_in("j2", JobState::queued);
  json.api.job_answers = {job_in("j2", JobState::partial, 1)};
  CHECK(run_rerun(json.ctx, RerunArgs{"j1", false, true}) == 4);
  auto body = nlohmann::json::parse(json.out.str());  // the final JobInfo only
  CHECK(body["state"] == "partial");
}

TEST_CASE("cli rerun maps the master's errors to exit codes", "[cli][rerun]") {
  struct Case {
    ErrorCode code;
    int exit;
  };
  for (const Case c : {Case{ErrorCode::not_found, 2}, Case{ErrorCode::conflict, 2},
                       Case{ErrorCode::unavailable, 3}, Case{ErrorCode::unauthorized, 3},
                       Case{ErrorCode::forbidden, 3}}) {
    FakeCommandEnv env;
    env.api.rerun_answer = make_error(c.code, "nope");
    CAPTURE(to_string(c.code));
    CHECK(run_rerun(env.ctx, RerunArgs{"j1", true, true}) == c.exit);
    CHECK(env.out.str().empty());
    CHECK(env.err.str() == "error: nope\n");
    CHECK(env.sleeps == 0);  // nothing to wait for
  }
}

TEST_CASE("cli rerun_job posts to /api/v1/jobs/{job}/rerun", "[cli][rerun][http]") {
  JobInfo created = job_in("j-2", JobState::queued);
  RerunServer server(http::Response::json(201, nlohmann::json(created)));
  HttpMasterApi api(MasterConnection{server.url() + "/", {}, {}});

  auto plain = api.rerun_job("j 1", false);
  REQUIRE(plain.ok());
  CHECK(plain->id == "j-2");
  CHECK(plain->rerun_of == "j1");
  SeenRequest seen = server.seen();
  CHECK(seen.method == "POST");
  CHECK(seen.path == "/api/v1/jobs/j 1/rerun");  // the id is percent-encoded on the wire
  CHECK(seen.job == "j 1");
  CHECK(seen.query.empty());
  CHECK(seen.body.empty());

  auto failed_only = api.rerun_job("j1", true);
  REQUIRE(failed_only.ok());
  seen = server.seen();
  CHECK(seen.path == "/api/v1/jobs/j1/rerun");
  CHECK(seen.query == std::map<std::string, std::string>{{"failed_only", "1"}});
  CHECK(seen.body.empty());
  CHECK(server.requests() == 2);
}

TEST_CASE("cli rerun_job turns 404 and 409 into errors", "[cli][rerun][http]") {
  RerunServer missing(http::Response::error(make_error(ErrorCode::not_found, "no job j9")));
  HttpMasterApi api(MasterConnection{missing.url(), {}, {}});
  auto answer = api.rerun_job("j9", false);
  REQUIRE_FALSE(answer.ok());
  CHECK(answer.error().code == ErrorCode::not_found);
  CHECK(answer.error().message == "no job j9");

  RerunServer running(
      http::Response::error(make_error(ErrorCode::conflict, "job j1 has not ended")));
  HttpMasterApi api2(MasterConnection{running.url(), {}, {}});
  FakeCommandEnv env;  // streams and clock; the real client talks to the server
  CommandContext ctx{api2,  env.out,       env.err, env.clock, OutputFormat::table,
                     false, env.ctx.sleep, {}};
  CHECK(run_rerun(ctx, RerunArgs{"j1", true, false}) == 2);
  CHECK(env.err.str() == "error: job j1 has not ended\n");
  CHECK(env.out.str().empty());
}

TEST_CASE("cli rerun exits 3 when the master is unreachable", "[cli][rerun][http]") {
  Invocation inv;
  REQUIRE_FALSE(parse(inv, {"--master", closed_port_url(), "rerun", "j1", "--wait"}));
  std::ostringstream out, err;
  ManualClock clock;
  Runtime runtime{
      .out = out,
      .err = err,
      .clock = clock,
      .err_is_tty = false,
      .sleep = [&clock](Duration d) { clock.advance(d); },
      .connect = [](const MasterConnection& connection) -> std::unique_ptr<MasterApi> {
        return std::make_unique<HttpMasterApi>(connection);
      },
      .bin_dir = {},
      .hardware_threads = 1,
      .running_as_root = false,
  };
  CHECK(run_invocation(inv, runtime) == 3);
  CHECK(out.str().empty());
  CHECK(err.str().rfind("error: ", 0) == 0);
}
