#include <string>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>

#include "common/http/beast_messages.hpp"

using drover::http::Response;
using drover::http::detail::has_body;
using drover::http::detail::response_head;
namespace bhttp = boost::beast::http;

namespace {

// Beast's own parser reads head + body back: the bytes are a valid response.
bhttp::response<bhttp::string_body> parse_back(const std::string& bytes) {
  bhttp::response_parser<bhttp::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::buffer(bytes), ec);
  REQUIRE_FALSE(ec);
  REQUIRE(used == bytes.size());
  REQUIRE(parser.is_done());
  return parser.release();
}

}  // namespace

TEST_CASE("a response head: status line, content type, the handler's headers, content length") {
  Response r = Response::text(201, R"({"id":"j-1"})", "application/json");
  r.headers.emplace_back("Location", "/api/v1/jobs/j-1");
  r.headers.emplace_back("X-Drover-Attempt", "2");
  const std::string head = response_head(r, 11, true);
  CHECK(head ==
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /api/v1/jobs/j-1\r\n"
        "X-Drover-Attempt: 2\r\nContent-Length: 12\r\n\r\n");
  auto back = parse_back(head + r.body);
  CHECK(back.result_int() == 201);
  CHECK(back.body() == r.body);
  CHECK(back[bhttp::field::location] == "/api/v1/jobs/j-1");
  CHECK(back.keep_alive());
}

TEST_CASE("a response head says Connection only where the version's default differs") {
  const Response r = Response::text(200, "ok");
  CHECK(response_head(r, 11, false).find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(response_head(r, 11, true).find("Connection") == std::string::npos);
  CHECK(response_head(r, 10, true).starts_with("HTTP/1.0 200 OK\r\n"));
  CHECK(response_head(r, 10, true).find("\r\nConnection: keep-alive\r\n") != std::string::npos);
  CHECK(response_head(r, 10, false).find("Connection") == std::string::npos);
  CHECK_FALSE(parse_back(response_head(r, 11, false) + r.body).keep_alive());
  CHECK(parse_back(response_head(r, 10, true) + r.body).keep_alive());
}

TEST_CASE("1xx, 204 and 304 carry no body and no Content-Length, and an impossible status is a 500") {
  for (int status : {100, 204, 304}) {
    CHECK_FALSE(has_body(status));
    CHECK(response_head(Response::text(status, "ignored"), 11, true).find("Content-Length") ==
          std::string::npos);
  }
  CHECK(has_body(200));
  CHECK(has_body(404));
  CHECK(response_head(Response::text(204, ""), 11, true) ==
        "HTTP/1.1 204 No Content\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
  CHECK(response_head(Response::text(42, "x"), 11, true).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  CHECK(has_body(42));  // sent as the 500 its head says, body and all
  CHECK(parse_back(response_head(Response::text(42, "x"), 11, true) + "x").body() == "x");
  CHECK(response_head(Response::text(1000, "x"), 11, true).starts_with("HTTP/1.1 500 "));
  // A status Beast has no reason for still makes a valid line.
  CHECK(parse_back(response_head(Response::text(599, "x"), 11, true) + "x").result_int() == 599);
}

TEST_CASE("a header that could end its line early, or has no name, is left out") {
  Response r = Response::text(200, "{}", "application/json");
  r.headers.emplace_back("X-Good", "yes");
  r.headers.emplace_back("X-Split", "a\r\nSet-Cookie: evil=1");
  r.headers.emplace_back("X-Newline", "a\nb");
  r.headers.emplace_back("Bad:Name", "v");
  r.headers.emplace_back("", "v");
  const std::string head = response_head(r, 11, true);
  CHECK(head ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Good: yes\r\nContent-Length: 2\r\n\r\n");
  r.content_type.clear();
  CHECK(response_head(r, 11, true).find("Content-Type") == std::string::npos);
}
