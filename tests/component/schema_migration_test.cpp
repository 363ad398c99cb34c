// Schema upgrades: a state.db written by the first drover-master schema
// (tests/fixtures/state-v1.sql) is upgraded when today's master opens it, its
// jobs load with their states and the new columns' defaults, and its running
// job is rescheduled as after any restart; a state.db from a newer master is
// refused, naming both versions.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "common/fs/fs.hpp"
#include "master/store/schema.hpp"
#include "tests/component/master_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;

namespace {

struct Db {
  explicit Db(const fs::path& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, flags, nullptr) == SQLITE_OK);
  }
  ~Db() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  std::vector<std::vector<std::string>> query(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      auto& row = out.emplace_back();
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
        row.push_back(p ? p : "");
      }
    }
    sqlite3_finalize(st);
    return out;
  }
  int version() {
    auto v = schema_version(db);
    REQUIRE(v.ok());
    return *v;
  }
  sqlite3* db = nullptr;
};

// Tables and their columns (name, type, not null), in order; indexes by name.
std::map<std::string, std::vector<std::string>> shape(const fs::path& path) {
  Db db(path, SQLITE_OPEN_READONLY);
  std::map<std::string, std::vector<std::string>> out;
  for (auto& t : db.query("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")) {
    auto& cols = out[t[0] + " " + t[1]];
    if (t[0] != "table") continue;
    for (auto& c : db.query("SELECT name, type, \"notnull\" FROM pragma_table_info('" + t[1] + "')")) {
      cols.push_back(c[0] + " " + c[1] + (c[2] == "1" ? " NOT NULL" : ""));
    }
  }
  return out;
}

std::string fixture_v1() {
  auto text = read_file(fs::path(DROVER_SOURCE_DIR) / "tests" / "fixtures" / "state-v1.sql");
  REQUIRE(text.ok());
  return *text;
}

const char* kOutput0 = "output of task 0 (v1)";
const char* kOutput1 = "output of task 1 (v1)";

}  // namespace

