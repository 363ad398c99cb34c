#include "worker/config/worker_config.hpp"

#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::worker;
using namespace std::chrono_literals;

namespace {

HostFacts fake_host(uid_t euid, bool user_exists) {
  HostFacts host;
  host.hostname = "node-1";
  host.cpus = 8;
  host.memory = 16ULL << 30;
  host.euid = euid;
  host.lookup_user = [user_exists](const std::string& user) -> std::optional<TaskUser> {
    if (!user_exists) return std::nullopt;
    return TaskUser{1001, 1002};
  };
  return host;
}

Result<WorkerConfig> load(std::vector<std::string> flags, const HostFacts& host) {
  flags.insert(flags.begin(), "drover-worker");
  auto loaded = load_config("drover-worker", worker_config_keys(), flags);
  if (!loaded.ok()) return loaded.error();
  return make_worker_config(loaded->values, host);
}

}  // namespace

TEST_CASE("worker config defaults come from SPEC and the host", "[worker][config]") {
  auto c = load({}, fake_host(1000, false));
  REQUIRE(c.ok());
  CHECK(c->master == "http://127.0.0.1:7070");
  CHECK(c->listen == "127.0.0.1:7071");
  CHECK(c->id == "node-1");
  CHECK(c->work_dir == "/var/lib/drover/worker");
  CHECK(c->cpus == 8);
  CHECK(c->memory == 16ULL << 30);
  CHECK(c->labels.empty());
  CHECK(c->token.empty());
  CHECK(c->run_as == "drover");
  CHECK_FALSE(c->allow_root);
  CHECK(c->drain_timeout == 5min);
  CHECK_FALSE(c->task_user.has_value());  // not root: tasks run as ourselves
}

TEST_CASE("worker flags override defaults", "[worker][config]") {
  auto c = load({"--master", "http://m:1/", "--listen", "0.0.0.0:0", "--id", "w7", "--work-dir",
                 "/tmp/w", "--cpus", "2.5", "--memory", "4Gi", "--drain-timeout", "10s"},
                fake_host(1000, false));
  REQUIRE(c.ok());
  CHECK(c->master == "http://m:1");
  CHECK(c->listen == "0.0.0.0:0");
  CHECK(c->id == "w7");
  CHECK(c->work_dir == "/tmp/w");
  CHECK(c->cpus == 2.5);
  CHECK(c->memory == 4ULL << 30);
  CHECK(c->drain_timeout == 10s);
}

TEST_CASE("worker config errors name the key", "[worker][config]") {
  auto host = fake_host(1000, false);
  auto bad_listen = load({"--listen", "localhost"}, host);
  REQUIRE_FALSE(bad_listen.ok());
  CHECK(bad_listen.error().field == "listen");
  auto bad_master = load({"--master", "ftp://x"}, host);
  REQUIRE_FALSE(bad_master.ok());
  CHECK(bad_master.error().field == "master");
  auto bad_cpus = load({"--cpus", "0"}, host);
  REQUIRE_FALSE(bad_cpus.ok());
  CHECK(bad_cpus.error().field == "cpus");
  auto missing_token = load({"--token-file", "/nonexistent/token"}, host);
  REQUIRE_FALSE(missing_token.ok());
  CHECK(missing_token.error().field == "token_file");
  CHECK_FALSE(load({"--drain-timeout", "soon"}, host).ok());
  CHECK_FALSE(load({"--no-such-key", "1"}, host).ok());
}

TEST_CASE("worker token is the first line of token_file", "[worker][config]") {
  test::TempDir dir;
  auto file = dir.path / "token";
  std::ofstream(file) << "s3cret  \nsecond line\n";
  auto c = load({"--token-file", file.string()}, fake_host(1000, false));
  REQUIRE(c.ok());
  CHECK(c->token == "s3cret");
}

TEST_CASE("a root worker runs tasks as run_as", "[worker][config]") {
  auto missing = load({}, fake_host(0, false));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().describe() ==
        "run_as user \"drover\" does not exist (create it, or set allow_root: true)");

  auto c = load({"--run-as", "tasks"}, fake_host(0, true));
  REQUIRE(c.ok());
  REQUIRE(c->task_user.has_value());
  CHECK(c->task_user->uid == 1001);
  CHECK(c->task_user->gid == 1002);

  auto root = load({"--allow-root", "true"}, fake_host(0, false));
  REQUIRE(root.ok());
  CHECK_FALSE(root->task_user.has_value());
}

TEST_CASE("a root worker never runs tasks as uid 0 without allow_root", "[worker][config]") {
  HostFacts host = fake_host(0, true);
  host.lookup_user = [](const std::string& user) -> std::optional<TaskUser> {
    if (user == "root" || user == "toor") return TaskUser{0, 0};
    return std::nullopt;
  };
  for (const char* name : {"root", "toor"}) {
    INFO(name);
    auto c = load({"--run-as", name}, host);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().field == "run_as");
    CHECK_THAT(c.error().message, Catch::Contains("uid 0") && Catch::Contains("allow_root"));
  }
  auto allowed = load({"--run-as", "root", "--allow-root", "true"}, host);
  REQUIRE(allowed.ok());
  CHECK_FALSE(allowed->task_user.has_value());
}
