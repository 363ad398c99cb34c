#pragma once
// The worker's configuration (SPEC §1 worker keys): the key table, and the
// typed WorkerConfig built from the loaded values and facts about the host.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/base/units.hpp"
#include "common/config/config.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

struct WorkerConfig {
  std::string master = "http://127.0.0.1:7070";
  std::string listen = "127.0.0.1:7071";
  std::string id;
  std::filesystem::path work_dir = "/var/lib/drover/worker";
  double cpus = 1;
  std::uint64_t memory = 0;
  std::map<std::string, std::string> labels;
  std::string token;  // read from token_file; empty = none
  std::string ca_file;  // PEM CA for an https:// master; empty = the system's CAs
  std::string run_as = "drover";
  bool allow_root = false;
  Duration drain_timeout = std::chrono::minutes(5);
  Duration keep_attempts = std::chrono::hours(24);  // finished attempt dirs older than this are removed
  std::uint64_t cache_size = 10ULL << 30;           // bundle/blob cache limit in bytes; 0 = none
  // Set when the worker is root and tasks must run as `run_as`.
  std::optional<TaskUser> task_user;
};

std::vector<ConfigKey> worker_config_keys();

// What the machine is and who we are; injected so tests can fake it.
struct HostFacts {
  std::string hostname;
  double cpus = 1;
  std::uint64_t memory = 0;
  uid_t euid = 0;
  std::function<std::optional<TaskUser>(const std::string& user)> lookup_user;
};
HostFacts host_facts();

// Checks and types the values; errors name the key.
[[nodiscard]] Result<WorkerConfig> make_worker_config(const ConfigValues& values,
                                                      const HostFacts& host);

}  // namespace drover::worker
