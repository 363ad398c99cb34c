// Task isolation (SPEC §8): a root worker runs tasks as run_as, never as root
// unless allow_root; each attempt's dir is owned by the task's user, mode
// 0700, and the only part of the work dir its own mount namespace shows (so
// two attempts of one run_as user cannot see each other); tasks inherit no descriptor beyond 0-2 and never see
// the worker's token. As root the test creates a throw-away system user and
// removes it at the end; as another user the root-only parts are skipped.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

std::string random_hex(int n) {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < n; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

// A system user created for the test and deleted by the destructor.
struct TestUser {
  std::string name = "drover-t" + random_hex(8);
  unsigned uid = 0, gid = 0;
  fs::path scratch;
  explicit TestUser(fs::path s) : scratch(std::move(s)) {
    auto r = run_command(
        {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name}, 20s,
        scratch);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    created = true;
    uid = static_cast<unsigned>(std::stoul(run_command({"id", "-u", name}, 10s, scratch).out));
    gid = static_cast<unsigned>(std::stoul(run_command({"id", "-g", name}, 10s, scratch).out));
  }
  ~TestUser() {
    if (created) (void)run_command({"userdel", name}, 20s, scratch);
  }
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;
  bool created = false;
};

// The task starts as python3 (a shell keeps descriptors of its own, e.g.
// dash's fd 10): it lists the descriptors it was given, then runs the probe.
const char* kFds = R"PY(import os
open_fds = []
for fd in range(0, 4096):
    try:
        os.fstat(fd)
        open_fds.append(str(fd))
    except OSError:
        pass
with open("fds.out", "w") as f:
    f.write(" ".join(open_fds) + " ")
os.execvp("sh", ["sh", "probe.sh"])
)PY";

// The probe: facts about the task, one "key value" per line.
const char* kProbe = R"PROBE(#!/bin/sh
echo "uid $(id -u)"
echo "gid $(id -g)"
echo "groups $(id -G)"
grep -E '^(Uid|Gid|CapEff|CapPrm|NoNewPrivs):' /proc/self/status | tr -s '\t ' ' ' | sed 's/^/status /'
stat -c 'sandbox %u %a' .
stat -c 'attempt %u %a' ..
stat -c 'output %u %a' "$DROVER_OUTPUT_DIR"
stat -c 'attempts %u %a' ../..
echo "fds $(cat fds.out)"
env | sort | sed 's/^/env /'
tr '\0' '\n' < /proc/$$/environ | sed 's/^/environ /'
echo "parentcmd $PPID $(tr '\0' ' ' < /proc/$PPID/cmdline)"
if cat TOKEN_FILE >/dev/null 2>&1; then echo "tokenfile readable"; else echo "tokenfile denied"; fi
if cat /proc/$PPID/environ >/dev/null 2>&1; then echo "parentenv readable"; else echo "parentenv denied"; fi
)PROBE";

// Lines of the probe's output that start with `key `, without the key.
std::vector<std::string> values_of(const std::string& log, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& line : lines_of(log)) {
    if (line.rfind(key + " ", 0) == 0) out.push_back(line.substr(key.size() + 1));
  }
  return out;
}
std::string value_of(const std::string& log, const std::string& key) {
  auto v = values_of(log, key);
  return v.empty() ? std::string("<none>") : v.front();
}

// Runs the probe as a one-task job; returns its stdout.
std::string run_probe(Cluster& c, const fs::path& dir, const fs::path& token_file) {
  auto bundle = write_bundle(
      dir,
      "name: probe\nmax_attempts: 1\nstages:\n  - name: p\n"
      "    command: [\"/usr/bin/python3\", \"fds.py\"]\n",
      {{"probe.sh", replace_all(kProbe, "TOKEN_FILE", token_file.string())}, {"fds.py", kFds}});
  std::string job = submit(c, bundle);
  REQUIRE(wait_job_ended(c, job, 60s));
  auto logs = c.cli({"logs", job, "p", "0"});
  INFO(tasks_of(c, job).dump() << "\n"
                               << logs.err << "\n"
                               << c.cli({"logs", job, "p", "0", "--stderr"}).out);
  REQUIRE(job_state(c, job) == "succeeded");
  return logs.out;
}

// What must hold for any task: no descriptor beyond 0-2, no token anywhere.
void check_fds_and_token(const std::string& log, const std::string& token) {
  INFO(log);
  CHECK(value_of(log, "fds") == "0 1 2 ");
  CHECK(log.find(token) == std::string::npos);
  CHECK(!values_of(log, "env").empty());
  for (const auto& kv : values_of(log, "env")) CHECK(kv.find("TOKEN") == std::string::npos);
  for (const auto& kv : values_of(log, "environ")) CHECK(kv.find("TOKEN") == std::string::npos);
}

fs::path write_token(const fs::path& dir, const std::string& token) {
  fs::path file = dir / "worker.token";
  std::ofstream(file) << token << "\n";
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
  return file;
}

// Lets other users reach the work dirs below `dir` (temp dirs are 0700).
void open_up(const fs::path& dir) {
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

}  // namespace

