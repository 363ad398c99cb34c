// The executor's task sandbox (SPEC §8: each attempt's sandbox is
// private to it): what a sandboxed task can see, and that statuses, kills and
// timeouts pass through the extra processes unchanged. Needs root and a
// kernel that allows mount and pid namespaces; elsewhere the worker runs
// tasks without the sandbox and these cases only say why they did not run.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/base/clock.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "worker/executor/process_executor.hpp"
#include "worker/executor/process_group_record.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string text_of(const fs::path& file) {
  auto text = read_file(file);
  return text.ok() ? *text : std::string();
}

// A work dir with two attempts; the executor hides the work dir from tasks.
struct SandboxFixture {
  test::TempDir tmp;
  fs::path work = tmp.path / "work";
  fs::path mine = work / "attempts" / "1";
  fs::path other = work / "attempts" / "2";
  SystemClock clock;
  TaskSandbox sandbox{work, std::nullopt, std::nullopt};
  std::optional<ProcessExecutor> per_task;  // a sandbox made for each task
  std::optional<ProcessExecutor> kept;      // sandboxes kept from task to task
  bool use_kept = false;                    // which of the two runs the tests' tasks
  std::string unavailable;  // why the sandbox cannot run here; empty when it can

  SandboxFixture() {
    REQUIRE(make_dirs(mine / "sandbox").ok());
    REQUIRE(make_dirs(other / "sandbox").ok());
    std::ofstream(other / "sandbox" / "secret") << "not yours\n";
    std::ofstream(work / "worker.token") << "token\n";
    if (::geteuid() != 0) {
      unavailable = "not root";
    } else if (Status s = probe_sandbox(sandbox, work / "attempts"); !s.ok()) {
      unavailable = s.error().describe();
    }
    ProcessExecutorOptions options{3s, {}};  // SIGTERM -> SIGKILL
    options.sandbox = sandbox;
    per_task.emplace(clock, options);
    options.kept_sandboxes = 2;
    kept.emplace(clock, options);
  }

  ProcessExecutor& executor() { return use_kept ? *kept : *per_task; }

  ExecSpec sh(const std::string& script) const {
    ExecSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.env = {{"PATH", "/usr/bin:/bin"}};
    spec.cwd = mine / "sandbox";
    spec.stdout_path = mine / "stdout";
    spec.stderr_path = mine / "stderr";
    spec.private_dir = mine;
    return spec;
  }

  ExecResult run(const ExecSpec& spec) {
    auto exec = executor().start(spec);
    REQUIRE(exec.ok());
    return (*exec)->wait();
  }

  std::string out() const { return text_of(mine / "stdout"); }
  std::string err() const { return text_of(mine / "stderr"); }
};

// Whether a process whose command line is exactly `argv` exists on the host.
bool process_running(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const auto& a : argv) wanted += a + '\0';
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline == wanted) return true;
  }
  return false;
}

// A shell command that opens the POSIX message queue /drover-test (making
// it when `create`) and says "queue there" or "no queue".
std::string mq_open_script(bool create) {
  return std::string("python3 -c \"import ctypes, os; libc = ctypes.CDLL(None); ") +
         "fd = libc.mq_open(b'/drover-test', " + (create ? "os.O_CREAT | " : "") +
         "os.O_RDWR, 0o600, None); print('queue there' if fd >= 0 else 'no queue')\"";
}

}  // namespace

#define SKIP_WITHOUT_SANDBOX()                                     \
  if (!unavailable.empty()) {                                      \
    WARN("the task sandbox cannot run here: " << unavailable);     \
    return;                                                        \
  }

