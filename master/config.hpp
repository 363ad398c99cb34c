#pragma once
// drover-master's configuration (SPEC §1): YAML file plus flags.
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/base/units.hpp"

namespace drover::master {

struct MasterConfig {
  std::string listen = "127.0.0.1:7070";
  std::string data_dir = "/var/lib/drover/master";
  Duration worker_timeout = std::chrono::seconds(10);
  Duration heartbeat_interval = std::chrono::seconds(1);
  Duration exclude_for = std::chrono::minutes(5);
  std::uint64_t max_bundle_size = 1ULL << 30;
  Duration retention = std::chrono::hours(24 * 7);  // 0: finished jobs are kept forever
  std::string output_store = "master";
  bool insecure = false;
  std::string tokens_file;        // auth.tokens_file: users, roles, token hashes; empty = no auth
  std::string worker_token_file;  // auth.worker_token_file: the workers' shared token
  std::string tls_cert, tls_key;  // tls.cert / tls.key (PEM); empty = plain HTTP
};

struct MasterConfigLoad {
  MasterConfig config;
  bool help_requested = false;
  std::string help_text;
};

// args excludes argv[0]. Errors name the key; main() exits 2 on them.
Result<MasterConfigLoad> load_master_config(const std::vector<std::string>& args);

}  // namespace drover::master