TEST_CASE("a root worker runs tasks as run_as in a private sandbox without its token",
          "[integration][security]") {
  TempDir tmp;
  const std::string token = "tok-" + random_hex(32);
  const fs::path token_file = write_token(tmp.path, token);
  if (::geteuid() != 0) {
    WARN("not root: run_as, allow_root and sandbox ownership are not checked");
    Cluster c(tmp.path / "cluster");
    c.start_master();
    c.start_worker("w1", 1, {"--token-file", token_file.string()});
    REQUIRE(c.wait_workers_alive(1));
    std::string log = run_probe(c, tmp.path / "b", token_file);
    check_fds_and_token(log, token);
    return;
  }
  TestUser user(tmp.path);
  open_up(tmp.path);
  fs::create_directories(tmp.path / "cluster");
  open_up(tmp.path / "cluster");
  Cluster c(tmp.path / "cluster");
  c.start_master();
  c.start_worker(
      "w1", 2,
      {"--run-as", user.name, "--allow-root", "false", "--token-file", token_file.string()});
  REQUIRE(c.wait_workers_alive(1));

  std::string log = run_probe(c, tmp.path / "b", token_file);
  INFO(log);
  const std::string uid = std::to_string(user.uid), gid = std::to_string(user.gid);
  CHECK(value_of(log, "uid") == uid);
  CHECK(value_of(log, "gid") == gid);
  // Real, effective, saved and file-system ids: no way back to root.
  CHECK(value_of(log, "status") == "Uid: " + uid + " " + uid + " " + uid + " " + uid);
  CHECK(values_of(log, "status").at(1) == "Gid: " + gid + " " + gid + " " + gid + " " + gid);
  CHECK(value_of(log, "groups").find(" 0") == std::string::npos);
  bool no_new_privs = false;
  for (const auto& s : values_of(log, "status")) {
    if (s.rfind("Cap", 0) == 0) CHECK_THAT(s, Catch::EndsWith(" 0000000000000000"));
    no_new_privs = no_new_privs || s == "NoNewPrivs: 1";
  }
  CHECK(no_new_privs);  // setuid programs cannot lift the task back to root
  // The attempt dir is the task user's and private; the sandbox lies inside it.
  CHECK(value_of(log, "attempt") == uid + " 700");
  CHECK_THAT(value_of(log, "sandbox"), Catch::StartsWith(uid + " "));
  CHECK_THAT(value_of(log, "output"), Catch::StartsWith(uid + " "));
  CHECK_THAT(value_of(log, "attempts"), Catch::StartsWith("0 "));  // the worker's own
  check_fds_and_token(log, token);
  CHECK(value_of(log, "tokenfile") == "denied");
  CHECK(value_of(log, "parentenv") == "denied");
  // Its parent is pid 1 of its own pid namespace: the worker's sandbox init.
  CHECK_THAT(value_of(log, "parentcmd"), Catch::StartsWith("1 ") && Catch::Contains("drover-worker"));

  // Another unprivileged user cannot look into a running attempt's dir, and
  // neither can another attempt of the same run_as user: its own namespace
  // hides the other attempts' dirs (and their processes).
  const fs::path shared = tmp.path / "shared";
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::all);
  const std::string pair = replace_all(R"YAML(name: pair
max_attempts: 1
stages:
  - name: s
    inputs: {items: ["a", "b"]}
    command: ["sh", "-c", "if [ $DROVER_INPUT = a ]; then cd .. && pwd > SHARED/a.path.tmp && mv SHARED/a.path.tmp SHARED/a.path && i=0 && while [ ! -e SHARED/done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; else i=0; while [ ! -e SHARED/a.path ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; a=$(cat SHARED/a.path); if ls $a/sandbox >/dev/null 2>&1; then echo cross-list ok; else echo cross-list denied; fi; if cat $a/sandbox/job.yaml >/dev/null 2>&1; then echo cross-read ok; else echo cross-read denied; fi; if touch $a/output/planted 2>/dev/null; then echo cross-write ok; else echo cross-write denied; fi; touch SHARED/b.done; fi"]
)YAML",
                                       "SHARED", shared.string());
  std::string job = submit(c, write_bundle(tmp.path / "pair", pair));
  REQUIRE(wait_until([&] { return fs::exists(shared / "a.path"); }, 30s));
  const std::string a_root = first_line(read_text(shared / "a.path"));
  INFO("attempt a: " << a_root);
  for (const std::vector<std::string>& as_nobody :
       {std::vector<std::string>{"ls", a_root},
        {"ls", a_root + "/sandbox"},
        {"cat", a_root + "/sandbox/job.yaml"},
        {"touch", a_root + "/output/planted-by-nobody"}}) {
    std::vector<std::string> argv = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                     "--"};
    argv.insert(argv.end(), as_nobody.begin(), as_nobody.end());
    auto r = run_command(argv, 10s, tmp.path);
    INFO(as_nobody[0] << " " << as_nobody[1] << ": " << r.out << r.err);
    CHECK(r.exit_code != 0);
  }
  REQUIRE(wait_until([&] { return fs::exists(shared / "b.done"); }, 40s));
  std::ofstream(shared / "done") << "";
  REQUIRE(wait_until([&] { return job_state(c, job) == "succeeded"; }, 30s));
  std::string b_log = c.cli({"logs", job, "s", "1"}).out;
  INFO("attempt b on attempt a's dir (same run_as user): " << b_log);
  CHECK_THAT(b_log, Catch::Contains("cross-list denied"));
  CHECK_THAT(b_log, Catch::Contains("cross-read denied"));
  CHECK_THAT(b_log, Catch::Contains("cross-write denied"));
}

