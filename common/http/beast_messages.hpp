#pragma once
// Between Beast's messages and ours: a parsed request as a Request, a
// Response as Beast's, and the parsing of bytes a connection already holds.
// Included by server.cpp only.
#include <cstddef>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "common/http/http.hpp"

namespace drover::http::detail {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;
using BeastResponse = boost::beast::http::response<boost::beast::http::string_body>;
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

Request to_request(BeastRequest&& req, const std::string& remote);
BeastResponse to_beast(Response response, unsigned version, bool keep_alive);

// Feeds the parser what `buffer` already holds, one element (the header, or
// body bytes) at a time as Beast's own reads do, and returns the bytes it
// used. `ec` is need_more when the next element is not all there yet (a
// header is only parsed whole), or the parse error.
std::size_t parse_buffered(RequestParser& parser, boost::beast::flat_buffer& buffer,
                           boost::system::error_code& ec);

// Whether `ec` comes from the HTTP parser (a malformed or truncated request).
bool is_parse_error(const boost::system::error_code& ec);

}  // namespace drover::http::detail
