// A real network partition between the master and a worker, with network
// namespaces and a veth pair (TOOLCHAIN.md, "Network namespaces"):
//
//   drv-m-<pid>: drover-master on 10.213.X.1 (--insecure: not loopback), worker
//                "local" (reaches the master on 10.213.X.1, local to this
//                namespace), and every CLI call of the test
//   drv-w-<pid>: worker "remote" on 10.213.X.2
//
// The veth pair is created directly inside the two namespaces, which have no
// other route: nothing is ever sent from the root namespace or off the
// machine. Before any traffic the test checks that `ip route get` names the
// veth in both namespaces. Namespaces, veths and whatever runs in them are
// removed in every path (RAII guard).
//
// Needs root and `ip netns`; otherwise the test is SKIPPED with a warning
// (Catch2 v2 has no SKIP), never failed.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

CliResult ip(const std::vector<std::string>& args, const fs::path& scratch) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, 20s, scratch);
}

// Two namespaces joined by a veth pair; everything removed in the destructor.
struct Partitionable {
  std::string ns_m, ns_w, veth_m, veth_w, addr_m, addr_w;
  fs::path scratch;
  bool created = false;
  std::string error;

  explicit Partitionable(fs::path dir) : scratch(std::move(dir)) {
    std::string pid = std::to_string(::getpid());
    ns_m = "drv-m-" + pid;
    ns_w = "drv-w-" + pid;
    veth_m = "dvm" + pid;  // interface names are at most 15 characters
    veth_w = "dvw" + pid;
    std::string net = "10.213." + std::to_string(20 + ::getpid() % 200) + ".";
    addr_m = net + "1";
    addr_w = net + "2";
    cleanup();  // leftovers of an earlier run with the same pid
    if (::geteuid() != 0) {
      error = "not root";
      return;
    }
    auto add = ip({"netns", "add", ns_m}, scratch);
    if (add.exit_code != 0) {
      error = "ip netns add failed: " + add.err;
      return;
    }
    created = true;
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"netns", "add", ns_w},
             {"-n", ns_m, "link", "add", veth_m, "type", "veth", "peer", "name", veth_w, "netns", ns_w},
             {"-n", ns_m, "addr", "add", addr_m + "/30", "dev", veth_m},
             {"-n", ns_w, "addr", "add", addr_w + "/30", "dev", veth_w},
             {"-n", ns_m, "link", "set", "lo", "up"},
             {"-n", ns_w, "link", "set", "lo", "up"},
             {"-n", ns_m, "link", "set", veth_m, "up"},
             {"-n", ns_w, "link", "set", veth_w, "up"},
         }) {
      auto r = ip(step, scratch);
      if (r.exit_code != 0) {
        std::string cmd;
        for (const auto& a : step) cmd += " " + a;
        error = "ip" + cmd + " failed: " + r.err;
        return;
      }
    }
  }

  ~Partitionable() { cleanup(); }

  bool ok() const { return created && error.empty(); }

  // Kills what still runs inside our namespaces (only processes this test
  // started, directly or through the daemons), then deletes veths and namespaces.
  void cleanup() {
    for (const auto& ns : {ns_m, ns_w}) {
      auto pids = ip({"netns", "pids", ns}, scratch);
      if (pids.exit_code != 0) continue;
      std::istringstream in(pids.out);
      for (pid_t p; in >> p;) {
        if (p > 1 && p != ::getpid()) ::kill(p, SIGKILL);
      }
    }
    ip({"-n", ns_m, "link", "del", veth_m}, scratch);
    ip({"netns", "del", ns_m}, scratch);
    ip({"netns", "del", ns_w}, scratch);
  }

  // `ip route get` from `ns` to `to` must name `dev` (traffic stays on our veth).
  bool routes_via(const std::string& ns, const std::string& to, const std::string& dev,
                  std::string& out) {
    auto r = ip({"-n", ns, "route", "get", to}, scratch);
    out = r.out + r.err;
    return r.exit_code == 0 && r.out.find("dev " + dev + " ") != std::string::npos;
  }

  std::vector<std::string> exec(const std::string& ns, std::vector<std::string> argv) const {
    std::vector<std::string> full = {"ip", "netns", "exec", ns};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }
};


}  // namespace

