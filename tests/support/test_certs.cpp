#include "tests/support/test_certs.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>

#include "tests/support/support.hpp"

namespace drover::test {

namespace {

void openssl(const std::vector<std::string>& args, const fs::path& dir) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  CliResult r = run_command(argv, std::chrono::seconds(30), dir);
  INFO("openssl " << args.front() << ": " << r.err);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

TestCerts make_test_certs(const fs::path& dir, const std::string& name, const std::string& san) {
  fs::create_directories(dir);
  TestCerts certs{dir / "ca.pem", dir / (name + ".pem"), dir / (name + ".key")};
  const fs::path ca_key = dir / "ca.key";
  if (!fs::exists(certs.ca)) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_key.string(), "-out", certs.ca.string(), "-days", "2", "-subj",
             "/CN=drover test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"},
            dir);
  }
  const fs::path csr = dir / (name + ".csr");
  const fs::path ext = dir / (name + ".ext");
  std::ofstream(ext) << "subjectAltName=" << san
                     << "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           certs.key.string(), "-out", csr.string(), "-subj", "/CN=" + name},
          dir);
  openssl({"x509", "-req", "-in", csr.string(), "-CA", certs.ca.string(), "-CAkey", ca_key.string(),
           "-set_serial", std::to_string(2 + std::hash<std::string>{}(name) % 1000000), "-days", "2", "-out", certs.cert.string(), "-extfile", ext.string()},
          dir);
  return certs;
}

}  // namespace drover::test
