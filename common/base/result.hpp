#pragma once
// Result<T>: a value or an Error. Expected failures travel as values; exceptions
// from third-party libraries stop at the adapter that called them.
#include <cassert>
#include <utility>
#include <variant>

#include "common/base/error.hpp"

namespace drover {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

// Result<void> spelled as Status.
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

inline Error make_error(ErrorCode code, std::string message, std::string field = {}) {
  return Error{code, std::move(message), std::move(field)};
}

}  // namespace drover

// Propagate an error from an expression returning Result<...>.
#define DROVER_TRY(expr)                               \
  do {                                                 \
    auto drover_try_r_ = (expr);                       \
    if (!drover_try_r_.ok()) return drover_try_r_.error(); \
  } while (0)
