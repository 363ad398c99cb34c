#pragma once
// Between Beast's messages and ours: a parsed request as a Request, a
// Response's head as bytes, and the parsing of bytes a connection already holds.
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
using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

Request to_request(BeastRequest&& req, const std::string& remote);

// The status line and header of `response` as HTTP/1.x bytes, through the
// blank line; its body follows them unchanged. Content-Length is always set
// (none for 1xx, 204 and 304, which send no body); Connection says close on
// HTTP/1.1, keep-alive on HTTP/1.0, when that is not the version's default.
// A header whose name or value could end the line early is left out.
std::string response_head(const Response& response, unsigned version, bool keep_alive);
// Whether a response with this status carries a body (one outside 100-999
// goes out as a 500, with its body).
bool has_body(int status);

// Feeds the parser what `buffer` already holds, one element (the header, or
// body bytes) at a time as Beast's own reads do, and returns the bytes it
// used. `ec` is need_more when the next element is not all there yet (a
// header is only parsed whole), or the parse error.
std::size_t parse_buffered(RequestParser& parser, boost::beast::flat_buffer& buffer,
                           boost::system::error_code& ec);

// Whether `ec` comes from the HTTP parser (a malformed or truncated request).
bool is_parse_error(const boost::system::error_code& ec);

}  // namespace drover::http::detail
