// drover's Request/Response helpers and the route table. No Asio here: this
// file is compiled and tested without sockets.
#include "common/http/http.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <exception>
#include <memory>

#include <spdlog/spdlog.h>

#include "common/http/disconnect.hpp"

namespace drover::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string find_header(const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (an invalid escape is kept as is); `plus_is_space` for
// query components (application/x-www-form-urlencoded).
std::string percent_decode(std::string_view s, bool plus_is_space) {
  if (s.find('%') == std::string_view::npos && (!plus_is_space || s.find('+') == std::string_view::npos)) {
    return std::string(s);  // nearly every path and query: nothing to decode
  }
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// "/a/b/" -> {"a", "b"}; empty segments are ignored. The views point into `path`.
std::vector<std::string_view> split_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  segments.reserve(8);
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) segments.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool is_param(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

bool matches(const std::vector<std::string>& pattern, const std::vector<std::string_view>& segments) {
  if (pattern.size() != segments.size()) return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (!is_param(pattern[i]) && pattern[i] != segments[i]) return false;
  }
  return true;
}

// What a matched route's handler answers through: the connection's Respond,
// called at most once (a handler that answered and then threw does not answer
// twice), with the router's observer told the route, method and status. One
// allocation per request: the Respond holds only a pointer to this.
struct Answer {
  std::atomic<bool> called{false};
  Respond respond;
  Router::Observer observer;  // may be empty
  std::string route;          // the matched pattern, or "" for no route
  std::string method;

  static Respond make(Respond respond, const Router::Observer& observer, const std::string& route,
                      const std::string& method) {
    auto answer = std::make_shared<Answer>();
    answer->respond = std::move(respond);
    if (observer) {
      answer->observer = observer;
      answer->route = route;
      answer->method = method;
    }
    return [answer](Response response) {
      if (answer->called.exchange(true)) return;
      if (answer->observer) answer->observer(answer->route, answer->method, response.status);
      answer->respond(std::move(response));
    };
  }
};

}  // namespace

std::string Request::header(std::string_view name) const { return find_header(headers, name); }

std::string Request::query_or(const std::string& key, std::string fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

std::string Request::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string{} : it->second;
}

void Request::on_disconnect(std::function<void()> fn) {
  if (disconnect_signal) disconnect_signal->set(std::move(fn));
}

std::string Response::header(std::string_view name) const {
  if (iequals(name, "Content-Type")) return content_type;
  return find_header(headers, name);
}

Response Response::json(int status, const nlohmann::json& body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

Response Response::error(const Error& error) {
  nlohmann::json inner = {{"code", std::string(to_string(error.code))}, {"message", error.message}};
  if (!error.field.empty()) inner["field"] = error.field;
  return json(http_status(error.code), nlohmann::json{{"error", inner}});
}

Error error_from_response(const Response& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& inner = body["error"];
    auto text = [&](const char* key) {
      return inner.contains(key) && inner[key].is_string() ? inner[key].get<std::string>()
                                                           : std::string{};
    };
    if (inner.contains("code") && inner["code"].is_string()) {
      return Error{error_code_from_string(text("code")), text("message"), text("field")};
    }
  }
  std::string snippet = response.body.substr(0, 200);
  std::string message = "HTTP " + std::to_string(response.status);
  if (!snippet.empty()) message += ": " + snippet;
  return Error{error_code_from_http_status(response.status), std::move(message), {}};
}

void Router::add(std::string method, std::string pattern, SyncHandler handler) {
  add_async(std::move(method), std::move(pattern),
            [handler = std::move(handler)](Request& request, Respond respond) {
              Result<Response> result = handler(request);
              respond(result.ok() ? std::move(result).value() : Response::error(result.error()));
            });
}

void Router::add_async(std::string method, std::string pattern, AsyncHandler handler) {
  std::vector<std::string> segments;
  for (std::string_view s : split_segments(pattern)) segments.emplace_back(s);
  routes_.push_back(Route{std::move(method), std::move(pattern), std::move(segments), std::move(handler)});
}

void Router::dispatch(Request& request, Respond respond) const {
  const std::vector<std::string_view> segments = split_segments(request.path);
  std::string allowed;  // methods served on this path, for a 405's Allow header
  for (const Route& route : routes_) {
    if (!matches(route.segments, segments)) continue;
    if (route.method != request.method) {
      allowed += (allowed.empty() ? "" : ", ") + route.method;
      continue;
    }
    request.params.clear();
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const std::string& p = route.segments[i];
      if (is_param(p)) request.params[p.substr(1, p.size() - 2)] = segments[i];
    }
    Respond guarded = Answer::make(std::move(respond), observer_, route.pattern, request.method);
    if (guard_) {
      if (std::optional<Error> denied = guard_(request, route.method, route.pattern)) {
        Response response = Response::error(*denied);
        if (denied->code == ErrorCode::unauthorized) {
          response.headers.emplace_back("WWW-Authenticate", "Bearer");
        }
        guarded(std::move(response));
        return;
      }
    }
    try {
      route.handler(request, guarded);
    } catch (const std::exception& e) {
      spdlog::error("http: handler for {} {} threw: {}", request.method, request.path, e.what());
      guarded(Response::error(make_error(ErrorCode::internal, "internal error")));
    } catch (...) {
      spdlog::error("http: handler for {} {} threw an unknown exception", request.method,
                    request.path);
      guarded(Response::error(make_error(ErrorCode::internal, "internal error")));
    }
    return;
  }
  respond = Answer::make(std::move(respond), observer_, "", request.method);
  if (!allowed.empty()) {
    Response response = Response::error(make_error(
        ErrorCode::invalid_argument, "method " + request.method + " not allowed; use " + allowed));
    response.status = 405;
    response.headers.emplace_back("Allow", allowed);
    respond(std::move(response));
    return;
  }
  respond(Response::error(make_error(ErrorCode::not_found, "no route for " + request.path)));
}

std::string bearer_token(const Request& req) {
  const std::string value = req.header("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (value.size() <= kScheme.size()) return "";
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return "";
    }
  }
  std::string token = value.substr(kScheme.size());
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
  return token;
}

void split_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string>& query) {
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  std::size_t qmark = target.find('?');
  path = percent_decode(target.substr(0, qmark), /*plus_is_space=*/false);
  query.clear();
  if (qmark == std::string_view::npos) return;
  std::string_view rest = target.substr(qmark + 1);
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key = percent_decode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true);
    query.insert_or_assign(std::move(key), std::move(value));
  }
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace drover::http
