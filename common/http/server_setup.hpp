#pragma once
// What a Server does before it accepts: resolve its listen address and make
// room for its connections in the open-file limit. Used by server.cpp only.
#include <cstddef>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "common/base/result.hpp"

namespace drover::http {

// "host:port" ([v6] allowed, empty host = any) as an endpoint; invalid_argument otherwise.
Result<boost::asio::ip::tcp::endpoint> parse_listen(boost::asio::io_context& context,
                                                   const std::string& listen);

// Raises the soft RLIMIT_NOFILE toward the hard one when it is below
// max_connections plus a reserve for files, the store and clients, and returns
// how many connections fit: max_connections, or fewer (logged) when the limit
// cannot make room for them all, so that the server refuses connections
// before accept() runs out of descriptors.
std::size_t raise_descriptor_limit(std::size_t max_connections);

}  // namespace drover::http
