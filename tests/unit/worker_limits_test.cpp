// Per-task memory limits (worker/limits): backend selection and the files
// written, against fake cgroup roots in a temp dir; the rlimit and (when this
// machine allows it) the real cgroup v1 backend with real processes.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/base/clock.hpp"
#include "tests/support/support.hpp"
#include "worker/executor/process_executor.hpp"
#include "worker/limits/limits.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t k64Mi = 64ull << 20;

void put(const fs::path& file, const std::string& content) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << content;
}

std::string get(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

LimitsProbe probe_at(const fs::path& root) {
  return {root / "cgroup", root / "self-cgroup", root / "no-prlimit"};
}

// The worker's group is "<id>-<worker pid>".
std::string g(const std::string& name) { return name + "-" + std::to_string(::getpid()); }

// Empties a fake attempt group so release() can rmdir it.
void clear_dir(const fs::path& dir) {
  for (const auto& e : fs::directory_iterator(dir)) fs::remove(e.path());
}

ExecSpec python_alloc(const test::TempDir& dir, int megabytes) {
  ExecSpec spec;
  spec.argv = {"python3", "-c", "b = bytearray(" + std::to_string(megabytes) + " * 1024 * 1024)"};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.cwd = dir.path;
  spec.stdout_path = dir.path / "stdout";
  spec.stderr_path = dir.path / "stderr";
  spec.attempt_id = 42;
  spec.memory = k64Mi;
  return spec;
}

}  // namespace

TEST_CASE("cgroup_stat reads key-value lines", "[worker][limits]") {
  CHECK(cgroup_stat("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n", "oom_kill") == 2);
  CHECK(cgroup_stat("oom_kill_disable 0\nunder_oom 1\n", "oom_kill") == -1);
  CHECK(cgroup_stat("oom_kill_disable 0\nunder_oom 1\n", "under_oom") == 1);
  CHECK(cgroup_stat("", "oom_kill") == -1);
}

TEST_CASE("cgroup v2: a drover group under the root, memory.max and OOM from memory.events",
          "[worker][limits]") {
  test::TempDir tmp;
  fs::path root = tmp.path / "cgroup";
  put(root / "cgroup.controllers", "cpuset cpu io memory pids\n");
  put(root / "cgroup.subtree_control", "");
  put(tmp.path / "self-cgroup", "0::/\n");
  put(root / g("drover-w1") / "memory.swap.max", "max\n");  // swap accounting on

  auto limits = choose_limits("w1", probe_at(tmp.path));
  REQUIRE(limits->name().find("cgroup v2") != std::string::npos);
  CHECK(get(root / "cgroup.subtree_control") == "+memory");
  CHECK(get(root / g("drover-w1") / "cgroup.subtree_control") == "+memory");

  auto limit = limits->prepare(7, k64Mi);
  REQUIRE(limit.ok());
  fs::path dir = root / g("drover-w1") / "attempt-7";
  CHECK(get(dir / "memory.max") == "67108864");
  CHECK(get(dir / "memory.swap.max") == "0");
  CHECK((*limit)->argv_prefix().empty());
  REQUIRE((*limit)->place(4242).ok());
  CHECK(get(dir / "cgroup.procs") == "4242");
  put(dir / "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 0\n");
  CHECK_FALSE((*limit)->out_of_memory(SIGKILL));
  put(dir / "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n");
  CHECK((*limit)->out_of_memory(SIGKILL));
  clear_dir(dir);
  (*limit)->release();
  CHECK_FALSE(fs::exists(dir));

  auto none = limits->prepare(8, 0);  // memory 0: no group at all
  REQUIRE(none.ok());
  CHECK_FALSE(fs::exists(root / g("drover-w1") / "attempt-8"));
}

TEST_CASE("cgroup v2: prefers the worker's own cgroup, skips one without memory",
          "[worker][limits]") {
  test::TempDir tmp;
  fs::path root = tmp.path / "cgroup";
  put(root / "cgroup.controllers", "cpu memory\n");
  put(root / "cgroup.subtree_control", "memory\n");
  put(tmp.path / "self-cgroup", "0::/system.slice/drover-worker.service\n");
  fs::path own = root / "system.slice" / "drover-worker.service";
  put(own / "cgroup.controllers", "cpu memory\n");
  put(own / "cgroup.subtree_control", "");
  auto limits = choose_limits("w/1", probe_at(tmp.path));  // '/' is not a path here
  CHECK(limits->name().find((own / g("drover-w_1")).string()) != std::string::npos);

  put(own / "cgroup.controllers", "cpu\n");  // memory not delegated: the root is used
  auto at_root = choose_limits("w2", probe_at(tmp.path));
  CHECK(at_root->name().find((root / g("drover-w2")).string()) != std::string::npos);
}

