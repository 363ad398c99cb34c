#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "common/base/clock.hpp"
#include "common/fs/fs.hpp"
#include "common/proc/process.hpp"
#include "tests/support/support.hpp"
#include "worker/executor/process_executor.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

ExecSpec sh(const std::string& script, const test::TempDir& dir) {
  ExecSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.cwd = dir.path;
  spec.stdout_path = dir.path / "stdout";
  spec.stderr_path = dir.path / "stderr";
  return spec;
}

// True once `pid` is gone or a zombie (no longer running).
bool not_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

pid_t read_pid(const std::filesystem::path& file) {
  pid_t pid = 0;
  test::wait_until([&] { return std::ifstream(file) >> pid && pid > 0; }, 5s);
  return pid;
}

struct Fixture {
  SystemClock clock;
  ProcessExecutor executor{clock, ProcessExecutorOptions{300ms, {}}};
  test::TempDir dir;
};

}  // namespace

TEST_CASE_METHOD(Fixture, "executor reports exit codes", "[worker][executor]") {
  auto exec = executor.start(sh("exit 3", dir));
  REQUIRE(exec.ok());
  ExecResult r = (*exec)->wait();
  CHECK(r.status.exit_code == 3);
  CHECK(r.status.signal == 0);
  CHECK(r.termination == Termination::none);
}

TEST_CASE_METHOD(Fixture, "executor reports signals", "[worker][executor]") {
  auto exec = executor.start(sh("kill -9 $$", dir));
  REQUIRE(exec.ok());
  ExecResult r = (*exec)->wait();
  CHECK(r.status.signal == SIGKILL);
  CHECK(r.status.exit_code == -1);
  CHECK(r.termination == Termination::none);
}

TEST_CASE_METHOD(Fixture, "executor sends stdout and stderr to files, with env and cwd",
                 "[worker][executor]") {
  auto spec = sh("echo out; echo err >&2; echo \"$FOO\"; pwd; test -z \"$HOME_UNSET\"", dir);
  spec.env["FOO"] = "bar baz";
  REQUIRE(make_dirs(dir.path / "cwd").ok());
  spec.cwd = dir.path / "cwd";
  auto exec = executor.start(spec);
  REQUIRE(exec.ok());
  CHECK((*exec)->wait().status.exit_code == 0);
  auto canonical = std::filesystem::canonical(dir.path / "cwd").string();
  CHECK(read_file(dir.path / "stdout").value() == "out\nbar baz\n" + canonical + "\n");
  CHECK(read_file(dir.path / "stderr").value() == "err\n");
}

TEST_CASE_METHOD(Fixture, "executor times out with SIGTERM to the group", "[worker][executor]") {
  auto spec = sh("sleep 30 & echo $! > child; wait", dir);
  spec.timeout = 200ms;
  auto exec = executor.start(spec);
  REQUIRE(exec.ok());
  pid_t child = read_pid(dir.path / "child");
  auto t0 = std::chrono::steady_clock::now();
  ExecResult r = (*exec)->wait();
  CHECK(r.termination == Termination::timeout);
  CHECK(r.status.signal == SIGTERM);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(test::wait_until([&] { return not_running(child); }, 5s));
}

TEST_CASE_METHOD(Fixture, "executor sends SIGKILL after the grace period", "[worker][executor]") {
  auto spec = sh("trap '' TERM; while :; do sleep 0.05; done", dir);
  spec.timeout = 100ms;
  auto t0 = std::chrono::steady_clock::now();
  auto exec = executor.start(spec);
  REQUIRE(exec.ok());
  ExecResult r = (*exec)->wait();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.termination == Termination::timeout);
  CHECK(r.status.signal == SIGKILL);
  CHECK(took >= 400ms);  // timeout + grace
  CHECK(took < 5s);
}

TEST_CASE_METHOD(Fixture, "executor kill requests terminate the process", "[worker][executor]") {
  auto exec = executor.start(sh("sleep 30", dir));
  REQUIRE(exec.ok());
  Execution* e = exec->get();
  std::thread killer([e] {
    std::this_thread::sleep_for(100ms);
    e->kill();
    e->kill();  // idempotent
  });
  ExecResult r = (*exec)->wait();
  killer.join();
  CHECK(r.termination == Termination::killed);
  CHECK(r.status.signal == SIGTERM);
}

TEST_CASE_METHOD(Fixture, "executor kills stragglers when the task exits", "[worker][executor]") {
  auto exec = executor.start(sh("sleep 30 & echo $! > child", dir));
  REQUIRE(exec.ok());
  CHECK((*exec)->wait().status.exit_code == 0);
  pid_t child = read_pid(dir.path / "child");
  CHECK(test::wait_until([&] { return not_running(child); }, 5s));
}

TEST_CASE_METHOD(Fixture, "executor reports spawn failures", "[worker][executor]") {
  ExecSpec spec = sh("", dir);
  spec.argv = {"/nonexistent/program"};
  CHECK_FALSE(executor.start(spec).ok());
  spec.cwd = dir.path / "missing";
  spec.argv = {"/bin/true"};
  CHECK_FALSE(executor.start(spec).ok());
}

TEST_CASE("setpriv prefix names the user", "[worker][executor]") {
  CHECK(setpriv_prefix(1001, 1002) == std::vector<std::string>{"/usr/bin/setpriv", "--reuid=1001",
                                                               "--regid=1002", "--init-groups", "--no-new-privs",
                                                               "--"});
}

TEST_CASE("wait_process times out and terminate_process kills", "[worker][process]") {
  SpawnOptions options;
  options.argv = {"sleep", "30"};
  options.new_process_group = true;
  auto pid = spawn_process(options);
  REQUIRE(pid.ok());
  CHECK_FALSE(wait_process(*pid, 50ms).has_value());
  ExitStatus st = terminate_process(*pid, SIGTERM, 2s, true);
  CHECK(st.signal == SIGTERM);

  options.argv = {"sh", "-c", "exit 7"};
  auto quick = spawn_process(options);
  REQUIRE(quick.ok());
  auto done = wait_process(*quick, 5s);
  REQUIRE(done.has_value());
  CHECK(done->exit_code == 7);
  CHECK(done->exited());
}

TEST_CASE("spawn_process passes the environment and refuses empty argv", "[worker][process]") {
  test::TempDir dir;
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", "echo \"$A\""};
  options.env = std::map<std::string, std::string>{{"A", "1"}};
  options.stdout_path = dir.path / "out";
  auto pid = spawn_process(options);
  REQUIRE(pid.ok());
  REQUIRE(wait_process(*pid, 5s).has_value());
  CHECK(read_file(dir.path / "out").value() == "1\n");
  options.argv = {};
  CHECK_FALSE(spawn_process(options).ok());
}