TEST_CASE("a state.db of the first schema is upgraded and its jobs load", "[component][schema]") {
  TempDir tmp;
  const fs::path dir = tmp.path / "master";
  fs::create_directories(dir);
  {
    Db v1(dir / "state.db");
    v1.exec(fixture_v1());
    CHECK(v1.version() == kUnversioned);
  }
  BlobDir blobs(dir / "blobs");
  REQUIRE(blobs.put(sha256_hex(kOutput0), kOutput0).ok());
  REQUIRE(blobs.put(sha256_hex(kOutput1), kOutput1).ok());

  {
    Master m(dir);
    CHECK(Db(dir / "state.db").version() == kSchemaVersion);
    const Model& model = m.co->model();
    REQUIRE(model.jobs().size() == 2);
    const Job& done = *model.job("j-000001");
    CHECK(done.state == JobState::succeeded);
    CHECK(done.spec.name == "old-done");
    CHECK(done.user == "alice");
    CHECK(done.rerun_of.empty());  // new column, default
    CHECK(model.task(TaskKey{"j-000001", 0, 0}).output_digest == sha256_hex(kOutput0));
    CHECK(model.task(TaskKey{"j-000001", 0, 1}).output_digest == sha256_hex(kOutput1));
    CHECK(model.task(TaskKey{"j-000001", 0, 1}).attempts.size() == 2);
    for (std::int64_t i : {0, 1}) {
      const Task& t = model.task(TaskKey{"j-000001", 0, i});
      CHECK(t.state == TaskState::succeeded);
      CHECK_FALSE(t.gave_up);
      CHECK_FALSE(t.cached);
      CHECK(t.cache_base.empty());
      CHECK(t.checkpoint_digest.empty());
    }
    CHECK(model.attempt(3)->cpu_ms == 0);
    CHECK(model.worker("w-old")->failures_in_a_row == 0);
    CHECK(model.worker("w-old")->labels.at("zone") == "a");
    CHECK(model.job("j-000002")->state == JobState::running);
    CHECK(model.job("j-000002")->spec.stages[0].env.at("MODE") == "v1");
    CHECK(model.attempt(4)->state == AttemptState::running);

    auto info = m.json("GET", "/api/v1/jobs/j-000001");
    CHECK(info["state"] == "succeeded");
    CHECK(m.json("GET", "/api/v1/jobs/j-000001/events")["events"].empty());  // new table, empty
    CHECK(m.call("GET", "/api/v1/jobs/j-000001/tasks/map/0/output").status == 200);

    // As after any restart: the old worker gets a full timeout to come back; it
    // does not, so its running attempt is lost and the task runs elsewhere.
    WorkerRegistration reg{"w-new", "127.0.0.1:2", 4, 0, {}, {}};
    m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
    m.clock.advance(std::chrono::milliseconds(1500));
    m.json("POST", "/internal/v1/workers/w-new/heartbeat", "{}");
    m.clock.advance(std::chrono::milliseconds(1500));  // w-old: past the fixture's 2s timeout
    m.reactor.fire_timers();
    CHECK(model.attempt(4)->state == AttemptState::lost);
    auto work = m.json("GET", "/internal/v1/workers/w-new/work?wait_ms=1000");
    REQUIRE(work["assignments"].size() == 2);
    std::map<std::int64_t, int> numbers;  // task index -> attempt number
    for (auto& a : work["assignments"]) {
      CHECK(a["job"] == "j-000002");
      CHECK(a["attempt_id"].get<std::int64_t>() >= 5);  // the stored counter goes on
      numbers[a["index"].get<std::int64_t>()] = a["attempt"].get<int>();
    }
    CHECK(numbers == std::map<std::int64_t, int>{{0, 2}, {1, 1}});
    auto next = m.json("POST", "/api/v1/jobs",
                       bundle(tmp.path / "b", "name: after-upgrade\nstages:\n"
                                              "  - name: s\n    command: [\"true\"]\n"));
    CHECK(next["id"] == "j-000003");
  }
  // The upgraded database has the shape of a new one.
  REQUIRE(SqliteStore::open(tmp.path / "fresh.db").ok());
  CHECK(shape(dir / "state.db") == shape(tmp.path / "fresh.db"));
  // And it opens again as it is, with everything written after the upgrade.
  Master again(dir);
  CHECK(again.co->model().jobs().size() == 3);
  CHECK(again.co->model().job("j-000001")->state == JobState::succeeded);
  CHECK(again.co->model().job("j-000003") != nullptr);
  CHECK(Db(dir / "state.db").version() == kSchemaVersion);
}

TEST_CASE("a state.db written before schema versions at today's shape is only stamped",
          "[component][schema]") {
  TempDir tmp;
  const fs::path dir = tmp.path / "master";
  std::string id;
  {
    Master m(dir);
    id = m.json("POST", "/api/v1/jobs",
                bundle(tmp.path / "b", "name: x\nstages:\n  - name: s\n    command: [\"true\"]\n"))["id"];
  }
  Db(dir / "state.db").exec("PRAGMA user_version = 0");
  Master m(dir);
  CHECK(Db(dir / "state.db").version() == kSchemaVersion);
  CHECK(m.json("GET", "/api/v1/jobs/" + id)["state"] == "queued");
  CHECK(m.json("GET", "/api/v1/jobs/" + id + "/events")["events"].size() == 1);
}

TEST_CASE("a state.db from a newer drover-master is refused, naming both versions",
          "[component][schema]") {
  TempDir tmp;
  const fs::path path = tmp.path / "state.db";
  REQUIRE(SqliteStore::open(path).ok());
  const int newer = kSchemaVersion + 1;
  Db(path).exec("PRAGMA user_version = " + std::to_string(newer));
  auto refused = SqliteStore::open(path);
  REQUIRE_FALSE(refused.ok());
  const std::string msg = refused.error().message;
  INFO(msg);
  CHECK(refused.error().code == ErrorCode::conflict);  // drover-master: "cannot start", exit 1
  CHECK(msg.find(path.string()) != std::string::npos);
  CHECK(msg.find("schema version " + std::to_string(newer)) != std::string::npos);
  CHECK(msg.find("up to " + std::to_string(kSchemaVersion)) != std::string::npos);
  CHECK(msg.find("newer drover-master") != std::string::npos);
  CHECK(msg.find("Downgrading is not supported") != std::string::npos);
  CHECK(Db(path).version() == newer);  // left as it was
}