TEST_CASE("cgroup v1: limit_in_bytes, memsw, OOM from memory.oom_control", "[worker][limits]") {
  test::TempDir tmp;
  fs::path memory = tmp.path / "cgroup" / "memory";
  put(memory / "memory.limit_in_bytes", "9223372036854771712\n");
  fs::path group = memory / "drover" / g("w1");  // what the kernel creates on mkdir
  put(group / "memory.limit_in_bytes", "");
  put(group / "memory.memsw.limit_in_bytes", "");
  put(group / "cgroup.procs", "");

  auto limits = choose_limits("w1", probe_at(tmp.path));
  REQUIRE(limits->name().find("cgroup v1") != std::string::npos);
  auto limit = limits->prepare(3, k64Mi);
  REQUIRE(limit.ok());
  fs::path dir = group / "attempt-3";
  CHECK(get(dir / "memory.limit_in_bytes") == "67108864");
  CHECK(get(dir / "memory.memsw.limit_in_bytes") == "67108864");
  REQUIRE((*limit)->place(99).ok());
  CHECK(get(dir / "cgroup.procs") == "99");

  put(dir / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  CHECK_FALSE((*limit)->out_of_memory(SIGKILL));
  put(dir / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
  CHECK((*limit)->out_of_memory(0));
  // Old kernels: no oom_kill counter; under_oom or failcnt plus SIGKILL.
  put(dir / "memory.oom_control", "oom_kill_disable 0\nunder_oom 1\n");
  CHECK((*limit)->out_of_memory(SIGKILL));
  CHECK_FALSE((*limit)->out_of_memory(SIGSEGV));
  put(dir / "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
  put(dir / "memory.failcnt", "12\n");
  CHECK((*limit)->out_of_memory(SIGKILL));
  clear_dir(dir);
  (*limit)->release();
  CHECK_FALSE(fs::exists(dir));
}

TEST_CASE("cgroup v1: groups of crashed runs of the same id are removed, live ones kept",
          "[worker][limits]") {
  test::TempDir tmp;
  fs::path memory = tmp.path / "cgroup" / "memory";
  put(memory / "memory.limit_in_bytes", "");
  put(memory / "drover" / g("w1") / "memory.limit_in_bytes", "");
  fs::create_directories(memory / "drover" / "w1-999999999" / "attempt-5");  // no such pid
  fs::create_directories(memory / "drover" / "w1-1");                        // init: alive
  fs::create_directories(memory / "drover" / "w10-999999999");               // another id
  auto limits = choose_limits("w1", probe_at(tmp.path));
  REQUIRE(limits->name().find("cgroup v1") != std::string::npos);
  CHECK_FALSE(fs::exists(memory / "drover" / "w1-999999999"));
  CHECK(fs::exists(memory / "drover" / "w1-1"));
  CHECK(fs::exists(memory / "drover" / "w10-999999999"));
}

TEST_CASE("rlimit fallback: a prlimit prefix and none without prlimit", "[worker][limits]") {
  test::TempDir tmp;
  auto none = choose_limits("w1", probe_at(tmp.path));
  CHECK(none->name().rfind("none", 0) == 0);
  auto unlimited = none->prepare(1, k64Mi);
  REQUIRE(unlimited.ok());
  CHECK((*unlimited)->argv_prefix().empty());

  put(tmp.path / "prlimit", "#!/bin/sh\n");
  fs::permissions(tmp.path / "prlimit", fs::perms::owner_all);
  LimitsProbe probe = probe_at(tmp.path);
  probe.prlimit = tmp.path / "prlimit";
  auto limits = choose_limits("w1", probe);
  CHECK(limits->name().rfind("rlimit", 0) == 0);
  auto limit = limits->prepare(1, k64Mi);
  REQUIRE(limit.ok());
  CHECK((*limit)->argv_prefix() ==
        std::vector<std::string>{probe.prlimit.string(), "--as=67108864", "--"});
  CHECK_FALSE((*limit)->out_of_memory(SIGKILL));
  auto zero = limits->prepare(2, 0);
  REQUIRE(zero.ok());
  CHECK((*zero)->argv_prefix().empty());
}

TEST_CASE("rlimit fallback with real processes: a big allocation fails, a small one runs",
          "[worker][limits]") {
  auto limits = make_rlimit_limits("/usr/bin/prlimit");
  if (!limits || ::access("/usr/bin/python3", X_OK) != 0) {
    WARN("no /usr/bin/prlimit or python3: skipped");
    return;
  }
  SystemClock clock;
  ProcessExecutor executor{clock, ProcessExecutorOptions{300ms, {}, limits.get()}};
  test::TempDir dir;
  auto big = executor.start(python_alloc(dir, 300));
  REQUIRE(big.ok());
  ExecResult r = (*big)->wait();
  CHECK((r.status.exit_code != 0 || r.status.signal != 0));
  CHECK_FALSE(r.out_of_memory);  // not told apart under the rlimit backend
  auto small = executor.start(python_alloc(dir, 1));
  REQUIRE(small.ok());
  ExecResult s = (*small)->wait();
  CHECK(s.status.exit_code == 0);
  CHECK(s.status.signal == 0);
}

TEST_CASE("cgroup v1 on this machine: the OOM killer is reported, the group removed",
          "[worker][limits]") {
  std::string id = "unit-test-" + std::to_string(::getpid());
  auto limits = make_cgroup_v1_limits({}, id);
  if (!limits || ::access("/usr/bin/python3", X_OK) != 0) {
    WARN("no writable cgroup v1 memory hierarchy (or no python3): skipped");
    return;
  }
  fs::path group = fs::path("/sys/fs/cgroup/memory/drover") / g(id);
  SystemClock clock;
  ProcessExecutor executor{clock, ProcessExecutorOptions{300ms, {}, limits.get()}};
  test::TempDir dir;
  auto big = executor.start(python_alloc(dir, 300));
  REQUIRE(big.ok());
  ExecResult r = (*big)->wait();
  CHECK(r.status.signal == SIGKILL);
  CHECK(r.out_of_memory);
  CHECK_FALSE(fs::exists(group / "attempt-42"));
  auto small = executor.start(python_alloc(dir, 1));
  REQUIRE(small.ok());
  ExecResult s = (*small)->wait();
  CHECK(s.status.exit_code == 0);
  CHECK_FALSE(s.out_of_memory);
  CHECK_FALSE(fs::exists(group / "attempt-42"));
  limits.reset();
  CHECK_FALSE(fs::exists(group));
}
