// Authentication against real binaries: `drover-master init` writes a secure
// configuration; the master asks every API and worker-protocol call for a
// token of the right role; workers need the workers' token, and their log
// servers answer only the master.
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <fstream>

#include "common/fs/fs.hpp"
#include "common/http/client.hpp"
#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// The line after the one that starts with `label` in init's output, trimmed.
std::string token_after(const std::string& out, const std::string& label) {
  auto lines = lines_of(out);
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    if (lines[i].rfind(label, 0) == 0) {
      std::string t = lines[i + 1];
      t.erase(0, t.find_first_not_of(' '));
      return t;
    }
  }
  return "";
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

http::Client client_with(const Cluster& c, const std::string& token, const fs::path& ca) {
  http::ClientOptions o;
  o.bearer_token = token;
  o.ca_file = ca.string();
  return http::Client(c.url(), o);
}

int status_of(http::Client client, const std::string& method, const std::string& target,
              std::string body = {}) {
  auto r = client.request(method, target, std::move(body), "application/json");
  REQUIRE(r.ok());
  return r->status;
}

}  // namespace

TEST_CASE("drover-master init writes a secure configuration and the master enforces tokens and roles over TLS", "[integration][auth]") {
  TempDir tmp;
  const fs::path etc = tmp.path / "etc";
  auto init = run_command({binary("drover-master").string(), "init", "--config-dir", etc.string(),
                           "--data-dir", (tmp.path / "data").string(), "--listen", "127.0.0.1:0"},
                          30s, tmp.path);
  INFO(init.out << init.err);
  REQUIRE(init.exit_code == 0);
  const std::string admin = token_after(init.out, "admin token");
  const std::string worker_token = token_after(init.out, "worker token");
  REQUIRE(admin.size() == 64);
  REQUIRE(worker_token.size() == 64);
  CHECK(mode_of(etc / "tokens.yaml") == 0600);
  CHECK(mode_of(etc / "worker.token") == 0600);
  CHECK(mode_of(etc / "tls.key") == 0600);
  const fs::path ca = etc / "tls.crt";  // self-signed: the clients' trust anchor
  const std::string tokens_yaml = read_text(etc / "tokens.yaml");
  CHECK_THAT(tokens_yaml, Catch::Contains(sha256_hex(admin)));
  CHECK_THAT(tokens_yaml, !Catch::Contains(admin));  // only the hash is kept
  CHECK(first_line(read_text(etc / "worker.token")) == worker_token);
  // A second init overwrites nothing.
  auto again = run_command({binary("drover-master").string(), "init", "--config-dir", etc.string()},
                           30s, tmp.path);
  CHECK(again.exit_code == 2);
  CHECK_THAT(again.err, Catch::Contains("exists"));
  CHECK(read_text(etc / "tokens.yaml") == tokens_yaml);

  // A read-only user and a submitter, added the way the file's comment says.
  const std::string reader = std::string(40, 'r'), submitter = std::string(40, 's');
  std::ofstream(etc / "tokens.yaml", std::ios::app)
      << "  - {name: rita, role: read, token_sha256: " << sha256_hex(reader) << "}\n"
      << "  - {name: sam, role: submit, token_sha256: " << sha256_hex(submitter) << "}\n";

  Cluster c(tmp.path / "cluster", {"--config", (etc / "master.yaml").string()});
  c.use_tls(ca);
  c.start_worker("w1", 2, {"--token-file", (etc / "worker.token").string()});
  c.start_worker("intruder", 2);  // no token: never registers
  http::Client as_admin = client_with(c, admin, ca);
  REQUIRE(wait_until([&] {
    auto w = as_admin.get_json("/api/v1/workers");
    return w.ok() && (*w)["workers"].size() == 1 && (*w)["workers"][0]["state"] == "alive";
  }, 20s));
  CHECK(wait_until([&] { return c.worker("intruder")->log().find("token_file must hold") != std::string::npos &&
                                c.worker("intruder")->log().find("unauthorized") != std::string::npos; },
                   20s));

  // Probes and the page need no token; data and changes do.
  CHECK(status_of(client_with(c, "", ca), "GET", "/healthz") == 200);
  CHECK(status_of(client_with(c, "", ca), "GET", "/") == 200);
  auto anon = client_with(c, "", ca).get("/api/v1/jobs");
  REQUIRE(anon.ok());
  CHECK(anon->status == 401);
  CHECK(anon->header("WWW-Authenticate") == "Bearer");
  CHECK(status_of(client_with(c, "wrong-token-0123456789", ca), "GET", "/api/v1/jobs") == 401);
  CHECK(status_of(client_with(c, worker_token, ca), "GET", "/api/v1/jobs") == 403);
  CHECK(status_of(client_with(c, reader, ca), "GET", "/api/v1/jobs") == 200);
  CHECK(status_of(client_with(c, reader, ca), "POST", "/api/v1/jobs/j-000001/cancel") == 403);
  CHECK(status_of(client_with(c, submitter, ca), "POST", "/api/v1/workers/w1/drain") == 403);
  CHECK(status_of(client_with(c, admin, ca), "POST", "/internal/v1/workers/register", "{}") == 403);

  // Tokens never travel in clear: the API port speaks only TLS.
  auto plain = http::Client("http://" + c.url().substr(std::string("https://").size())).get("/healthz");
  CHECK((!plain.ok() || plain->status == 400));
  // The CLI: exit 3 without a token or with too low a role; the job records its submitter.
  auto bundle = write_bundle(tmp.path / "b", R"(name: secured
stages:
  - name: s
    command: ["sh", "-c", "echo hello {index}; sleep 1"]
    inputs: {range: 2}
)");
  auto no_token = c.cli({"submit", bundle.string()});
  CHECK(no_token.exit_code == 3);
  CHECK_THAT(no_token.err, Catch::Contains("token"));
  auto read_only = c.cli({"submit", bundle.string(), "--token", reader});
  CHECK(read_only.exit_code == 3);
  CHECK_THAT(read_only.err, Catch::Contains("submit role"));
  auto submitted = c.cli({"submit", bundle.string(), "--token", submitter});
  INFO(submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::string job = first_line(submitted.out);
  // A running attempt's log comes from the worker, whose log server asks for
  // the token the worker gave the master at registration.
  REQUIRE(wait_until([&] {
    auto r = as_admin.get("/api/v1/jobs/" + job + "/tasks/s/0/logs");
    return r.ok() && r->status == 200 && r->body.find("hello 0") != std::string::npos;
  }, 20s));
  auto workers = as_admin.get_json("/api/v1/workers");
  REQUIRE(workers.ok());
  const std::string worker_address = (*workers)["workers"][0]["address"];
  auto direct = http::Client("http://" + worker_address).get("/internal/v1/attempts/1/logs");
  REQUIRE(direct.ok());
  CHECK(direct->status == 401);
  // Not even with the workers' shared token: the master never sends it to a
  // worker's (plain HTTP) log server, so it cannot be read off that link.
  http::ClientOptions with_worker_token;
  with_worker_token.bearer_token = worker_token;
  auto shared = http::Client("http://" + worker_address, with_worker_token)
                    .get("/internal/v1/attempts/1/logs");
  REQUIRE(shared.ok());
  CHECK(shared->status == 401);
  CHECK(c.cli({"wait", job, "--token", reader}).exit_code == 0);
  auto info = as_admin.get_json("/api/v1/jobs/" + job);
  REQUIRE(info.ok());
  CHECK((*info)["user"] == "sam");
  CHECK((*info)["source"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK((*info)["bundle_digest"].get<std::string>().size() == 64);
}

TEST_CASE("without auth the master refuses a non-loopback address unless --insecure", "[integration][auth]") {
  TempDir tmp;
  auto refused = run_command({binary("drover-master").string(), "--listen", "192.0.2.1:7070",
                              "--data-dir", (tmp.path / "d").string()},
                             30s, tmp.path);
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("--insecure"));
  // Half an auth configuration is refused too, naming the missing key.
  std::ofstream(tmp.path / "tokens.yaml") << "users: []\n";
  auto half = run_command({binary("drover-master").string(), "--auth-tokens-file",
                           (tmp.path / "tokens.yaml").string(), "--data-dir", (tmp.path / "d").string()},
                          30s, tmp.path);
  CHECK(half.exit_code == 2);
  CHECK_THAT(half.err, Catch::Contains("auth.worker_token_file"));
}
