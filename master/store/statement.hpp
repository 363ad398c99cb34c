#pragma once
// A prepared SQLite statement with chained binds. Errors are kept and reported
// by run()/status(), so call sites stay linear.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/base/result.hpp"

namespace drover::master {

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &st_, nullptr);
  }
  ~Statement() { sqlite3_finalize(st_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds text without copying it (the store binds tens of strings per task):
  // the characters must stay where they are until run() or the last step(),
  // as a row's own fields, literals and the caller's arguments do.
  Statement& bind(std::string_view v) {
    const char* text = v.data() ? v.data() : "";  // a null pointer would bind NULL
    if (ok()) rc_ = sqlite3_bind_text(st_, ++n_, text, static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind(const char* v) { return bind(std::string_view(v)); }
  // A temporary string would be gone before run(): name it first.
  Statement& bind(std::string&&) = delete;
  Statement& bind(std::int64_t v) {
    if (ok()) rc_ = sqlite3_bind_int64(st_, ++n_, v);
    return *this;
  }
  Statement& bind(int v) { return bind(static_cast<std::int64_t>(v)); }
  Statement& bind(double v) {
    if (ok()) rc_ = sqlite3_bind_double(st_, ++n_, v);
    return *this;
  }

  // Executes a write and resets for the next row of binds.
  Status run() {
    if (ok()) {
      int rc = sqlite3_step(st_);
      rc_ = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    Status s = status();
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
    n_ = 0;
    return s;
  }

  // Steps a query; false at the end or on error (see status()).
  bool step() {
    if (!ok()) return false;
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) rc_ = rc;
    return false;
  }
  std::string text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st_, col))) : std::string();
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(st_, col); }
  double real(int col) const { return sqlite3_column_double(st_, col); }

  Status status() const {
    if (ok()) return ok_status();
    return make_error(ErrorCode::io, fmt::format("sqlite: {}", sqlite3_errmsg(db_)));
  }

 private:
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  int rc_ = SQLITE_OK;
  int n_ = 0;
};

}  // namespace drover::master
