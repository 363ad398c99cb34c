#include "master/api/access.hpp"

#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/fs/fs.hpp"

namespace drover::master {

namespace {

struct RouteRule {
  const char* method;
  const char* pattern;
  Access access;
};

// Every route the master serves. Reads need `read`, changes to jobs `submit`,
// changes to the cluster `admin`; probes, the API description and the
// dashboard's static page need no token (the page holds no data: it asks the
// API with the token the user gives it).
constexpr RouteRule kRules[] = {
    {"GET", "/healthz", Access::open},
    {"GET", "/readyz", Access::open},
    {"GET", "/", Access::open},
    {"GET", "/api/v1/openapi.json", Access::open},
    {"GET", "/metrics", Access::read},
    {"GET", "/api/v1/cluster", Access::read},
    {"GET", "/api/v1/workers", Access::read},
    {"GET", "/api/v1/jobs", Access::read},
    {"GET", "/api/v1/jobs/{job}", Access::read},
    {"GET", "/api/v1/jobs/{job}/tasks", Access::read},
    {"GET", "/api/v1/jobs/{job}/events", Access::read},
    {"GET", "/api/v1/jobs/{job}/tasks/{stage}/{index}/logs", Access::read},
    {"GET", "/api/v1/jobs/{job}/tasks/{stage}/{index}/output", Access::read},
    {"POST", "/api/v1/jobs", Access::submit},
    {"POST", "/api/v1/jobs/{job}/cancel", Access::submit},
    {"POST", "/api/v1/jobs/{job}/rerun", Access::submit},
    {"POST", "/api/v1/workers/{id}/drain", Access::admin},
};

bool ranks_at_least(Access have, Access need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

}  // namespace

std::string_view to_string(Access a) {
  switch (a) {
    case Access::open: return "open";
    case Access::read: return "read";
    case Access::submit: return "submit";
    case Access::admin: return "admin";
    case Access::worker: return "worker";
  }
  return "?";
}

std::optional<Access> role_from_string(std::string_view s) {
  for (Access a : {Access::read, Access::submit, Access::admin}) {
    if (s == to_string(a)) return a;
  }
  return std::nullopt;
}

std::optional<Access> route_access(const std::string& method, const std::string& pattern) {
  // The worker protocol, whatever the method: only the worker token.
  if (pattern.rfind("/internal/", 0) == 0) return Access::worker;
  for (const RouteRule& r : kRules) {
    if (method == r.method && pattern == r.pattern) return r.access;
  }
  return std::nullopt;
}

Result<std::string> new_token() { return random_token(); }

Result<std::map<std::string, User>> AccessControl::parse_users(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::invalid_argument, fmt::format("not YAML: {}", e.what()),
                      "auth.tokens_file");
  }
  if (!root.IsMap() || !root["users"] || !root["users"].IsSequence()) {
    return make_error(ErrorCode::invalid_argument, "must hold a list `users:`", "auth.tokens_file");
  }
  std::map<std::string, User> out;
  std::set<std::string> names;
  std::size_t i = 0;
  for (const YAML::Node& u : root["users"]) {
    const std::string where = fmt::format("auth.tokens_file: users[{}]", i++);
    if (!u.IsMap()) return make_error(ErrorCode::invalid_argument, "must be a map", where);
    for (const auto& kv : u) {
      const std::string key = kv.first.as<std::string>("");
      if (key != "name" && key != "role" && key != "token_sha256") {
        return make_error(ErrorCode::invalid_argument, fmt::format("unknown key {}", key), where);
      }
    }
    User user;
    user.name = u["name"] ? u["name"].as<std::string>("") : "";
    if (user.name.empty()) return make_error(ErrorCode::invalid_argument, "needs a name", where + ".name");
    if (!names.insert(user.name).second) {
      return make_error(ErrorCode::invalid_argument, fmt::format("{} is listed twice", user.name),
                        where + ".name");
    }
    auto role = role_from_string(u["role"] ? u["role"].as<std::string>("") : "");
    if (!role) {
      return make_error(ErrorCode::invalid_argument, "must be read, submit or admin", where + ".role");
    }
    user.role = *role;
    std::string hash = u["token_sha256"] ? u["token_sha256"].as<std::string>("") : "";
    for (char& c : hash) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!is_sha256_hex(hash)) {
      return make_error(ErrorCode::invalid_argument,
                        "must be the hex SHA-256 of the token (64 hex digits; sha256sum prints it)",
                        where + ".token_sha256");
    }
    if (out.count(hash)) {
      return make_error(ErrorCode::invalid_argument, "two users share this token", where + ".token_sha256");
    }
    out.emplace(hash, std::move(user));
  }
  return out;
}

Result<AccessControl> AccessControl::load(const std::filesystem::path& tokens_file,
                                          const std::filesystem::path& worker_token_file) {
  if (tokens_file.empty() != worker_token_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "auth.tokens_file and auth.worker_token_file are set together",
                      tokens_file.empty() ? "auth.tokens_file" : "auth.worker_token_file");
  }
  AccessControl ac;
  if (tokens_file.empty()) return ac;
  auto text = read_file(tokens_file);
  if (!text.ok()) {
    return make_error(ErrorCode::invalid_argument, text.error().message, "auth.tokens_file");
  }
  auto users = parse_users(*text);
  if (!users.ok()) return users.error();
  auto worker = read_file(worker_token_file);
  if (!worker.ok()) {
    return make_error(ErrorCode::invalid_argument, worker.error().message, "auth.worker_token_file");
  }
  std::string token = worker->substr(0, worker->find('\n'));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.size() < 16) {
    return make_error(ErrorCode::invalid_argument,
                      "its first line must be the workers' token (at least 16 characters)",
                      "auth.worker_token_file");
  }
  ac.enabled_ = true;
  ac.users_ = std::move(*users);
  ac.worker_token_sha256_ = sha256_hex(token);
  if (ac.users_.count(ac.worker_token_sha256_)) {
    return make_error(ErrorCode::invalid_argument, "a user has the workers' token",
                      "auth.worker_token_file");
  }
  return ac;
}

std::optional<Error> AccessControl::check(http::Request& req, const std::string& method,
                                          const std::string& pattern) const {
  std::optional<Access> need = route_access(method, pattern);
  if (!need) {
    return make_error(ErrorCode::forbidden, fmt::format("no access rule for {} {}", method, pattern));
  }
  if (*need == Access::open || !enabled_) return std::nullopt;
  const std::string token = http::bearer_token(req);
  if (token.empty()) {
    return make_error(ErrorCode::unauthorized, "this needs a token: Authorization: Bearer TOKEN");
  }
  const std::string hash = sha256_hex(token);
  if (hash == worker_token_sha256_) {
    if (*need != Access::worker) {
      return make_error(ErrorCode::forbidden, "the workers' token is for the worker protocol only");
    }
    req.user = "worker";
    return std::nullopt;
  }
  auto it = users_.find(hash);
  if (it == users_.end()) return make_error(ErrorCode::unauthorized, "unknown token");
  const User& user = it->second;
  if (*need == Access::worker || !ranks_at_least(user.role, *need)) {
    return make_error(ErrorCode::forbidden,
                      fmt::format("this needs the {} role; {} has {}", to_string(*need), user.name,
                                  to_string(user.role)));
  }
  req.user = user.name;
  return std::nullopt;
}

}  // namespace drover::master
