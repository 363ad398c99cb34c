#include "master/config.hpp"

#include <filesystem>
#include <fstream>
#include <utility>

#include "common/proto/output_ref.hpp"

#include <fmt/format.h>

#include "common/config/config.hpp"

namespace drover::master {

namespace {

using T = ConfigKey::Type;

std::vector<ConfigKey> master_keys() {
  return {
      {"listen", T::string, "127.0.0.1:7070", "address:port for the API and dashboard"},
      {"data_dir", T::string, "/var/lib/drover/master", "SQLite state and blob store"},
      {"worker_timeout", T::duration, "10s", "a worker silent this long is dead"},
      {"heartbeat_interval", T::duration, "1s", "how often workers heartbeat (told to them)"},
      {"exclude_for", T::duration, "5m", "how long a failing worker gets no tasks"},
      {"max_bundle_size", T::size, "1Gi", "largest accepted bundle upload"},
      {"auth.tokens_file", T::string, "", "users, roles and token hashes (YAML)"},
      {"auth.worker_token_file", T::string, "", "the workers' shared token"},
      {"tls.cert", T::string, "", "TLS certificate (PEM)"},
      {"tls.key", T::string, "", "TLS private key (PEM)"},
      {"retention", T::duration, "7d", "how long finished jobs are kept (0: forever)"},
      {"output_store", T::string, "master", "master, or shared:/path"},
  };
}

bool is_loopback_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]" || host == "::1";
}

}  // namespace

Result<MasterConfigLoad> load_master_config(const std::vector<std::string>& args) {
  auto loaded = load_config("drover-master", master_keys(), args, {"insecure"});
  if (!loaded.ok()) return loaded.error();
  MasterConfigLoad out;
  out.help_requested = loaded->help_requested;
  out.help_text = loaded->help_text;
  if (out.help_requested) return out;
  const ConfigValues& v = loaded->values;
  MasterConfig& c = out.config;
  c.tokens_file = v.get_string("auth.tokens_file");
  c.worker_token_file = v.get_string("auth.worker_token_file");
  if (c.tokens_file.empty() != c.worker_token_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "auth.tokens_file and auth.worker_token_file are set together",
                      c.tokens_file.empty() ? "auth.tokens_file" : "auth.worker_token_file");
  }
  c.tls_cert = v.get_string("tls.cert");
  c.tls_key = v.get_string("tls.key");
  c.listen = v.get_string("listen");
  c.data_dir = v.get_string("data_dir");
  c.worker_timeout = v.get_duration("worker_timeout");
  c.heartbeat_interval = v.get_duration("heartbeat_interval");
  c.exclude_for = v.get_duration("exclude_for");
  c.max_bundle_size = v.get_size("max_bundle_size");
  c.retention = v.get_duration("retention");
  c.output_store = v.get_string("output_store");
  for (const auto& f : loaded->flags_set) c.insecure |= f == "insecure";
  if (c.output_store != "master") {
    std::string root = shared_store_root(c.output_store);
    if (root.empty() || root.front() != '/') {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("must be master or shared:/absolute/path, got \"{}\"",
                                    c.output_store),
                        "output_store");
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec)) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("{} is not a directory (mount the shared filesystem first)", root),
                        "output_store");
    }
  }
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return make_error(ErrorCode::invalid_argument, "tls.cert and tls.key must be set together",
                      c.tls_cert.empty() ? "tls.cert" : "tls.key");
  }
  for (const auto& [key, file] : {std::pair<const char*, const std::string&>{"tls.cert", c.tls_cert},
                                  {"tls.key", c.tls_key}}) {
    if (!file.empty() && !std::ifstream(file)) {
      return make_error(ErrorCode::invalid_argument, fmt::format("cannot read {}", file), key);
    }
  }
  if (c.retention > Duration{0} && c.retention < std::chrono::minutes(1)) {
    // Shorter would delete a job before its submitter could read how it ended.
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("must be 0 (keep forever) or at least 1m, got {}",
                                  format_duration(c.retention)),
                      "retention");
  }
  if (c.worker_timeout <= c.heartbeat_interval) {
    return make_error(ErrorCode::invalid_argument, "must be longer than heartbeat_interval",
                      "worker_timeout");
  }
  if (!is_loopback_listen(c.listen) && !c.insecure && c.tokens_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("refusing to listen on non-loopback {} without auth "
                                  "(configure auth, or pass --insecure)", c.listen),
                      "listen");
  }
  return out;
}

}  // namespace drover::master