TEST_CASE_METHOD(SandboxFixture, "a sandboxed task sees its own attempt dir and nothing else",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  const std::string script =
      "echo pid $$; ls " + (work / "attempts").string() + " | sed 's/^/attempt /'; ls " +
      work.string() + " | sed 's/^/work /'; cat " + (other / "sandbox" / "secret").string() +
      " 2>/dev/null || echo secret hidden; echo written > " + (mine / "output").string() +
      "; echo procs $(ls /proc | grep -c '^[0-9]'); [ -e /proc/" + std::to_string(::getpid()) +
      " ] || echo test process invisible";
  ExecResult r = run(sh(script));
  INFO(out() << err());
  CHECK(r.status.exit_code == 0);
  const std::string o = out();
  CHECK_THAT(o, Catch::Contains("pid 2\n"));  // init is pid 1 of the namespace
  CHECK_THAT(o, Catch::Contains("attempt 1\n"));
  CHECK_THAT(o, !Catch::Contains("attempt 2"));
  CHECK_THAT(o, Catch::Contains("work attempts\n"));
  CHECK_THAT(o, !Catch::Contains("worker.token"));
  CHECK_THAT(o, Catch::Contains("secret hidden"));
  // Only the namespace's few processes (init, sh and that line's pipeline).
  CHECK_THAT(o, Catch::Contains("test process invisible"));
  const auto procs = o.find("procs ");
  REQUIRE(procs != std::string::npos);
  CHECK(std::stoi(o.substr(procs + 6)) <= 6);
  // The task wrote through to the real dir; the other attempt's is untouched.
  CHECK(text_of(mine / "output") == "written\n");
  CHECK(text_of(other / "sandbox" / "secret") == "not yours\n");
}

TEST_CASE_METHOD(SandboxFixture, "exit codes and signals pass through the sandbox",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  ExecResult exited = run(sh("exit 3"));
  CHECK(exited.status.exit_code == 3);
  CHECK(exited.status.signal == 0);
  ExecResult killed = run(sh("kill -9 $$"));
  CHECK(killed.status.signal == SIGKILL);
  ExecResult segv = run(sh("kill -SEGV $$"));
  CHECK(segv.status.signal == SIGSEGV);
  ExecSpec missing = sh("");
  missing.argv = {"/nonexistent/command"};
  ExecResult not_found = run(missing);
  CHECK(not_found.status.exit_code == 127);
  CHECK_THAT(err(), Catch::Contains("cannot execute /nonexistent/command"));
}

TEST_CASE_METHOD(SandboxFixture, "a sandboxed task's logs start empty, made or left over",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  ExecResult made = run(sh("echo fresh; echo oops >&2"));  // neither log exists yet
  CHECK(made.status.exit_code == 0);
  CHECK(out() == "fresh\n");
  CHECK(err() == "oops\n");
  // The next run into the same files: what is there is dropped, not overwritten in part.
  std::ofstream(mine / "stdout") << "a much longer line left by an earlier task\n";
  ExecResult again = run(sh("echo next"));
  CHECK(again.status.exit_code == 0);
  CHECK(out() == "next\n");
  CHECK(err().empty());
}

TEST_CASE_METHOD(SandboxFixture,
                 "kill reaches a sandboxed task once and ends what it left behind, setsid too",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  // The task counts the SIGTERMs it gets. Its setsid child ignores SIGTERM and
  // would escape a process-group kill, not the end of the namespace.
  const std::string marker = std::to_string(900000 + ::getpid() % 90000);
  auto exec = executor().start(
      sh("n=0; trap 'n=$((n+1)); echo term $n >> terms' TERM; setsid sh -c \"trap '' TERM; exec sleep " +
         marker + "\" & touch ready; while [ ! -e terms ]; do sleep 0.05; done; sleep 0.3; exit 0"));
  REQUIRE(exec.ok());
  REQUIRE(test::wait_until([&] { return fs::exists(mine / "sandbox" / "ready"); }, 10s));
  REQUIRE(test::wait_until([&] { return process_running({"sleep", marker}); }, 10s));
  (*exec)->kill();
  ExecResult r = (*exec)->wait();
  CHECK(r.termination == Termination::killed);
  INFO("signal " << r.status.signal << ": " << err());
  CHECK(r.status.exit_code == 0);  // it ended by itself after its trap ran
  CHECK(text_of(mine / "sandbox" / "terms") == "term 1\n");
  CHECK(test::wait_until([&] { return !process_running({"sleep", marker}); }, 10s));
}

