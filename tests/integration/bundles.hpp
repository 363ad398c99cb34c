#pragma once
// What the integration tests share: small job bundles, task pid files, and
// short-hands over the Cluster's API and CLI.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/support.hpp"

namespace drover::test {

inline std::filesystem::path write_bundle(const std::filesystem::path& dir, const std::string& job_yaml,
                                          const std::map<std::string, std::string>& files = {}) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "job.yaml") << job_yaml;
  for (const auto& [name, content] : files) {
    std::filesystem::create_directories((dir / name).parent_path());
    std::ofstream(dir / name) << content;
  }
  return dir;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The non-empty lines of `s`, in order.
inline std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from < s.size()) {
    std::size_t end = s.find('\n', from);
    if (end == std::string::npos) end = s.size();
    if (end > from) out.push_back(s.substr(from, end - from));
    from = end + 1;
  }
  return out;
}

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// Task processes write their pids to files under `dir`; killed at scope exit so a
// test that kill -9s a worker leaves no orphan tasks behind.
// A task's pid as the task saw it ($$: a root worker runs each task in its own
// pid namespace, where the task is pid 2), that namespace ("pid:[N]") and the
// process's start time (field 22 of its stat, in clock ticks since boot): a
// namespace's number is reused as soon as the namespace is gone, and only
// the start time tells a later task with the same pair apart. Tasks print it
// with `echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat)`.
struct TaskPid {
  pid_t pid = 0;
  std::string ns;
  std::string start;
};

// Field 22 of /proc/<pid>/stat ("" when gone); the name before it may hold spaces.
inline std::string start_time_of(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return {};
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return {};
  }
  return field;
}

// The host pid of the process `t` names, or 0 once it has ended (zombies and
// a namespace that is gone included): the /proc entry in namespace t.ns whose
// NSpid ends in t.pid and that started at t.start.
inline pid_t host_pid(const TaskPid& t) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::filesystem::read_symlink(e.path() / "ns" / "pid", ec).string() != t.ns || ec) continue;
    std::ifstream status(e.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      const auto last = line.find_last_of(" \t");
      if (std::to_string(t.pid) != line.substr(last + 1)) break;
      if (start_time_of(name) == t.start) return std::stoi(name);
    }
  }
  return 0;
}

inline bool alive(const TaskPid& t) { return host_pid(t) != 0; }

// A directory where tasks append their TaskPid to a file each; the
// destructor kills every one still running.
struct TaskPids {
  explicit TaskPids(std::filesystem::path d) : dir(std::move(d)) {
    std::filesystem::create_directories(dir);
  }
  ~TaskPids() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      for (const TaskPid& t : read(e.path().filename().string())) {
        if (pid_t pid = host_pid(t); pid > 0) ::kill(pid, SIGKILL);
      }
    }
  }
  std::vector<TaskPid> read(const std::string& name) const {
    std::vector<TaskPid> out;
    std::ifstream in(dir / name);
    for (TaskPid t; in >> t.pid >> t.ns >> t.start;) out.push_back(t);
    return out;
  }
  std::filesystem::path dir;
};

inline bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

// Starts workers w1..wN of `cpus` cpus each (the Cluster started its master); REQUIREs them alive.
inline void start_cluster(Cluster& c, int workers, double cpus) {
  for (int i = 1; i <= workers; ++i) c.start_worker("w" + std::to_string(i), cpus);
  REQUIRE(c.wait_workers_alive(static_cast<std::size_t>(workers)));
}

inline nlohmann::json tasks_of(Cluster& c, const std::string& job) {
  return c.get("/api/v1/jobs/" + job + "/tasks")["tasks"];
}

inline std::string job_state(Cluster& c, const std::string& job) {
  return c.get("/api/v1/jobs/" + job)["state"];
}

// Waits (bounded) until the job reached a final state; returns whether it did.
inline bool wait_job_ended(Cluster& c, const std::string& job, Duration timeout) {
  return wait_until([&] {
    auto s = job_state(c, job);
    return s == "succeeded" || s == "failed" || s == "partial" || s == "cancelled";
  }, timeout);
}

// Submits with the CLI; REQUIREs success and returns the job id.
inline std::string submit(Cluster& c, const std::filesystem::path& bundle) {
  auto r = c.cli({"submit", bundle.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return first_line(r.out);
}

}  // namespace drover::test
