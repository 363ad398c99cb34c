#include "master/init.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

#include "common/fs/fs.hpp"
#include "master/api/access.hpp"

namespace drover::master {

namespace {

// Creates `path` with `mode`, failing if it exists (O_EXCL).
Status create_new(const std::filesystem::path& path, const std::string& content, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::io, fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", path.string(), std::strerror(err)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
  }
  return ok_status();
}

bool is_ip_literal(const std::string& s) {
  return !s.empty() && (s.find(':') != std::string::npos ||
                        s.find_first_not_of("0123456789.") == std::string::npos);
}

// PEM of a certificate for `hosts` signed by its own new P-256 key, and of the key.
Result<std::pair<std::string, std::string>> self_signed(const std::vector<std::string>& hosts) {
  auto fail = [](const char* what) {
    return make_error(ErrorCode::internal, fmt::format("cannot make the TLS certificate: {}", what));
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) return fail("out of memory");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return fail("no randomness");
  serial[0] &= 0x7f;  // positive
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(BN_bin2bn(serial, sizeof serial, nullptr), BN_free);
  X509_set_version(cert.get(), 2);
  if (!bn || !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()))) return fail("serial");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(hosts.front().c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  std::string san;
  for (const std::string& h : hosts) {
    san += (san.empty() ? "" : ",") + std::string(is_ip_literal(h) ? "IP:" : "DNS:") + h;
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair<int, std::string>{NID_subject_alt_name, san},
                            {NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) return fail("bad host name");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return fail("signing");
  auto pem = [](auto write) -> std::string {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || !write(bio.get())) return "";
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  std::string cert_pem = pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; });
  std::string key_pem = pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  if (cert_pem.empty() || key_pem.empty()) return fail("PEM encoding");
  return std::make_pair(cert_pem, key_pem);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

}  // namespace

std::string init_usage() {
  return "usage: drover-master init [--config-dir DIR] [--data-dir DIR] [--listen HOST:PORT]\n"
         "                          [--host NAME]... [--master-url URL] [--no-tls]\n"
         "Writes DIR/master.yaml, DIR/tokens.yaml (an admin user), DIR/worker.token,\n"
         "DIR/tls.crt and DIR/tls.key (a self-signed certificate for the --host names, this\n"
         "host's name by default, plus localhost and 127.0.0.1) and DIR/worker.yaml\n"
         "(default DIR /etc/drover), and prints the admin and worker tokens once.\n";
}

Result<InitOptions> parse_init_args(const std::vector<std::string>& args) {
  InitOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* key) -> Result<std::string> {
      if (i + 1 >= args.size()) return make_error(ErrorCode::invalid_argument, "needs a value", key);
      return args[++i];
    };
    Result<std::string> v = std::string();
    if (a == "--config-dir") {
      if (!(v = value("config-dir")).ok()) return v.error();
      o.config_dir = *v;
    } else if (a == "--data-dir") {
      if (!(v = value("data-dir")).ok()) return v.error();
      o.data_dir = *v;
    } else if (a == "--listen") {
      if (!(v = value("listen")).ok()) return v.error();
      o.listen = *v;
    } else if (a == "--master-url") {
      if (!(v = value("master-url")).ok()) return v.error();
      o.master_url = *v;
    } else if (a == "--host") {
      if (!(v = value("host")).ok()) return v.error();
      o.hosts.push_back(*v);
    } else if (a == "--no-tls") {
      o.tls = false;
    } else {
      return make_error(ErrorCode::invalid_argument, fmt::format("unknown argument {}", a), "init");
    }
  }
  if (o.hosts.empty()) o.hosts.push_back(host_name());
  for (const char* local : {"localhost", "127.0.0.1"}) {
    if (std::find(o.hosts.begin(), o.hosts.end(), local) == o.hosts.end()) o.hosts.push_back(local);
  }
  if (o.master_url.empty()) {
    o.master_url = fmt::format("{}://{}:{}", o.tls ? "https" : "http", o.hosts.front(),
                               o.listen.substr(o.listen.rfind(':') + 1));
  }
  return o;
}

Result<std::string> run_init(const InitOptions& o) {
  const auto& dir = o.config_dir;
  const std::filesystem::path master_yaml = dir / "master.yaml", tokens = dir / "tokens.yaml",
                              worker_token = dir / "worker.token", worker_yaml = dir / "worker.yaml",
                              cert = dir / "tls.crt", key = dir / "tls.key";
  for (const auto& p : {master_yaml, tokens, worker_token, worker_yaml, cert, key}) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("{} exists: init writes a fresh configuration and overwrites "
                                    "nothing (move it away or pass --config-dir)", p.string()),
                        "config-dir");
    }
  }
  DROVER_TRY(make_dirs(dir));
  auto admin = new_token();
  if (!admin.ok()) return admin.error();
  auto worker = new_token();
  if (!worker.ok()) return worker.error();

  DROVER_TRY(create_new(tokens, fmt::format(
      "# drover users: name, role (read < submit < admin) and the SHA-256 of their token.\n"
      "# Add one: T=$(openssl rand -hex 32); printf %s \"$T\" | sha256sum; give T to the user.\n"
      "users:\n  - {{name: admin, role: admin, token_sha256: {}}}\n", sha256_hex(*admin)), 0600));
  DROVER_TRY(create_new(worker_token, *worker + "\n", 0600));
  const std::string abs_cert = std::filesystem::absolute(cert).string();
  std::string master_tls, worker_tls, cli_ca;
  if (o.tls) {
    auto pair = self_signed(o.hosts);
    if (!pair.ok()) return pair.error();
    DROVER_TRY(create_new(cert, pair->first, 0644));
    DROVER_TRY(create_new(key, pair->second, 0600));
    master_tls = fmt::format("tls:\n  cert: {}\n  key: {}\n", abs_cert,
                             std::filesystem::absolute(key).string());
    worker_tls = fmt::format("ca_file: {}\n", abs_cert);
    cli_ca = fmt::format(" --ca {}", abs_cert);
  }
  DROVER_TRY(create_new(master_yaml, fmt::format(
      "# Written by drover-master init. See the README for every key.\n"
      "listen: {}\ndata_dir: {}\nauth:\n  tokens_file: {}\n  worker_token_file: {}\n{}",
      o.listen, o.data_dir, std::filesystem::absolute(tokens).string(),
      std::filesystem::absolute(worker_token).string(), master_tls), 0644));
  DROVER_TRY(create_new(worker_yaml, fmt::format(
      "# Written by drover-master init: copy it, worker.token (mode 0600){} to each worker.\n"
      "master: {}\ntoken_file: {}\n{}",
      o.tls ? " and tls.crt" : "", o.master_url, std::filesystem::absolute(worker_token).string(),
      worker_tls), 0644));

  return fmt::format(
      "wrote {0}/master.yaml, {0}/tokens.yaml, {0}/worker.token{4} and {0}/worker.yaml\n"
      "admin token (shown only now; tokens.yaml keeps its hash):\n  {1}\n"
      "worker token (also in {0}/worker.token; copy it with worker.yaml to each worker):\n  {2}\n"
      "start the master:  drover-master --config {0}/master.yaml\n"
      "use the CLI:       DROVER_TOKEN={1} drover --master {3}{5} status\n",
      dir.string(), *admin, *worker, o.master_url, o.tls ? ", tls.crt, tls.key" : "", cli_ca);
}

}  // namespace drover::master
