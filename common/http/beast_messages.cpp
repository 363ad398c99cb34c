#include "common/http/beast_messages.hpp"

#include <iterator>
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <fmt/format.h>

namespace drover::http::detail {

namespace bhttp = boost::beast::http;

Request to_request(BeastRequest&& req, const std::string& remote) {
  Request request;
  request.method = std::string(req.method_string());
  split_target(req.target(), request.path, request.query);
  request.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
  for (const auto& field : req) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(req.body());
  request.remote = remote;
  return request;
}

namespace {

// What goes on the wire: a status outside 100-999 is sent as a 500.
int wire_status(int status) { return status >= 100 && status <= 999 ? status : 500; }

// Whether `text` can go into a header line as it is.
bool fits_a_line(std::string_view text) {
  return text.find('\r') == std::string_view::npos && text.find('\n') == std::string_view::npos;
}

void add_field(std::string& head, std::string_view name, std::string_view value) {
  if (name.empty() || name.find(':') != std::string_view::npos || !fits_a_line(name) || !fits_a_line(value)) {
    return;
  }
  head.append(name);
  head.append(": ", 2);
  head.append(value);
  head.append("\r\n", 2);
}

}  // namespace

bool has_body(int status) {
  status = wire_status(status);
  return status >= 200 && status != 204 && status != 304;
}

std::string response_head(const Response& response, unsigned version, bool keep_alive) {
  const int status = wire_status(response.status);
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(status));
  std::string head;
  head.reserve(80 + response.content_type.size() + response.headers.size() * 64);
  head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
  head.append(fmt::format_int(status).c_str(), 3);
  head.push_back(' ');
  head.append(reason.data(), reason.size());
  head.append("\r\n", 2);
  if (!response.content_type.empty()) add_field(head, "Content-Type", response.content_type);
  for (const auto& [name, value] : response.headers) add_field(head, name, value);
  if (has_body(status)) {
    const fmt::format_int length(response.body.size());
    add_field(head, "Content-Length", std::string_view(length.data(), length.size()));
  }
  if (version == 10 && keep_alive) add_field(head, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) add_field(head, "Connection", "close");
  head.append("\r\n", 2);
  return head;
}

std::size_t parse_buffered(RequestParser& parser, boost::beast::flat_buffer& buffer,
                           boost::system::error_code& ec) {
  ec = {};
  std::size_t used = buffer.size() > 0 ? parser.put(buffer.data(), ec) : 0;
  buffer.consume(used);
  if (!ec && used == 0 && !parser.is_done()) ec = bhttp::error::need_more;
  return used;
}

bool is_parse_error(const boost::system::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category();
}

}  // namespace drover::http::detail