TEST_CASE("partition: a worker cut off by a real network partition is declared dead, its task "
          "reruns elsewhere, and on rejoin its stale attempt is killed, never committed "
          "(skipped with a warning without root / ip netns)",
          "[integration][partition]") {
  TempDir tmp;
  Partitionable net(tmp.path);
  if (!net.ok()) {
    WARN("SKIPPED: network namespaces unavailable (" << net.error << ")");
    return;
  }
  std::string route_m, route_w;
  bool via_m = net.routes_via(net.ns_m, net.addr_w, net.veth_m, route_m);
  bool via_w = net.routes_via(net.ns_w, net.addr_m, net.veth_w, route_w);
  INFO("ip route get: " << route_m << " / " << route_w);
  REQUIRE(via_m);
  REQUIRE(via_w);
  // A fresh namespace has no default route: nothing can leave the machine.
  CHECK(ip({"-n", net.ns_m, "route", "get", "8.8.8.8"}, tmp.path).exit_code != 0);
  CHECK(ip({"-n", net.ns_w, "route", "get", "8.8.8.8"}, tmp.path).exit_code != 0);

  // The remote namespace's identity, so a task knows where it runs.
  auto ident = run_command(net.exec(net.ns_w, {"readlink", "/proc/self/ns/net"}), 20s, tmp.path);
  REQUIRE(ident.exit_code == 0);
  const std::string remote_ns = trim(ident.out);
  REQUIRE(remote_ns.rfind("net:[", 0) == 0);

  // ------------------------------------------------------------- daemons
  fs::path data = tmp.path / "master";
  fs::create_directories(data);
  Child master(net.exec(net.ns_m, {binary("drover-master").string(), "--listen", net.addr_m + ":0",
                                   "--insecure", "--data-dir", data.string(), "--worker-timeout",
                                   "2s", "--heartbeat-interval", "200ms"}),
               tmp.path / "master.log");
  bool up = wait_until([&] { return fs::exists(data / "master.addr"); }, 20s);
  INFO(master.log());
  REQUIRE(up);
  const std::string address = trim(read_text(data / "master.addr"));
  REQUIRE(address.rfind(net.addr_m + ":", 0) == 0);
  const std::string url = "http://" + address;

  auto worker_argv = [&](const std::string& ns, const std::string& id, const std::string& listen) {
    std::vector<std::string> argv = {binary("drover-worker").string(), "--master", url, "--listen",
                                     listen, "--id", id, "--work-dir",
                                     (tmp.path / ("worker-" + id)).string(), "--cpus", "1",
                                     "--allow-root", "true"};
    return net.exec(ns, argv);
  };
  // Every client call runs inside the master's namespace.
  auto cli = [&](std::vector<std::string> args, Duration timeout = 30s) {
    std::vector<std::string> argv = {binary("drover").string(), "--master", url};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(net.exec(net.ns_m, argv), timeout, tmp.path);
  };
  auto cli_json = [&](std::vector<std::string> args) -> nlohmann::json {
    args.insert(args.begin(), {"-o", "json"});
    auto r = cli(args, 10s);
    if (r.exit_code != 0) return nullptr;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json(nullptr) : j;
  };
  auto worker_state = [&](const std::string& id) -> std::string {
    auto j = cli_json({"workers"});
    if (!j.is_object() || !j.contains("workers")) return "";
    for (const auto& w : j["workers"]) {
      if (w.value("id", "") == id) return w.value("state", "");
    }
    return "";
  };

  Child remote(worker_argv(net.ns_w, "remote", net.addr_w + ":0"), tmp.path / "worker-remote.log");
  bool remote_alive = wait_until([&] { return worker_state("remote") == "alive"; }, 20s, 100ms);
  INFO(remote.log());
  REQUIRE(remote_alive);

  // --------------------------------------------------------------- job
  // On the remote worker the task records its pid and runs long (it must still
  // be running when the link comes back); elsewhere it ends at once.
  fs::path marks = tmp.path / "marks";
  fs::create_directories(marks);
  std::string script = "if [ \"$(readlink /proc/self/ns/net)\" = '" + remote_ns + "' ]; then echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) > " +
                       marks.string() + "/remote-$DROVER_ATTEMPT.tmp && mv " + marks.string() +
                       "/remote-$DROVER_ATTEMPT.tmp " + marks.string() +
                       "/remote-$DROVER_ATTEMPT.pid; sleep 60; echo remote > $DROVER_OUTPUT_DIR/who; "
                       "else echo local > $DROVER_OUTPUT_DIR/who; fi";
  nlohmann::json command = nlohmann::json::array({"sh", "-c", script});
  auto bundle = write_bundle(tmp.path / "bundle", "name: partition\nstages:\n  - name: s\n    command: " +
                                                      command.dump() + "\n");
  auto sub = cli({"submit", bundle.string()});
  INFO(sub.err);
  REQUIRE(sub.exit_code == 0);
  const std::string job = trim(sub.out.substr(0, sub.out.find('\n')));

  auto attempts = [&]() -> nlohmann::json {
    auto j = cli_json({"tasks", job});
    if (!j.is_object() || !j.contains("tasks") || j["tasks"].empty()) return nlohmann::json::array();
    return j["tasks"][0]["attempts"];
  };
  fs::path pid_file = marks / "remote-1.pid";
  bool running_remote = wait_until(
      [&] {
        if (!fs::exists(pid_file)) return false;
        for (const auto& a : attempts()) {
          if (a.value("worker", "") == "remote" && a.value("state", "") == "running") return true;
        }
        return false;
      },
      30s, 100ms);
  INFO(remote.log());
  REQUIRE(running_remote);
  TaskPid stale;
  std::istringstream(read_text(pid_file)) >> stale.pid >> stale.ns >> stale.start;
  REQUIRE(alive(stale));

  Child local(worker_argv(net.ns_m, "local", "127.0.0.1:0"), tmp.path / "worker-local.log");
  bool local_alive = wait_until([&] { return worker_state("local") == "alive"; }, 20s, 100ms);
  INFO(local.log());
  REQUIRE(local_alive);

  // ---------------------------------------------------------- partition
  REQUIRE(ip({"-n", net.ns_w, "link", "set", net.veth_w, "down"}, tmp.path).exit_code == 0);
  const auto cut = std::chrono::steady_clock::now();
  // worker_timeout (2 s) + 3 s margin.
  bool dead = wait_until([&] { return worker_state("remote") == "dead"; }, 5s, 100ms);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cut);
  INFO("declared dead after " << took.count() << " ms");
  INFO(master.log());
  REQUIRE(dead);

  auto wait = cli({"wait", job}, 60s);
  INFO(wait.err);
  CHECK(wait.exit_code == 0);
  auto status = cli_json({"status", job});
  INFO(status.dump());
  REQUIRE(status.is_object());
  REQUIRE(status.value("state", "") == "succeeded");
  auto after_rerun = cli_json({"tasks", job});
  REQUIRE(after_rerun.is_object());
  const auto task = after_rerun["tasks"][0];
  INFO(task.dump());
  const std::string committed = task.value("output_digest", "");
  CHECK(!committed.empty());
  REQUIRE(task["attempts"].size() >= 2);
  CHECK(task["attempts"][0].value("worker", "") == "remote");
  CHECK(task["attempts"][0].value("state", "") == "lost");
  CHECK(task["attempts"][0].value("reason", "") == "lost_worker");
  CHECK(task["attempts"].back().value("worker", "") == "local");
  CHECK(task["attempts"].back().value("state", "") == "succeeded");
  const bool stale_alive_at_restore = alive(stale);

  // ---------------------------------------------------------------- heal
  REQUIRE(ip({"-n", net.ns_w, "link", "set", net.veth_w, "up"}, tmp.path).exit_code == 0);
  REQUIRE(net.routes_via(net.ns_w, net.addr_m, net.veth_w, route_w));
  const auto healed = std::chrono::steady_clock::now();
  bool rejoined = wait_until([&] { return worker_state("remote") == "alive"; }, 20s, 100ms);
  auto rejoin_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - healed);
  INFO("rejoin after " << rejoin_ms.count() << " ms; stale attempt (pid " << stale.pid << " in " << stale.ns
                       << ") still ran when the link came back: " << stale_alive_at_restore);
  INFO(remote.log());
  CHECK(rejoined);
  bool killed = wait_until([&] { return !alive(stale); }, 10s, 50ms);
  CHECK(killed);

  // The committed output is still the local attempt's, and the remote attempt
  // never became succeeded.
  auto final_tasks = cli_json({"tasks", job});
  REQUIRE(final_tasks.is_object());
  const auto final_task = final_tasks["tasks"][0];
  INFO(final_task.dump());
  CHECK(final_task.value("output_digest", "") == committed);
  int succeeded = 0;
  for (const auto& a : final_task["attempts"]) {
    if (a.value("state", "") == "succeeded") {
      ++succeeded;
      CHECK(a.value("worker", "") == "local");
    }
    if (a.value("worker", "") == "remote") CHECK(a.value("state", "") != "succeeded");
  }
  CHECK(succeeded == 1);
  auto out = cli({"output", job, "--to", (tmp.path / "out").string()});
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "s" / "0" / "who") == "local\n");
  CHECK(!fs::exists(marks / "remote-2.pid"));  // the task never ran on the remote worker again

  if (pid_t pid = host_pid(stale); pid > 0) ::kill(pid, SIGKILL);  // our task's process, by its pid
  local.stop(SIGTERM);
  remote.stop(SIGTERM);
  master.stop(SIGTERM);
}
