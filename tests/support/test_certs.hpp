#pragma once
// A private CA and server certificates made with the openssl CLI, for TLS
// tests. Every command is bounded (run_command).
#include <filesystem>
#include <string>

namespace drover::test {

struct TestCerts {
  std::filesystem::path ca;    // the CA certificate (PEM): what clients trust
  std::filesystem::path cert;  // server certificate signed by the CA (PEM)
  std::filesystem::path key;   // its private key (PEM)
};

// Makes (once per dir) a CA in `dir` and a server certificate signed by it
// whose subjectAltName is `san` ("IP:127.0.0.1,DNS:localhost"), named `name`.
// REQUIREs that openssl succeeds.
TestCerts make_test_certs(const std::filesystem::path& dir, const std::string& name,
                          const std::string& san);

}  // namespace drover::test