TEST_CASE_METHOD(SandboxFixture, "a sandboxed task that ignores SIGTERM is killed at its timeout",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  ExecSpec spec = sh("trap '' TERM; while :; do sleep 1; done");
  spec.timeout = 200ms;  // then SIGTERM, ignored, and SIGKILL 3 s later
  ExecResult r = run(spec);
  CHECK(r.termination == Termination::timeout);
  CHECK(r.status.signal == SIGKILL);
}

TEST_CASE_METHOD(SandboxFixture, "a sandboxed command is looked up in the task's PATH",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  ExecSpec spec = sh("");
  spec.argv = {"sh", "-c", "echo found $0"};
  CHECK(run(spec).status.exit_code == 0);
  CHECK(out() == "found sh\n");
  spec.argv = {"no-such-command-here"};
  CHECK(run(spec).status.exit_code == 127);
  CHECK_THAT(err(), Catch::Contains("cannot execute no-such-command-here"));
  // A file that is there but not executable: 126.
  std::ofstream(mine / "sandbox" / "plain") << "echo never\n";
  spec.argv = {"plain"};
  spec.env["PATH"] = (mine / "sandbox").string();
  CHECK(run(spec).status.exit_code == 126);
}

TEST_CASE_METHOD(SandboxFixture, "the executor returns once a sandboxed task is past its exec",
                 "[worker][sandbox]") {
  use_kept = GENERATE(false, true);
  INFO((use_kept ? "kept sandbox" : "sandbox per task"));
  SKIP_WITHOUT_SANDBOX();
  ExecSpec spec = sh("");
  spec.argv = {"sleep", "30"};
  auto exec = executor().start(spec);
  REQUIRE(exec.ok());
  // Read at once, without waiting: the task is init's only child, and it runs sleep already.
  const std::string init = std::to_string((*exec)->pid());
  const std::string children = text_of(fs::path("/proc") / init / "task" / init / "children");
  INFO("init " << init << " has children '" << children << "'");
  REQUIRE(!children.empty());
  const std::string task = children.substr(0, children.find(' '));
  std::error_code ec;
  CHECK(fs::read_symlink(fs::path("/proc") / task / "exe", ec) == fs::canonical("/bin/sleep"));
  (*exec)->kill();
  CHECK((*exec)->wait().termination == Termination::killed);
}

TEST_CASE_METHOD(SandboxFixture, "a kept sandbox's next task finds nothing of the last one",
                 "[worker][sandbox]") {
  use_kept = true;
  SKIP_WITHOUT_SANDBOX();
  // The first task leaves a process running, System V IPC objects (shared
  // memory, a semaphore set, a message queue) and a POSIX message queue.
  const std::string marker = std::to_string(800000 + ::getpid() % 90000);
  auto first = executor().start(
      sh("setsid sleep " + marker + " & ipcmk -M 4096 -S 1 -Q >/dev/null; ipcs | grep -c '^0x' > shm; " +
         mq_open_script(true) + " > mq"));
  REQUIRE(first.ok());
  const pid_t init = (*first)->pid();
  CHECK((*first)->wait().status.exit_code == 0);
  CHECK(text_of(mine / "sandbox" / "shm") == "3\n");
  CHECK(text_of(mine / "sandbox" / "mq") == "queue there\n");
  // Killed as the task ended, as a one-task sandbox's end kills it.
  CHECK(test::wait_until([&] { return !process_running({"sleep", marker}); }, 10s));

  // The next task, another attempt's, in the same sandbox.
  ExecSpec next = sh("ls " + (work / "attempts").string() +
                     " | sed 's/^/attempt /'; echo ipc objects $(ipcs | grep -c '^0x'); echo procs "
                     "$(ls /proc | grep -c '^[0-9]'); cat " + (mine / "sandbox" / "shm").string() +
                     " 2>/dev/null || echo last attempt hidden; " + mq_open_script(false));
  next.cwd = other / "sandbox";
  next.stdout_path = other / "stdout";
  next.stderr_path = other / "stderr";
  next.private_dir = other;
  auto second = executor().start(next);
  REQUIRE(second.ok());
  CHECK((*second)->pid() == init);
  CHECK((*second)->wait().status.exit_code == 0);
  const std::string o = text_of(other / "stdout");
  INFO(o << text_of(other / "stderr"));
  CHECK_THAT(o, Catch::Contains("attempt 2\n"));
  CHECK_THAT(o, !Catch::Contains("attempt 1"));
  CHECK_THAT(o, Catch::Contains("ipc objects 0\n"));
  CHECK_THAT(o, Catch::Contains("no queue\n"));
  CHECK_THAT(o, Catch::Contains("last attempt hidden"));
  const auto procs = o.find("procs ");
  REQUIRE(procs != std::string::npos);
  CHECK(std::stoi(o.substr(procs + 6)) <= 6);
}

