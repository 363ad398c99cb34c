// drover-master on a data_dir from another version: one written by the first
// schema (tests/fixtures/state-v1.sql) is upgraded at start and serves its
// jobs; one written by a newer drover-master is refused (exit 1, both versions
// named) and left as it was.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

void exec_sql(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

int user_version(const fs::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  int v = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

}  // namespace

TEST_CASE("drover-master upgrades a data_dir of the first schema and serves its jobs",
          "[integration][schema]") {
  TempDir tmp;
  const fs::path data = tmp.path / "data";
  fs::create_directories(data);
  auto fixture = read_file(source_dir() / "tests" / "fixtures" / "state-v1.sql");
  REQUIRE(fixture.ok());
  exec_sql(data / "state.db", *fixture);
  REQUIRE(user_version(data / "state.db") == 0);
  fs::create_directories(tmp.path / "cluster");  // logs (the data_dir is elsewhere)
  fs::create_directories(tmp.path / "again");
  {
    Cluster c(tmp.path / "cluster", {"--data-dir", data.string()});
    CHECK_THAT(c.master()->log(), Catch::Contains("upgraded a state.db from before schema versions"));
    CHECK(c.get("/api/v1/jobs/j-000001")["state"] == "succeeded");
    CHECK(c.get("/api/v1/jobs/j-000002")["state"] == "running");
    CHECK(c.get("/api/v1/jobs/j-000001/events")["events"].empty());
    auto status = c.cli({"status", "j-000001"});
    INFO(status.out << status.err);
    CHECK(status.exit_code == 0);
    auto cancelled = c.cli({"cancel", "j-000002"});
    INFO(cancelled.out << cancelled.err);
    CHECK(cancelled.exit_code == 0);
    CHECK(c.get("/api/v1/jobs/j-000002")["state"] == "cancelled");
    c.stop_master();
  }
  const int upgraded = user_version(data / "state.db");
  CHECK(upgraded >= 5);
  // A second start finds nothing to upgrade.
  Cluster again(tmp.path / "again", {"--data-dir", data.string()});
  CHECK_THAT(again.master()->log(), !Catch::Contains("upgraded"));
  CHECK(again.get("/api/v1/jobs/j-000002")["state"] == "cancelled");
  CHECK(user_version(data / "state.db") == upgraded);
}

TEST_CASE("drover-master refuses a data_dir written by a newer version", "[integration][schema]") {
  TempDir tmp;
  const fs::path data = tmp.path / "data";
  fs::create_directories(data);
  exec_sql(data / "state.db", "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                              "PRAGMA user_version = 999;");
  auto r = run_command({binary("drover-master").string(), "--data-dir", data.string(), "--listen",
                        "127.0.0.1:0"},
                       30s, tmp.path);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out + r.err, Catch::Contains("schema version 999") &&
                                Catch::Contains("knows versions up to") &&
                                Catch::Contains("newer drover-master") &&
                                Catch::Contains("Downgrading is not supported"));
  CHECK(user_version(data / "state.db") == 999);
  CHECK_FALSE(fs::exists(data / "master.addr"));
}
