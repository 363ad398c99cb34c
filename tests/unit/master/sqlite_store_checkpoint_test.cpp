// The store's checkpoints run on their own thread: commits leave the WAL to
// it, and it copies the WAL into the database file without being asked.
#include <sqlite3.h>

#include <catch2/catch.hpp>

#include "master/store/sqlite_store.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::master;
using namespace std::chrono_literals;

TEST_CASE("the state's WAL is copied into the database file by the store's checkpoint thread") {
  test::TempDir tmp;
  const auto db = tmp.path / "state.db";
  auto store = SqliteStore::open(db);
  REQUIRE(store.ok());
  REQUIRE(test::wait_until([&] { return std::filesystem::file_size(db) > 0; }, 10s));
  const auto before = std::filesystem::file_size(db);

  // About 1 MiB of events, written by a connection of its own: its commit
  // stays under SQLite's automatic checkpoint mark (1000 pages of 4 KiB).
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
                        "INSERT INTO events (job, time, type, stage, idx, attempt, worker, reason, message) "
                        "SELECT 'j', i, 't', 0, 0, 0, '', '', hex(randomblob(512)) FROM n",
                        nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);

  CHECK(test::wait_until([&] { return std::filesystem::file_size(db) >= before + 900 * 1024; }, 10s));
  store->reset();  // joins the thread
}
