#include "common/base/error.hpp"

namespace drover {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_spec: return "invalid_spec";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::io: return "io";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

ErrorCode error_code_from_string(std::string_view s) {
  for (auto c : {ErrorCode::invalid_spec, ErrorCode::invalid_argument, ErrorCode::unauthorized,
                 ErrorCode::forbidden, ErrorCode::not_found, ErrorCode::conflict,
                 ErrorCode::too_large, ErrorCode::unavailable, ErrorCode::io}) {
    if (to_string(c) == s) return c;
  }
  return ErrorCode::internal;
}

std::string Error::describe() const { return field.empty() ? message : field + ": " + message; }

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_spec:
    case ErrorCode::invalid_argument: return 400;
    case ErrorCode::unauthorized: return 401;
    case ErrorCode::forbidden: return 403;
    case ErrorCode::not_found: return 404;
    case ErrorCode::conflict: return 409;
    case ErrorCode::too_large: return 413;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::io:
    case ErrorCode::internal: return 500;
  }
  return 500;
}

ErrorCode error_code_from_http_status(int status) {
  switch (status) {
    case 400: return ErrorCode::invalid_argument;
    case 401: return ErrorCode::unauthorized;
    case 403: return ErrorCode::forbidden;
    case 404: return ErrorCode::not_found;
    case 409: return ErrorCode::conflict;
    case 413: return ErrorCode::too_large;
    case 502:
    case 503:
    case 504: return ErrorCode::unavailable;
    default: return ErrorCode::internal;
  }
}

// SPEC §5: 2 bad usage or invalid bundle; 3 master unreachable or unauthorized.
int cli_exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_spec:
    case ErrorCode::invalid_argument:
    case ErrorCode::too_large:
    case ErrorCode::not_found:
    case ErrorCode::conflict: return 2;
    case ErrorCode::unauthorized:
    case ErrorCode::forbidden:
    case ErrorCode::unavailable: return 3;
    case ErrorCode::io:
    case ErrorCode::internal: return 1;
  }
  return 1;
}

}  // namespace drover
