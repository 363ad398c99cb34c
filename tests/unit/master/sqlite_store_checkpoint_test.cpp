// The store's checkpoints run on their own thread: commits leave the WAL to
// it, and it copies the WAL into the database file once the WAL holds 1000
// pages (4 MiB), not sooner.
#include <catch2/catch.hpp>

#include "master/store/sqlite_store.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::master;
using namespace std::chrono_literals;

namespace {

// `count` events of about 4 KiB each, in one commit.
Snapshot events(int count, int first) {
  Snapshot s;
  for (int i = 0; i < count; ++i) {
    JobEvent e;
    e.time = first + i;
    e.type = "started";
    e.message = std::string(4000, static_cast<char>('a' + (first + i) % 26));
    s.events.emplace_back("j-000001", std::move(e));
  }
  return s;
}

}  // namespace

TEST_CASE("the state's WAL is copied into the database file by the store's checkpoint thread") {
  test::TempDir tmp;
  const auto db = tmp.path / "state.db";
  auto store = SqliteStore::open(db);
  REQUIRE(store.ok());
  REQUIRE(test::wait_until([&] { return std::filesystem::file_size(db) > 0; }, 10s));
  const auto before = std::filesystem::file_size(db);

  // About 1 MiB: the WAL stays under the mark, the database file as it was.
  REQUIRE((*store)->write(events(250, 0)).ok());
  // About 5 MiB more: past the mark, so the thread copies all of it (without
  // the 200 ms check it would wait for the master to close the database).
  REQUIRE((*store)->write(events(1250, 250)).ok());
  CHECK(test::wait_until([&] { return std::filesystem::file_size(db) >= before + 5 * 1024 * 1024; },
                         10s));
  // Still readable through the store after the copy.
  auto read = (*store)->events("j-000001", 0, 2000);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1500);
  CHECK(read->back().message[0] == 'a' + 1499 % 26);
  store->reset();  // joins the thread
}
