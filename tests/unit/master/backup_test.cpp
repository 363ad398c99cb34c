// The backup's pure parts (manifest extraction and format) and its file
// handling on a small data dir, without a running master.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "common/fs/blob_dir.hpp"
#include "common/fs/fs.hpp"
#include "master/backup.hpp"
#include "master/store/sqlite_store.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::master;

namespace {

std::string digest_of(const std::string& s) { return sha256_hex(s); }

void exec_sql(const std::filesystem::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

// A state database (the real schema) referencing the given refs.
void make_state(const std::filesystem::path& db, const std::string& bundle, const std::string& output,
                const std::string& log, const std::string& cached) {
  { REQUIRE(SqliteStore::open(db).ok()); }
  exec_sql(db, "INSERT INTO jobs VALUES ('j1', 1, 'running', '{}', '" + bundle +
                   "', 'u', 'src', 0, 0, 0, '', '');"
                   "INSERT INTO tasks VALUES ('j1', 0, 0, 'none', '', 'succeeded', 0, 0, '" + output +
                   "', 1, '', 0, 0, '');"
                   "INSERT INTO attempts VALUES (1, 'j1', 0, 0, 1, 'w1', 'succeeded', 0, 0, 0, 0, 0, 0, "
                   "'', '', '" + output + "', 1, '" + log + "', '', 0);"
                   "INSERT INTO cache VALUES ('k', '" + cached + "', 3);");
}

}  // namespace

TEST_CASE("the manifest holds every blob the state references, once, and no shared refs",
          "[backup]") {
  test::TempDir tmp;
  const auto db = tmp.path / "state.db";
  const std::string bundle = digest_of("bundle"), output = digest_of("out"), log = digest_of("log");
  make_state(db, bundle, output, log, "shared:outputs/j1/s/0.a1");
  auto m = referenced_blobs(db);
  REQUIRE(m.ok());
  std::vector<std::string> got;
  for (const auto& e : m->blobs) got.push_back(e.digest);
  std::vector<std::string> want = {bundle, output, log};
  std::sort(want.begin(), want.end());
  CHECK(got == want);  // output appears in tasks and attempts: listed once
  CHECK(m->shared_refs == std::vector<std::string>{"shared:outputs/j1/s/0.a1"});
}

TEST_CASE("a ref that is neither a digest nor a shared ref is an error naming its column",
          "[backup]") {
  test::TempDir tmp;
  const auto db = tmp.path / "state.db";
  make_state(db, digest_of("b"), digest_of("o"), "not-a-digest", "");
  auto m = referenced_blobs(db);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message.find("attempts.stdout_digest") != std::string::npos);
}

TEST_CASE("the manifest format reads back what it wrote and names a bad line", "[backup]") {
  BlobManifest m;
  m.blobs = {{digest_of("a"), 1}, {digest_of("b"), 1234567890123}};
  std::sort(m.blobs.begin(), m.blobs.end(), [](auto& x, auto& y) { return x.digest < y.digest; });
  m.shared_refs = {"shared:outputs/j/s/0.a3"};
  auto text = format_manifest(m);
  auto back = parse_manifest(text);
  REQUIRE(back.ok());
  CHECK(back->blobs == m.blobs);
  CHECK(back->shared_refs == m.shared_refs);

  auto bad = parse_manifest("# c\n" + digest_of("a") + " 12\nxyz 3\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("line 3") != std::string::npos);
  CHECK_FALSE(parse_manifest(digest_of("a") + " -1\n").ok());
  CHECK_FALSE(parse_manifest(digest_of("a") + "\n").ok());
}

TEST_CASE("a database held open by a store counts as in use", "[backup]") {
  test::TempDir tmp;
  const auto db = tmp.path / "state.db";
  CHECK(database_in_use(db).value() == false);  // absent
  {
    auto store = SqliteStore::open(db);
    REQUIRE(store.ok());
    CHECK(database_in_use(db).value() == true);
  }
  CHECK(database_in_use(db).value() == false);
}

TEST_CASE("backup lists blob sizes, and restore copies and verifies blobs before installing",
          "[backup]") {
  test::TempDir tmp;
  const auto data = tmp.path / "data";
  REQUIRE(make_dirs(data).ok());
  BlobDir blobs(data / "blobs");
  const std::string b = "bundle-bytes", o = "output", l = "log text";
  for (const auto& s : {b, o, l}) REQUIRE(blobs.put(digest_of(s), s).ok());
  make_state(data / "state.db", digest_of(b), digest_of(o), digest_of(l), "");

  BackupOptions bo{tmp.path / "copy.db", data, data / "blobs"};
  auto printed = run_backup(bo);
  INFO((printed.ok() ? *printed : printed.error().describe()));
  REQUIRE(printed.ok());
  auto m = parse_manifest(read_file(tmp.path / "copy.db.blobs").value());
  REQUIRE(m.ok());
  REQUIRE(m->blobs.size() == 3);
  for (const auto& e : m->blobs) CHECK(e.bytes == blobs.get(e.digest).value().size());

  RestoreOptions ro;
  ro.from = tmp.path / "copy.db";
  ro.data_dir = tmp.path / "new";
  ro.blob_dir = tmp.path / "new" / "blobs";
  SECTION("without a blob source the restore fails and installs nothing") {
    auto r = run_restore(ro);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("3 of 3 blobs") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(ro.data_dir / "state.db"));
  }
  SECTION("a damaged source blob is not copied") {
    std::ofstream(blobs.path_of(digest_of(o)), std::ios::trunc) << "tampered";
    ro.blobs_from = data / "blobs";
    auto r = run_restore(ro);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find(digest_of(o)) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(ro.data_dir / "state.db"));
  }
  SECTION("with the old blob dir it copies them and installs the database") {
    ro.blobs_from = data / "blobs";
    auto r = run_restore(ro);
    INFO((r.ok() ? *r : r.error().describe()));
    REQUIRE(r.ok());
    BlobDir restored(ro.blob_dir);
    for (const auto& s : {b, o, l}) CHECK(restored.get(digest_of(s)).value() == s);
    auto again = referenced_blobs(ro.data_dir / "state.db");
    REQUIRE(again.ok());
    CHECK(again->blobs.size() == 3);
    // A second restore over it needs --force; with it, it works.
    auto refused = run_restore(ro);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("--force") != std::string::npos);
    ro.force = true;
    CHECK(run_restore(ro).ok());
  }
}
