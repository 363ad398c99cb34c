#pragma once
// TLS contexts for the Server and the Client (OpenSSL through Boost.Asio),
// and readable descriptions of TLS failures. Internal to common/http: only
// files here include it, so Asio's SSL headers stay out of domain code.
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>

#include "common/base/result.hpp"

namespace drover::http {

// A server context (TLS 1.2 and later, no session tickets) with the
// certificate chain and private key read from PEM files. Errors name the
// config key of the file at fault: `tls.cert` or `tls.key`.
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(
    const std::string& cert_file, const std::string& key_file);

// A client context (TLS 1.2 and later) that verifies peers against `ca_file`
// when given, else against the system's default CA paths.
[[nodiscard]] Result<std::shared_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file);

// True when `ec` is a TLS handshake failure because the peer's certificate
// could not be verified.
bool is_verify_failure(const boost::system::error_code& ec);

// "error:0A000086:SSL routines::certificate verify failed" -> something a user can act on;
// `verify_result` is SSL_get_verify_result() of the failed connection.
std::string describe_verify_failure(long verify_result);

}  // namespace drover::http
