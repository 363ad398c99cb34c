#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>

#include "common/http/http.hpp"

using namespace drover;
using namespace drover::http;

namespace {

Request make_request(std::string method, std::string target) {
  Request request;
  request.method = std::move(method);
  split_target(target, request.path, request.query);
  return request;
}

// Dispatches synchronously-answering routes and returns the response.
std::optional<Response> run(const Router& router, Request request) {
  std::optional<Response> out;
  router.dispatch(request, [&](Response r) { out = std::move(r); });
  return out;
}

}  // namespace

TEST_CASE("router matches literal segments and {name} params", "[http][router]") {
  Router router;
  router.add("GET", "/api/v1/jobs", [](Request&) -> Result<Response> {
    return Response::json(200, {{"route", "list"}});
  });
  router.add("GET", "/api/v1/jobs/{job}/tasks/{stage}/{index}/logs", [](Request& r) -> Result<Response> {
    return Response::json(200, {{"job", r.param("job")},
                                {"stage", r.param("stage")},
                                {"index", r.param("index")},
                                {"stream", r.query_or("stream", "stdout")},
                                {"missing", r.param("nope")}});
  });

  auto list = run(router, make_request("GET", "/api/v1/jobs"));
  REQUIRE(list);
  CHECK(list->status == 200);
  CHECK(nlohmann::json::parse(list->body)["route"] == "list");

  auto logs = run(router, make_request("GET", "/api/v1/jobs/j-1/tasks/map/7/logs?stream=stderr"));
  REQUIRE(logs);
  auto body = nlohmann::json::parse(logs->body);
  CHECK(body["job"] == "j-1");
  CHECK(body["stage"] == "map");
  CHECK(body["index"] == "7");
  CHECK(body["stream"] == "stderr");
  CHECK(body["missing"] == "");

  auto trailing = run(router, make_request("GET", "/api/v1/jobs/"));
  REQUIRE(trailing);
  CHECK(trailing->status == 200);
}

TEST_CASE("router answers 404 for unknown paths and 405 for other methods", "[http][router]") {
  Router router;
  router.add("GET", "/api/v1/jobs/{job}", [](Request&) -> Result<Response> {
    return Response::text(200, "ok");
  });

  auto missing = run(router, make_request("GET", "/api/v1/nothing"));
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->content_type == "application/json");
  CHECK(nlohmann::json::parse(missing->body)["error"]["code"] == "not_found");

  auto too_deep = run(router, make_request("GET", "/api/v1/jobs/a/b"));
  REQUIRE(too_deep);
  CHECK(too_deep->status == 404);

  auto wrong_method = run(router, make_request("DELETE", "/api/v1/jobs/a"));
  REQUIRE(wrong_method);
  CHECK(wrong_method->status == 405);
  CHECK(nlohmann::json::parse(wrong_method->body).contains("error"));
  CHECK(wrong_method->header("Allow") == "GET");
}

TEST_CASE("a SyncHandler error becomes the JSON error body and status", "[http][router]") {
  Router router;
  router.add("POST", "/api/v1/jobs", [](Request&) -> Result<Response> {
    return make_error(ErrorCode::invalid_spec, "stages is empty", "stages");
  });
  router.add("POST", "/api/v1/jobs/{job}/cancel", [](Request&) -> Result<Response> {
    return make_error(ErrorCode::conflict, "already done");
  });

  auto invalid = run(router, make_request("POST", "/api/v1/jobs"));
  REQUIRE(invalid);
  CHECK(invalid->status == 400);
  auto body = nlohmann::json::parse(invalid->body);
  CHECK(body["error"]["code"] == "invalid_spec");
  CHECK(body["error"]["message"] == "stages is empty");
  CHECK(body["error"]["field"] == "stages");

  auto conflict = run(router, make_request("POST", "/api/v1/jobs/j/cancel"));
  REQUIRE(conflict);
  CHECK(conflict->status == 409);
  auto conflict_body = nlohmann::json::parse(conflict->body);
  CHECK(conflict_body["error"].value("field", "") == "");

  Error back = error_from_response(*invalid);
  CHECK(back.code == ErrorCode::invalid_spec);
  CHECK(back.message == "stages is empty");
  CHECK(back.field == "stages");

  Error plain = error_from_response(Response::text(503, "proxy says no"));
  CHECK(plain.code == ErrorCode::unavailable);
  CHECK_THAT(plain.message, Catch::Contains("proxy says no"));
}

TEST_CASE("a throwing handler becomes a 500 answered once", "[http][router]") {
  Router router;
  router.add("GET", "/boom", [](Request&) -> Result<Response> { throw std::runtime_error("bug"); });
  router.add_async("GET", "/answer-then-throw", [](Request&, Respond respond) {
    respond(Response::text(200, "first"));
    throw std::runtime_error("late bug");
  });

  auto boom = run(router, make_request("GET", "/boom"));
  REQUIRE(boom);
  CHECK(boom->status == 500);
  CHECK(nlohmann::json::parse(boom->body)["error"]["code"] == "internal");

  int calls = 0;
  Request request = make_request("GET", "/answer-then-throw");
  router.dispatch(request, [&](Response r) {
    ++calls;
    CHECK(r.status == 200);
  });
  CHECK(calls == 1);
}

TEST_CASE("split_target decodes the path and the query", "[http]") {
  std::string path;
  std::map<std::string, std::string> query;
  split_target("/api/v1/jobs/a%20b%2Fc?state=running&name=x+y%26z&flag&limit=10#frag", path, query);
  CHECK(path == "/api/v1/jobs/a b/c");
  CHECK(query.at("state") == "running");
  CHECK(query.at("name") == "x y&z");
  CHECK(query.at("flag") == "");
  CHECK(query.at("limit") == "10");
  CHECK(query.size() == 4);

  split_target("/plus+stays%zz", path, query);
  CHECK(path == "/plus+stays%zz");
  CHECK(query.empty());

  CHECK(url_encode("a b/c&d=e~f.g-h_i") == "a%20b%2Fc%26d%3De~f.g-h_i");
  split_target("/x?v=" + url_encode("1 + 1 = 2"), path, query);
  CHECK(query.at("v") == "1 + 1 = 2");
}

TEST_CASE("header lookup is case-insensitive", "[http]") {
  Request request;
  request.headers = {{"Content-Type", "application/gzip"}, {"authorization", "Bearer t"}};
  CHECK(request.header("content-type") == "application/gzip");
  CHECK(request.header("AUTHORIZATION") == "Bearer t");
  CHECK(request.header("X-Missing") == "");

  Response response = Response::json(201, {{"id", "j-1"}});
  response.headers.emplace_back("Location", "/api/v1/jobs/j-1");
  CHECK(response.header("location") == "/api/v1/jobs/j-1");
  CHECK(response.header("content-type") == "application/json");
  CHECK(response.ok());
  CHECK_FALSE(Response::error(make_error(ErrorCode::not_found, "x")).ok());
}
