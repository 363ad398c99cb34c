#include "tests/support/support.hpp"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "common/fs/fs.hpp"

namespace drover::test {

TempDir::TempDir() {
  auto dir = make_temp_dir("drover-it");
  REQUIRE(dir.ok());
  path = *dir;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

OpenFds::~OpenFds() {
  for (int fd : fds) ::close(fd);
}

bool wait_until(const std::function<bool()>& cond, Duration timeout, Duration poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

fs::path source_dir() { return DROVER_SOURCE_DIR; }

fs::path binary(const std::string& name) {
  return fs::path(DROVER_BIN_DIR) / "bin" / name;
}

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

Child::Child(std::vector<std::string> argv, fs::path log,
             const std::map<std::string, std::string>& extra_env)
    : log_(std::move(log)) {
  SpawnOptions o;
  o.argv = std::move(argv);
  if (!extra_env.empty()) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
      std::string kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : extra_env) env[k] = v;
    o.env = std::move(env);
  }
  o.stdout_path = log_;
  o.stderr_path = log_;
  auto pid = spawn_process(o);
  REQUIRE(pid.ok());
  pid_ = *pid;
}

Child::~Child() {
  if (pid_ > 0) kill9();
}

ExitStatus Child::stop(int sig, Duration grace) {
  REQUIRE(pid_ > 0);
  ExitStatus st = terminate_process(pid_, sig, grace);
  pid_ = -1;
  return st;
}

void Child::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_process(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string Child::log() const { return slurp(log_); }

CliResult run_command(const std::vector<std::string>& argv, Duration timeout,
                      const fs::path& scratch) {
  static int counter = 0;
  std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter);
  SpawnOptions o;
  o.argv = argv;
  o.stdout_path = scratch / ("out-" + tag);
  o.stderr_path = scratch / ("err-" + tag);
  auto pid = spawn_process(o);
  REQUIRE(pid.ok());
  CliResult r;
  auto st = wait_process(*pid, timeout);
  if (!st) {
    ::kill(*pid, SIGKILL);
    wait_process(*pid, std::chrono::seconds(10));
  } else {
    r.exit_code = st->exited() ? st->exit_code : 128 + st->signal;
  }
  r.out = slurp(o.stdout_path);
  r.err = slurp(o.stderr_path);
  fs::remove(o.stdout_path);
  fs::remove(o.stderr_path);
  return r;
}

// ------------------------------------------------------------------ Cluster

Cluster::Cluster(fs::path root, std::vector<std::string> master_flags)
    : root_(std::move(root)), master_flags_(std::move(master_flags)) {
  start_master();
}

Cluster::~Cluster() {
  for (auto& [id, w] : workers_) {
    if (w && w->running()) w->stop(SIGTERM, std::chrono::seconds(10));
  }
  if (master_ && master_->running()) master_->stop(SIGTERM, std::chrono::seconds(10));
}

namespace {
// The value of `--name VALUE` in `flags`, or "".
std::string flag_value(const std::vector<std::string>& flags, const std::string& name) {
  for (std::size_t i = 0; i + 1 < flags.size(); ++i) {
    if (flags[i] == name) return flags[i + 1];
  }
  return {};
}
}  // namespace

void Cluster::start_master(const std::map<std::string, std::string>& env) {
  // A second master on the same address would race the first for the port.
  if (master_ && master_->running()) master_->stop(SIGTERM);
  std::string data_flag = flag_value(master_flags_, "--data-dir");
  fs::path data = data_flag.empty() ? root_ / "master" : fs::path(data_flag);
  fs::create_directories(data);
  fs::remove(data / "master.addr");
  // Same port across restarts, so workers find the master again. The first
  // port is picked below Linux's ephemeral range (32768+): there no client
  // connection of another test can take it while this master is down. A port
  // another listener holds is simply passed over (bounded).
  std::mt19937 random(std::random_device{}());
  for (int pick = 0;; ++pick) {
    std::string listen = address_.empty()
                             ? "127.0.0.1:" + std::to_string(20000 + random() % 12000)
                             : address_;
    std::vector<std::string> argv = {binary("drover-master").string(), "--listen", listen,
                                     "--worker-timeout", "2s", "--heartbeat-interval", "200ms"};
    if (data_flag.empty()) {
      argv.push_back("--data-dir");
      argv.push_back(data.string());
    }
    argv.insert(argv.end(), master_flags_.begin(), master_flags_.end());
    master_ = std::make_unique<Child>(argv, root_ / "master.log", env);
    bool in_use = false;
    bool up = wait_until([&] {
      in_use = master_->log().find("Address already in use") != std::string::npos;
      return in_use || fs::exists(data / "master.addr");
    }, std::chrono::seconds(20));
    if (in_use && address_.empty() && pick < 20) {
      master_->stop();
      continue;
    }
    INFO(master_->log());
    REQUIRE(up);
    REQUIRE_FALSE(in_use);
    break;
  }
  std::string addr = slurp(data / "master.addr");
  address_ = addr.substr(0, addr.find('\n'));
}

ExitStatus Cluster::stop_master(int sig) {
  REQUIRE(master_);
  if (sig == SIGKILL) {
    master_->kill9();
    return ExitStatus{-1, SIGKILL};
  }
  return master_->stop(sig);
}

Child& Cluster::start_worker(const std::string& id, double cpus, std::vector<std::string> flags) {
  std::vector<std::string> argv = {binary("drover-worker").string(), "--master", url(),
                                   "--listen", "127.0.0.1:0", "--id", id, "--cpus",
                                   std::to_string(cpus)};
  // Defaults a test may override through `flags`.
  for (auto [name, value] : {std::pair<std::string, std::string>{"--work-dir", (root_ / ("worker-" + id)).string()},
                             {"--drain-timeout", "1s"}}) {
    if (!flag_value(flags, name).empty()) continue;
    argv.push_back(name);
    argv.push_back(value);
  }
  if (!ca_file_.empty()) {
    argv.push_back("--ca-file");
    argv.push_back(ca_file_.string());
  }
  if (::geteuid() == 0) {
    argv.push_back("--allow-root");
    argv.push_back("true");
  }
  argv.insert(argv.end(), flags.begin(), flags.end());
  worker_argv_.emplace_back(id, argv);
  workers_.emplace_back(id, std::make_unique<Child>(argv, root_ / ("worker-" + id + ".log")));
  return *workers_.back().second;
}

Child& Cluster::restart_worker(const std::string& id) {
  const std::vector<std::string>* argv = nullptr;
  for (const auto& [wid, a] : worker_argv_) {
    if (wid == id) argv = &a;
  }
  INFO("restart_worker: unknown worker " << id);
  REQUIRE(argv != nullptr);
  std::string log = "worker-" + id + ".log." + std::to_string(++restarts_);
  for (auto& [wid, w] : workers_) {
    if (wid != id) continue;
    if (w && w->running()) w->kill9();
    w = std::make_unique<Child>(*argv, root_ / log);
    return *w;
  }
  workers_.emplace_back(id, std::make_unique<Child>(*argv, root_ / log));
  return *workers_.back().second;
}

Child* Cluster::worker(const std::string& id) {
  for (auto& [wid, w] : workers_) {
    if (wid == id) return w.get();
  }
  return nullptr;
}

bool Cluster::wait_workers_alive(std::size_t n, Duration timeout) {
  return wait_until(
      [&] {
        auto r = client().get_json("/api/v1/workers");
        if (!r.ok()) return false;
        std::size_t alive = 0;
        for (const auto& w : (*r)["workers"]) alive += w["state"] == "alive";
        return alive >= n;
      },
      timeout, std::chrono::milliseconds(50));
}

http::Client Cluster::client() const {
  http::ClientOptions options;
  options.ca_file = ca_file_.string();
  return http::Client(url(), options);
}

nlohmann::json Cluster::get(const std::string& target) {
  auto r = client().get_json(target);
  INFO(target << ": " << (r.ok() ? "" : r.error().describe()));
  REQUIRE(r.ok());
  return *r;
}

CliResult Cluster::cli(std::vector<std::string> args, Duration timeout) {
  std::vector<std::string> argv = {binary("drover").string(), "--master", url()};
  if (!ca_file_.empty()) {
    argv.push_back("--ca");
    argv.push_back(ca_file_.string());
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout, root_);
}

}  // namespace drover::test