TEST_CASE("a root worker refuses to start with run_as root or a missing user",
          "[integration][security]") {
  if (::geteuid() != 0) {
    WARN("not root: the run_as checks apply to root workers only");
    return;
  }
  TempDir tmp;
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  for (const Case& k : {Case{{"--run-as", "root"}, "uid 0"},
                        Case{{"--run-as", "root", "--allow-root", "false"}, "uid 0"},
                        Case{{"--run-as", "drover-nobody-" + random_hex(8)}, "does not exist"}}) {
    std::vector<std::string> argv = {binary("drover-worker").string(),
                                     "--master",
                                     "http://127.0.0.1:9",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--id",
                                     "x",
                                     "--work-dir",
                                     (tmp.path / "w").string()};
    argv.insert(argv.end(), k.flags.begin(), k.flags.end());
    auto r = run_command(argv, 20s, tmp.path);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("run_as") && Catch::Contains(k.says));
  }
}

TEST_CASE("with allow_root a root worker runs tasks as root", "[integration][security]") {
  if (::geteuid() != 0) {
    WARN("not root: allow_root is not checked");
    return;
  }
  TempDir tmp;
  const std::string token = "tok-" + random_hex(32);
  const fs::path token_file = write_token(tmp.path, token);
  Cluster c(tmp.path / "cluster");
  c.start_master();
  c.start_worker("w1", 1, {"--allow-root", "true", "--token-file", token_file.string()});
  REQUIRE(c.wait_workers_alive(1));
  std::string log = run_probe(c, tmp.path / "b", token_file);
  INFO(log);
  CHECK(value_of(log, "uid") == "0");
  check_fds_and_token(log, token);  // root could read the token file; it is not handed over
}

TEST_CASE("a task cannot make a root worker read through links it plants in its attempt dir",
          "[integration][security]") {
  if (::geteuid() != 0) {
    WARN("not root: the worker reads nothing a task could not read itself");
    return;
  }
  TempDir tmp;
  TestUser user(tmp.path);
  open_up(tmp.path);
  fs::create_directories(tmp.path / "cluster");
  open_up(tmp.path / "cluster");
  // Root-only: the task's user cannot read it, the worker could.
  const fs::path secrets = tmp.path / "secrets";
  fs::create_directories(secrets);
  const std::string secret = "s3cr3t-" + random_hex(16);
  std::ofstream(secrets / "secret.txt") << secret << "\n";
  fs::permissions(secrets / "secret.txt", fs::perms::owner_read | fs::perms::owner_write);
  fs::permissions(secrets, fs::perms::owner_all);
  Cluster c(tmp.path / "cluster");
  c.start_master();
  c.start_worker("w1", 2, {"--run-as", user.name, "--allow-root", "false"});
  REQUIRE(c.wait_workers_alive(1));
  const std::string yaml = replace_all(R"YAML(name: plant
max_attempts: 1
stages:
  - name: logs
    command: ["sh", "-c", "echo before && root=$(dirname $DROVER_OUTPUT_DIR) && rm $root/stdout && ln -s SECRETS/secret.txt $root/stdout && rm -f $DROVER_PROGRESS_FILE && mkfifo $DROVER_PROGRESS_FILE && sleep 1"]
  - name: out
    after: [logs]
    command: ["sh", "-c", "echo x > $DROVER_OUTPUT_DIR/f && mv $DROVER_OUTPUT_DIR $DROVER_OUTPUT_DIR.moved && ln -s SECRETS $DROVER_OUTPUT_DIR"]
)YAML",
                                       "SECRETS", secrets.string());
  std::string job = submit(c, write_bundle(tmp.path / "b", yaml));
  REQUIRE(wait_job_ended(c, job, 60s));
  auto tasks = tasks_of(c, job);
  INFO(tasks.dump());
  // The fifo in place of the progress file did not hang the heartbeats (the
  // worker would have been declared dead), and the linked stdout was not read.
  CHECK(c.get("/api/v1/workers")["workers"][0]["state"] == "alive");
  CHECK(tasks[0]["state"] == "succeeded");
  auto logs = c.cli({"logs", job, "logs", "0"});
  CHECK(logs.out.find(secret) == std::string::npos);
  // The output dir swapped for a link to a root-only dir: the pack refuses.
  CHECK(tasks[1]["state"] == "failed");
  CHECK(tasks[1]["attempts"][0]["reason"] == "drover_error");
  CHECK_THAT(tasks[1]["attempts"][0]["message"].get<std::string>(), Catch::Contains("symlink"));
  CHECK(tasks[1]["output_digest"] == "");
}
