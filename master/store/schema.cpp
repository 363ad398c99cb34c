#include "master/store/schema.hpp"

#include <sqlite3.h>

#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "master/store/statement.hpp"

namespace drover::master {

namespace {

// Version kSchemaVersion, as a new database gets it. Column order matters: the
// store inserts rows positionally, and an upgraded database has the columns a
// step added at the end of their table, so new columns only ever go last.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL, spec TEXT NOT NULL,
  bundle_digest TEXT NOT NULL, user TEXT NOT NULL, source TEXT NOT NULL,
  submitted_at INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
  message TEXT NOT NULL, rerun_of TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS tasks (
  job TEXT NOT NULL, stage INTEGER NOT NULL, idx INTEGER NOT NULL, input_kind TEXT NOT NULL,
  input TEXT NOT NULL, state TEXT NOT NULL, failures INTEGER NOT NULL, lost INTEGER NOT NULL,
  output_digest TEXT NOT NULL, output_bytes INTEGER NOT NULL, checkpoint_digest TEXT NOT NULL,
  gave_up INTEGER NOT NULL DEFAULT 0, cached INTEGER NOT NULL DEFAULT 0,
  cache_base TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job, stage, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
  id INTEGER PRIMARY KEY, job TEXT NOT NULL, stage INTEGER NOT NULL, idx INTEGER NOT NULL,
  number INTEGER NOT NULL, worker TEXT NOT NULL, state TEXT NOT NULL, not_before INTEGER NOT NULL,
  assigned_at INTEGER NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,
  exit_code INTEGER NOT NULL, signal INTEGER NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
  output_digest TEXT NOT NULL, output_bytes INTEGER NOT NULL, stdout_digest TEXT NOT NULL,
  stderr_digest TEXT NOT NULL, cpu_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY, address TEXT NOT NULL, cpus REAL NOT NULL, memory INTEGER NOT NULL,
  labels TEXT NOT NULL, state TEXT NOT NULL, registered_at INTEGER NOT NULL,
  last_heartbeat_at INTEGER NOT NULL, failures_in_a_row INTEGER NOT NULL,
  excluded_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cache (
  key TEXT PRIMARY KEY, output_ref TEXT NOT NULL, output_bytes INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, job TEXT NOT NULL, time INTEGER NOT NULL, type TEXT NOT NULL,
  stage TEXT NOT NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT NULL,
  reason TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job, seq);
)sql";

Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(ErrorCode::io, fmt::format("sqlite: {}", msg));
  }
  return ok_status();
}

