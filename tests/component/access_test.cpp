// The route audit (SPEC §8): every route the master serves has an access
// rule, and none that reads private data or changes state answers without a
// token of the right role. Driven through the real route table and guard.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>

#include "master/api/access.hpp"
#include "tests/component/master_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;

namespace {

const std::string kReader(32, 'r'), kSubmitter(32, 's'), kAdmin(32, 'a'), kWorker(32, 'w');

AccessControl make_access(const fs::path& dir) {
  std::ofstream(dir / "tokens.yaml")
      << "users:\n"
      << "  - {name: rita, role: read, token_sha256: " << sha256_hex(kReader) << "}\n"
      << "  - {name: sam, role: submit, token_sha256: " << sha256_hex(kSubmitter) << "}\n"
      << "  - {name: ada, role: admin, token_sha256: " << sha256_hex(kAdmin) << "}\n";
  std::ofstream(dir / "worker.token") << kWorker << "\n";
  auto ac = AccessControl::load(dir / "tokens.yaml", dir / "worker.token");
  REQUIRE(ac.ok());
  return std::move(*ac);
}

http::Response call_as(Master& m, const std::string& method, const std::string& pattern,
                       const std::string& token) {
  // Path parameters filled with plausible values; the handler may answer 4xx, never before the guard.
  std::string path = std::regex_replace(pattern, std::regex(R"(\{[a-z_]+\})"), "x1");
  http::Request req;
  req.method = method;
  req.path = path;
  req.remote = "127.0.0.1:9";
  if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
  std::optional<http::Response> out;
  m.router.dispatch(req, [&out](http::Response r) { out = std::move(r); });
  m.reactor.run_ready();
  if (!out) m.reactor.fire_timers();  // a long poll that waits: let it time out
  REQUIRE(out.has_value());
  return *out;
}

bool denied(const http::Response& r) { return r.status == 401 || r.status == 403; }

}  // namespace

TEST_CASE("route audit: every route needs a token of its role and the worker token only opens the worker protocol", "[component][auth]") {
  TempDir tmp;
  Master m(tmp.path / "master");
  AccessControl access = make_access(tmp.path);
  m.router.guard([&access](http::Request& req, const std::string& method, const std::string& pattern) {
    return access.check(req, method, pattern);
  });
  const std::map<Access, std::string> token_of = {
      {Access::read, kReader}, {Access::submit, kSubmitter}, {Access::admin, kAdmin}, {Access::worker, kWorker}};
  int audited = 0;
  for (const auto& [method, pattern] : m.router.routes()) {
    INFO(method << " " << pattern);
    std::optional<Access> need = route_access(method, pattern);
    REQUIRE(need.has_value());  // a route without a rule would be refused to everybody
    ++audited;
    if (*need == Access::open) {
      CHECK(method == "GET");
      CHECK_FALSE(denied(call_as(m, method, pattern, "")));
      continue;
    }
    // What reads data needs read at least; what changes state needs more.
    if (method != "GET") CHECK(*need != Access::read);
    auto anonymous = call_as(m, method, pattern, "");
    CHECK(anonymous.status == 401);
    CHECK(anonymous.header("WWW-Authenticate") == "Bearer");
    CHECK(call_as(m, method, pattern, std::string(32, 'x')).status == 401);
    for (const auto& [role, token] : token_of) {
      auto r = call_as(m, method, pattern, token);
      INFO("as " << to_string(role) << ": " << r.status << " " << r.body);
      const bool enough = *need == Access::worker
                              ? role == Access::worker
                              : role != Access::worker && static_cast<int>(role) >= static_cast<int>(*need);
      if (enough) {
        CHECK_FALSE(denied(r));
      } else {
        CHECK(r.status == 403);
      }
    }
  }
  CHECK(audited >= 25);
}

TEST_CASE("a route missing from the access table is refused even to admins", "[component][auth]") {
  TempDir tmp;
  AccessControl access = make_access(tmp.path);
  http::Request req;
  req.headers.emplace_back("Authorization", "Bearer " + kAdmin);
  auto denied_err = access.check(req, "DELETE", "/api/v1/jobs/{job}");
  REQUIRE(denied_err.has_value());
  CHECK(denied_err->code == ErrorCode::forbidden);
  // Without auth configured, the same fail-closed rule holds.
  AccessControl off;
  http::Request anon;
  CHECK(off.check(anon, "DELETE", "/api/v1/jobs/{job}").has_value());
  CHECK_FALSE(off.check(anon, "POST", "/api/v1/jobs").has_value());
}

TEST_CASE("tokens files are checked and errors name the entry", "[auth]") {
  const std::string hash = sha256_hex("t");
  CHECK(AccessControl::parse_users("users:\n  - {name: a, role: admin, token_sha256: " + hash + "}\n").ok());
  auto err = [](const std::string& yaml) {
    auto r = AccessControl::parse_users(yaml);
    REQUIRE_FALSE(r.ok());
    return r.error().field + ": " + r.error().message;
  };
  CHECK_THAT(err("users: 3"), Catch::StartsWith("auth.tokens_file"));
  CHECK_THAT(err("users:\n  - {name: a, role: root, token_sha256: " + hash + "}\n"),
             Catch::StartsWith("auth.tokens_file: users[0].role"));
  CHECK_THAT(err("users:\n  - {name: a, role: read, token_sha256: abc}\n"),
             Catch::StartsWith("auth.tokens_file: users[0].token_sha256"));
  CHECK_THAT(err("users:\n  - {role: read, token_sha256: " + hash + "}\n"),
             Catch::StartsWith("auth.tokens_file: users[0].name"));
  CHECK_THAT(err("users:\n  - {name: a, role: read, token_sha256: " + hash + "}\n"
                 "  - {name: b, role: read, token_sha256: " + hash + "}\n"),
             Catch::Contains("two users share"));
  CHECK_THAT(err("users:\n  - {name: a, role: read, token: x, token_sha256: " + hash + "}\n"),
             Catch::Contains("unknown key token"));
  CHECK_THAT(err("users: [\n"), Catch::Contains("not YAML"));
}
