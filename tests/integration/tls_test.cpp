// TLS end to end (SPEC §8): a master started with tls.cert/tls.key, a worker
// and the CLI that trust a private CA, and clients that refuse what they
// cannot verify. Certificates are made with the openssl CLI in a temp dir.
#include <catch2/catch.hpp>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"
#include "tests/support/test_certs.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> tls_flags(const TestCerts& certs) {
  return {"--tls-cert", certs.cert.string(), "--tls-key", certs.key.string()};
}

http::ClientOptions trusting(const fs::path& ca) {
  http::ClientOptions options;
  options.timeout = 10s;
  options.ca_file = ca.string();
  return options;
}

std::string host_port(const std::string& url) { return url.substr(url.find("://") + 3); }

}  // namespace

TEST_CASE("over TLS a worker and the CLI that trust the CA run a job", "[integration][tls]") {
  TempDir tmp;
  TestCerts certs = make_test_certs(tmp.path / "pki", "server", "IP:127.0.0.1,DNS:localhost");
  Cluster c(tmp.path, tls_flags(certs));
  c.use_tls(certs.ca);
  REQUIRE(c.url().starts_with("https://127.0.0.1:"));
  c.start_worker("w1", 2);
  REQUIRE(c.wait_workers_alive(1));

  auto bundle = write_bundle(tmp.path / "bundle", R"(name: tls
stages:
  - name: hello
    command: ["sh", "-c", "echo hello $DROVER_TASK_INDEX > $DROVER_OUTPUT_DIR/out"]
    inputs: {range: 3}
)");
  auto sub = c.cli({"submit", bundle.string(), "--wait"}, 120s);
  INFO(sub.err);
  REQUIRE(sub.exit_code == 0);
  std::string id = first_line(sub.out);
  CHECK(c.get("/api/v1/jobs/" + id)["state"] == "succeeded");
  auto out = c.cli({"output", id, "--to", (tmp.path / "out").string()});
  INFO(out.err);
  REQUIRE(out.exit_code == 0);
  CHECK(read_text(tmp.path / "out" / "hello" / "2" / "out") == "hello 2\n");

  // The host name in the certificate works too (SNI + DNS name check).
  std::string port = c.url().substr(c.url().rfind(':') + 1);
  http::Client by_name("https://localhost:" + port, trusting(certs.ca));
  auto named = by_name.get("/healthz");
  INFO((named.ok() ? "" : named.error().describe()));
  REQUIRE(named.ok());
  CHECK(named->status == 200);
}

TEST_CASE("the CLI without --ca cannot verify a private CA and exits 3", "[integration][tls]") {
  TempDir tmp;
  TestCerts certs = make_test_certs(tmp.path / "pki", "server", "IP:127.0.0.1,DNS:localhost");
  Cluster c(tmp.path, tls_flags(certs));
  c.use_tls(certs.ca);
  auto r = run_command({binary("drover").string(), "--master", c.url(), "status"}, 60s, tmp.path);
  INFO(r.err);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.err, Catch::Contains("certificate could not be verified"));
  CHECK_THAT(r.err, Catch::Contains("--ca"));

  // With --ca the same command works (Cluster::cli adds it).
  auto ok = c.cli({"status"}, 60s);
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
}

TEST_CASE("plain HTTP to the TLS port is answered 400 and the master keeps serving",
          "[integration][tls]") {
  TempDir tmp;
  TestCerts certs = make_test_certs(tmp.path / "pki", "server", "IP:127.0.0.1,DNS:localhost");
  Cluster c(tmp.path, tls_flags(certs));
  c.use_tls(certs.ca);
  http::ClientOptions quick;
  quick.timeout = 10s;
  for (int i = 0; i < 3; ++i) {
    http::Client plain("http://" + host_port(c.url()), quick);
    auto r = plain.get("/healthz");
    INFO((r.ok() ? r->body : r.error().describe()));
    REQUIRE(r.ok());
    CHECK(r->status == 400);
    CHECK_THAT(r->body, Catch::Contains("https://"));
  }
  auto healthy = c.client().get("/healthz");
  INFO((healthy.ok() ? "" : healthy.error().describe()));
  REQUIRE(healthy.ok());
  CHECK(healthy->status == 200);
  REQUIRE(c.master()->running());
}

TEST_CASE("a certificate for another host name is refused by the client", "[integration][tls]") {
  TempDir tmp;
  TestCerts certs = make_test_certs(tmp.path / "pki", "elsewhere", "DNS:elsewhere.example");
  Cluster c(tmp.path, tls_flags(certs));
  c.use_tls(certs.ca);
  std::string port = c.url().substr(c.url().rfind(':') + 1);
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    INFO(host);
    http::Client client("https://" + host + ":" + port, trusting(certs.ca));
    auto r = client.get("/healthz");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::unavailable);
    CHECK_THAT(r.error().message, Catch::Contains("certificate could not be verified"));
    CHECK_THAT(r.error().message, Catch::Contains("mismatch"));
  }
  auto cli = run_command({binary("drover").string(), "--master", c.url(), "--ca", certs.ca.string(),
                          "status"},
                         60s, tmp.path);
  INFO(cli.err);
  CHECK(cli.exit_code == 3);
}

TEST_CASE("the master refuses half a TLS config or an unreadable file with exit 2",
          "[integration][tls]") {
  TempDir tmp;
  TestCerts certs = make_test_certs(tmp.path / "pki", "server", "IP:127.0.0.1");
  const std::string master = binary("drover-master").string();
  const std::string data = (tmp.path / "data").string();
  auto only_cert = run_command({master, "--data-dir", data, "--listen", "127.0.0.1:0", "--tls-cert",
                                certs.cert.string()},
                               30s, tmp.path);
  CHECK(only_cert.exit_code == 2);
  CHECK_THAT(only_cert.err, Catch::Contains("tls.key"));
  auto missing = run_command({master, "--data-dir", data, "--listen", "127.0.0.1:0", "--tls-cert",
                              (tmp.path / "nope.pem").string(), "--tls-key", certs.key.string()},
                             30s, tmp.path);
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("tls.cert"));
}
