#include "worker/config/worker_config.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <thread>

#include "common/fs/fs.hpp"

namespace drover::worker {

namespace {

using Type = ConfigKey::Type;

Result<std::string> read_token(const std::string& file) {
  auto content = read_file(file);
  if (!content.ok()) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("cannot read {}: {}", file, content.error().describe()),
                      "token_file");
  }
  std::string line = content->substr(0, content->find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.empty()) {
    return make_error(ErrorCode::invalid_argument, fmt::format("{} has an empty first line", file),
                      "token_file");
  }
  return line;
}

Status check_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  bool ok = colon != std::string::npos && colon + 1 < listen.size() &&
            listen.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
            std::stoul(listen.substr(colon + 1, 6)) <= 65535;
  if (!ok) {
    return make_error(ErrorCode::invalid_argument, fmt::format("\"{}\" is not host:port", listen),
                      "listen");
  }
  return ok_status();
}

Status check_master(const std::string& master) {
  if (master.rfind("http://", 0) != 0 && master.rfind("https://", 0) != 0) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("\"{}\" is not an http:// or https:// URL", master), "master");
  }
  return ok_status();
}

Status resolve_task_user(WorkerConfig& config, const HostFacts& host) {
  if (host.euid != 0 || config.allow_root) return ok_status();
  auto user = host.lookup_user ? host.lookup_user(config.run_as) : std::nullopt;
  if (!user) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("run_as user \"{}\" does not exist (create it, or set "
                                  "allow_root: true)",
                                  config.run_as));
  }
  if (user->uid == 0) {  // "root", or another name for uid 0: tasks would run as root
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("run_as user \"{}\" has uid 0: tasks run as root only with "
                                  "allow_root: true",
                                  config.run_as),
                      "run_as");
  }
  config.task_user = *user;
  return ok_status();
}

}  // namespace

std::vector<ConfigKey> worker_config_keys() {
  return {
      {"master", Type::string, "http://127.0.0.1:7070", "URL of the master"},
      {"listen", Type::string, "127.0.0.1:7071", "host:port for the log server (port 0 = any)"},
      {"id", Type::string, "", "worker id (default: host name)"},
      {"work_dir", Type::string, "/var/lib/drover/worker", "scratch space for attempts"},
      {"cpus", Type::number, "", "cpus offered (default: hardware threads)"},
      {"memory", Type::size, "", "memory offered (default: physical memory)"},
      {"labels", Type::string_map, "", "labels for placement"},
      {"token_file", Type::string, "", "file whose first line is the worker token"},
      {"ca_file", Type::string, "", "PEM CA that signed an https:// master's certificate (default: system CAs)"},
      {"run_as", Type::string, "drover", "user that runs tasks when the worker is root"},
      {"allow_root", Type::boolean, "false", "let a root worker run tasks as root"},
      {"drain_timeout", Type::duration, "5m", "how long a drain lets attempts finish"},
      {"keep_attempts", Type::duration, "24h", "how long a finished attempt's dir may stay in work_dir"},
      {"cache_size", Type::size, "10Gi", "limit of the bundle/blob cache, least recently used out first (0 = none)"},
  };
}

HostFacts host_facts() {
  HostFacts host;
  char name[256] = {};
  host.hostname = gethostname(name, sizeof name - 1) == 0 ? name : "localhost";
  host.cpus = std::max(1u, std::thread::hardware_concurrency());
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    host.memory = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
  }
  host.euid = geteuid();
  host.lookup_user = [](const std::string& user) -> std::optional<TaskUser> {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return std::nullopt;
    }
    return TaskUser{found->pw_uid, found->pw_gid};
  };
  return host;
}

Result<WorkerConfig> make_worker_config(const ConfigValues& v, const HostFacts& host) {
  WorkerConfig c;
  c.master = v.get_string("master");
  DROVER_TRY(check_master(c.master));
  while (c.master.size() > 1 && c.master.back() == '/') c.master.pop_back();
  c.listen = v.get_string("listen");
  DROVER_TRY(check_listen(c.listen));
  c.id = v.has("id") && !v.get_string("id").empty() ? v.get_string("id") : host.hostname;
  c.work_dir = v.get_string("work_dir");
  if (c.work_dir.empty()) {
    return make_error(ErrorCode::invalid_argument, "must not be empty", "work_dir");
  }
  std::error_code ec;
  auto absolute = std::filesystem::absolute(c.work_dir, ec);
  if (!ec) c.work_dir = absolute;
  c.cpus = v.has("cpus") ? v.get_number("cpus") : host.cpus;
  if (!(c.cpus > 0)) return make_error(ErrorCode::invalid_argument, "must be > 0", "cpus");
  c.memory = v.has("memory") ? v.get_size("memory") : host.memory;
  c.labels = v.get_map("labels");
  if (v.has("token_file") && !v.get_string("token_file").empty()) {
    auto token = read_token(v.get_string("token_file"));
    if (!token.ok()) return token.error();
    c.token = *token;
  }
  c.ca_file = v.has("ca_file") ? v.get_string("ca_file") : std::string();
  if (!c.ca_file.empty() && !read_file(c.ca_file).ok()) {
    return make_error(ErrorCode::invalid_argument, fmt::format("cannot read {}", c.ca_file), "ca_file");
  }
  c.run_as = v.get_string("run_as");
  c.allow_root = v.get_bool("allow_root");
  c.drain_timeout = v.get_duration("drain_timeout");
  c.keep_attempts = v.get_duration("keep_attempts");
  c.cache_size = v.get_size("cache_size");
  DROVER_TRY(resolve_task_user(c, host));
  return c;
}

}  // namespace drover::worker
