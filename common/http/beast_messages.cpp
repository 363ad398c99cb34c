#include "common/http/beast_messages.hpp"

#include <iterator>

#include <boost/beast/http/error.hpp>

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

BeastResponse to_beast(Response response, unsigned version, bool keep_alive) {
  BeastResponse res;
  res.version(version);
  res.result(response.status >= 100 && response.status <= 999 ? response.status : 500);
  if (!response.content_type.empty()) res.set(bhttp::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) res.insert(name, value);
  res.body() = std::move(response.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
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
