#include "common/http/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>

#include <boost/asio/ssl/error.hpp>
#include <fmt/format.h>

namespace drover::http {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

Error file_error(const std::string& key, const std::string& file, const std::string& why) {
  return make_error(ErrorCode::invalid_argument, fmt::format("{} {}: {}", key, file, why), key);
}

bool readable(const std::string& file) {
  std::ifstream in(file);
  return static_cast<bool>(in);
}

std::string openssl_reason(const error_code& ec) {
  std::string text = ec.message();
  return text.empty() ? "not valid PEM" : text;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                              const std::string& key_file) {
  if (!readable(cert_file)) return file_error("tls.cert", cert_file, "cannot read the file");
  if (!readable(key_file)) return file_error("tls.key", key_file, "cannot read the file");
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use,
                   ec);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // No resumption: a ticket sent after the handshake would sit unread in an
  // idle client's socket, which then looks like a connection the server ended.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(native, 0);
  if (ctx->use_certificate_chain_file(cert_file, ec); ec) {
    return file_error("tls.cert", cert_file, "not a PEM certificate chain (" + openssl_reason(ec) + ")");
  }
  if (ctx->use_private_key_file(key_file, ssl::context::pem, ec); ec) {
    return file_error("tls.key", key_file, "not a PEM private key (" + openssl_reason(ec) + ")");
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return file_error("tls.key", key_file, "does not match the certificate in tls.cert");
  }
  return ctx;
}

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty()) {
    if (ctx->set_default_verify_paths(ec); ec) {
      return make_error(ErrorCode::unavailable, "cannot load the system CA certificates: " + ec.message());
    }
  } else {
    if (!readable(ca_file)) {
      return make_error(ErrorCode::invalid_argument, "cannot read the CA file " + ca_file, "ca");
    }
    if (ctx->load_verify_file(ca_file, ec); ec) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("CA file {} holds no PEM certificate ({})", ca_file, openssl_reason(ec)),
                        "ca");
    }
  }
  return ctx;
}

bool is_verify_failure(const error_code& ec) {
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

std::string describe_verify_failure(long verify_result) {
  const char* why = X509_verify_cert_error_string(verify_result);
  return fmt::format("the server's TLS certificate could not be verified ({}); if the master uses a "
                     "private CA, pass its certificate with --ca FILE (worker: ca_file)",
                     why ? why : "unknown reason");
}

}  // namespace drover::http
