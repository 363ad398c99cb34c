#pragma once
// `drover-master init`: writes a configuration that is secure with no further
// step (SPEC §8): a tokens file holding the hash of a new admin token, the
// workers' shared token, a self-signed TLS certificate and its key, a master
// config that uses them, and a worker config to copy to each worker (it
// trusts that certificate). The tokens are printed once; nothing is overwritten.
#include <filesystem>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover::master {

struct InitOptions {
  std::filesystem::path config_dir = "/etc/drover";
  std::string data_dir = "/var/lib/drover/master";
  std::string listen = "0.0.0.0:7070";     // auth is on, so any address is allowed
  std::string master_url;                  // for worker.yaml; default https://<host name>:<port>
  bool tls = true;                         // write a self-signed certificate and use it
  std::vector<std::string> hosts;          // names and IPs the certificate is for (+ localhost, 127.0.0.1)
};

// Parses `init` flags (args after "init"); --help gives the usage as an error-free nullopt.
Result<InitOptions> parse_init_args(const std::vector<std::string>& args);
std::string init_usage();

// Writes the files; returns what to print (paths and the two tokens).
Result<std::string> run_init(const InitOptions& options);

}  // namespace drover::master