Result<bool> has_table(sqlite3* db, const char* table) {
  Statement st(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
  st.bind(table);
  bool present = st.step();
  DROVER_TRY(st.status());
  return present;
}

// ALTER TABLE ADD COLUMN unless the column is there (a pre-versioning database
// may have it already). SQLite only adds NOT NULL columns that have a default.
Status add_column(sqlite3* db, const char* table, const char* column, const char* definition) {
  std::string query = fmt::format("SELECT 1 FROM pragma_table_info('{}') WHERE name = ?", table);
  Statement st(db, query.c_str());
  st.bind(column);
  bool present = st.step();
  DROVER_TRY(st.status());
  if (present) return ok_status();
  return exec(db, fmt::format("ALTER TABLE {} ADD COLUMN {} {}", table, column, definition));
}

// Step `to` upgrades a database of version to-1 to version `to`. Version 1 is
// the first release's schema (meta, jobs, tasks, attempts, workers).
struct Step {
  int to;
  const char* what;
  std::function<Status(sqlite3*)> apply;
};

const std::vector<Step>& steps() {
  static const std::vector<Step> kSteps = {
      {2, "checkpoints and worker exclusion",
       [](sqlite3* db) -> Status {
         DROVER_TRY(add_column(db, "tasks", "checkpoint_digest", "TEXT NOT NULL DEFAULT ''"));
         DROVER_TRY(add_column(db, "workers", "failures_in_a_row", "INTEGER NOT NULL DEFAULT 0"));
         return add_column(db, "workers", "excluded_until", "INTEGER NOT NULL DEFAULT 0");
       }},
      {3, "reruns, partial jobs and the output cache",
       [](sqlite3* db) -> Status {
         DROVER_TRY(add_column(db, "jobs", "rerun_of", "TEXT NOT NULL DEFAULT ''"));
         DROVER_TRY(add_column(db, "tasks", "gave_up", "INTEGER NOT NULL DEFAULT 0"));
         DROVER_TRY(add_column(db, "tasks", "cached", "INTEGER NOT NULL DEFAULT 0"));
         DROVER_TRY(add_column(db, "tasks", "cache_base", "TEXT NOT NULL DEFAULT ''"));
         return exec(db, "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, output_ref TEXT "
                         "NOT NULL, output_bytes INTEGER NOT NULL) WITHOUT ROWID");
       }},
      {4, "cpu accounting",
       [](sqlite3* db) { return add_column(db, "attempts", "cpu_ms", "INTEGER NOT NULL DEFAULT 0"); }},
      {5, "job event log",
       [](sqlite3* db) -> Status {
         DROVER_TRY(exec(db, "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, job TEXT "
                             "NOT NULL, time INTEGER NOT NULL, type TEXT NOT NULL, stage TEXT NOT "
                             "NULL, idx INTEGER NOT NULL, attempt INTEGER NOT NULL, worker TEXT NOT "
                             "NULL, reason TEXT NOT NULL, message TEXT NOT NULL)"));
         return exec(db, "CREATE INDEX IF NOT EXISTS events_by_job ON events (job, seq)");
       }},
  };
  return kSteps;
}

// Inside the open transaction: creates or upgrades. Returns a description for the log.
Result<std::string> bring_up(sqlite3* db, int from) {
  auto jobs = has_table(db, "jobs");
  if (!jobs.ok()) return jobs.error();
  if (from == kUnversioned && !*jobs) {
    DROVER_TRY(exec(db, kSchema));
    return std::string();  // a new database: nothing to tell
  }
  // A pre-versioning database holds one of the schemas 1..5: run every step
  // (each adds only what is missing).
  int first = from == kUnversioned ? 1 : from;
  for (const Step& step : steps()) {
    if (step.to <= first) continue;
    if (Status s = step.apply(db); !s.ok()) {
      Error e = s.error();
      e.message = fmt::format("upgrading the schema to version {} ({}): {}", step.to, step.what,
                              e.message);
      return e;
    }
  }
  return from == kUnversioned
             ? fmt::format("upgraded a state.db from before schema versions to version {}", kSchemaVersion)
             : fmt::format("upgraded state.db from schema version {} to {}", from, kSchemaVersion);
}

}  // namespace

Result<int> schema_version(sqlite3* db) {
  Statement st(db, "PRAGMA user_version");
  int version = st.step() ? static_cast<int>(st.int64(0)) : -1;
  DROVER_TRY(st.status());
  if (version < 0) return make_error(ErrorCode::io, "sqlite: PRAGMA user_version returned nothing");
  return version;
}

Result<int> prepare_schema(sqlite3* db, const std::string& path) {
  auto version = schema_version(db);
  if (!version.ok()) return version.error();
  const int from = *version;
  if (from > kSchemaVersion) {
    return make_error(ErrorCode::conflict,
                      fmt::format("{} has schema version {}, but this drover-master knows versions "
                                  "up to {}: it was written by a newer drover-master. Downgrading "
                                  "is not supported: run the newer drover-master, or restore the "
                                  "backup taken before the upgrade",
                                  path, from, kSchemaVersion));
  }
  if (from == kSchemaVersion) return from;
  // One transaction: a failed or interrupted upgrade leaves the old database as it was.
  DROVER_TRY(exec(db, "BEGIN IMMEDIATE"));
  auto done = bring_up(db, from);
  Status s = done.ok() ? exec(db, fmt::format("PRAGMA user_version = {}", kSchemaVersion))
                       : Status(done.error());
  if (s.ok()) s = exec(db, "COMMIT");
  if (!s.ok()) {
    (void)exec(db, "ROLLBACK");
    Error e = s.error();
    e.message = fmt::format("{}: {}", path, e.message);
    return e;
  }
  if (!done->empty()) spdlog::warn("{} ({})", *done, path);
  return from;
}

}  // namespace drover::master
