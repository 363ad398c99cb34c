#pragma once
// Who may call which route (SPEC §8). Users come from auth.tokens_file (name,
// role, SHA-256 of their token); workers share the token in
// auth.worker_token_file. Tokens travel as `Authorization: Bearer TOKEN`;
// only hashes are kept in memory. Every route has an entry in the access
// table; a route without one is refused to everybody (fail closed), and a
// test checks that none is missing.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/http/http.hpp"

namespace drover::master {

// admin > submit > read; `worker` is the worker protocol only, `open` needs no token.
enum class Access { open, read, submit, admin, worker };
std::string_view to_string(Access a);
std::optional<Access> role_from_string(std::string_view s);  // read | submit | admin

// The access a route needs; nullopt for a route the table does not know.
std::optional<Access> route_access(const std::string& method, const std::string& pattern);

struct User {
  std::string name;
  Access role = Access::read;
};

class AccessControl {
 public:
  // No auth configured: every request is let through (the master then only
  // listens on loopback unless --insecure).
  AccessControl() = default;
  // Reads both files; errors name the file's key and the entry at fault.
  static Result<AccessControl> load(const std::filesystem::path& tokens_file,
                                    const std::filesystem::path& worker_token_file);
  // Parses a tokens file's text (YAML `users: [{name, role, token_sha256}]`).
  static Result<std::map<std::string, User>> parse_users(const std::string& yaml);

  bool enabled() const { return enabled_; }
  // nullopt when the request may go on (req.user is set to the caller);
  // unauthorized (401) without a valid token, forbidden (403) when its role is too low.
  std::optional<Error> check(http::Request& req, const std::string& method,
                             const std::string& pattern) const;

 private:
  bool enabled_ = false;
  std::map<std::string, User> users_;  // by token SHA-256 (hex)
  std::string worker_token_sha256_;  // only the hash is kept: it is never sent anywhere
};

// A fresh random token: 32 bytes from the OS's CSPRNG, hex.
Result<std::string> new_token();

}  // namespace drover::master
