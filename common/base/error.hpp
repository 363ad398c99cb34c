#pragma once
// Error values shared by every module. The shape is the REST error body:
// {"error": {"code": "...", "message": "...", "field": "..."}}.
#include <string>
#include <string_view>

namespace drover {

enum class ErrorCode {
  invalid_spec,      // a job bundle or job.yaml is wrong (400)
  invalid_argument,  // a request or config value is wrong (400)
  unauthorized,      // missing or wrong token (401)
  forbidden,         // role too low (403)
  not_found,         // (404)
  conflict,          // the state does not allow it, e.g. a fenced attempt (409)
  too_large,         // a body or archive over a limit (413)
  unavailable,       // cannot reach a peer, or not ready (503)
  io,                // disk or file-system failure on our side (500)
  internal,          // a bug (500)
};

std::string_view to_string(ErrorCode code);
ErrorCode error_code_from_string(std::string_view s);  // unknown -> internal

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::string field;  // dotted path of the offending field, empty if none

  // "field: message" when field is set, else message.
  std::string describe() const;
};

// One mapping from error codes to HTTP statuses and one to CLI exit codes;
// nothing else picks a status by hand.
int http_status(ErrorCode code);
ErrorCode error_code_from_http_status(int status);
int cli_exit_code(ErrorCode code);

}  // namespace drover