TEST_CASE_METHOD(SandboxFixture,
                 "a kept sandbox ignores signals sent while idle and is replaced once killed",
                 "[worker][sandbox]") {
  use_kept = true;
  SKIP_WITHOUT_SANDBOX();
  auto first = executor().start(sh("exit 0"));
  REQUIRE(first.ok());
  const pid_t init = (*first)->pid();
  CHECK((*first)->wait().status.exit_code == 0);
  REQUIRE(::kill(init, SIGTERM) == 0);  // for no task: the next one must not get it
  auto second = executor().start(sh("sleep 0.3; echo still here"));
  REQUIRE(second.ok());
  CHECK((*second)->pid() == init);
  ExecResult r = (*second)->wait();
  CHECK(r.status.exit_code == 0);
  CHECK(r.status.signal == 0);
  CHECK(out() == "still here\n");

  REQUIRE(::kill(init, SIGKILL) == 0);  // while idle: the next task gets a new sandbox
  auto third = executor().start(sh("echo fresh"));
  REQUIRE(third.ok());
  CHECK((*third)->pid() != init);
  CHECK((*third)->wait().status.exit_code == 0);
  CHECK(out() == "fresh\n");
}

TEST_CASE_METHOD(SandboxFixture,
                 "a kept sandbox's process group is recorded while it lives and its tasks die with it",
                 "[worker][sandbox][orphans]") {
  SKIP_WITHOUT_SANDBOX();
  const std::string marker = std::to_string(700000 + ::getpid() % 90000);
  fs::path record;
  {
    ProcessExecutorOptions options{3s, {}};
    options.sandbox = sandbox;
    options.kept_sandboxes = 1;
    ProcessExecutor executor(clock, options);
    auto exec = executor.start(sh("exec sleep " + marker));
    REQUIRE(exec.ok());
    CHECK((*exec)->group_recorded());
    record = kept_sandbox_file(work, (*exec)->pid());
    CHECK(fs::exists(record));
    REQUIRE(test::wait_until([&] { return process_running({"sleep", marker}); }, 10s));
    // As a worker restarted after a crash does: the recorded group goes, and
    // its task with it.
    CHECK(kill_recorded_groups(work) == 1);
    ExecResult r = (*exec)->wait();
    CHECK(r.status.signal == SIGKILL);
    CHECK(test::wait_until([&] { return !process_running({"sleep", marker}); }, 10s));
    CHECK_FALSE(fs::exists(record));  // its init was reaped: no record is left

    auto next = executor.start(sh("exit 0"));  // a new sandbox, recorded again
    REQUIRE(next.ok());
    record = kept_sandbox_file(work, (*next)->pid());
    CHECK((*next)->wait().status.exit_code == 0);
    CHECK(fs::exists(record));  // kept, idle
  }
  CHECK_FALSE(fs::exists(record));  // ended with the executor
}
