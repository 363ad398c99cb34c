// Retention through a real Coordinator, SQLite store and blob store: old
// finished jobs leave the database, blobs nothing names leave the disk, and
// nothing a remaining job names (bundles, reused outputs, logs) or an upload
// in flight is ever deleted.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/component/master_fixture.hpp"

using namespace drover;
using namespace drover::master;
using namespace drover::master::testing;

namespace {

constexpr auto kDay = std::chrono::hours(24);

// Two tasks; with fail_index the second fails for good and the job ends partial.
std::string spec(const std::string& name) {
  return "name: " + name + "\nmax_attempts: 1\nmax_failed_tasks: 1\nstages:\n"
         "  - name: s\n    command: [\"true\"]\n    inputs: {range: 2}\n";
}

struct Placed {
  std::string job;
  std::int64_t index = 0;
  std::string attempt;
};

// One worker with room for everything; attempts it is not told to end keep running.
struct FakeWorker {
  explicit FakeWorker(Master& m) : m(m) {
    WorkerRegistration reg{"w1", "127.0.0.1:1", 256, 0, {}, {}};
    m.json("POST", "/internal/v1/workers/register", nlohmann::json(reg).dump());
  }
  std::vector<Placed> poll() {
    m.reactor.run_ready();
    std::vector<Placed> out;
    auto work = m.json("GET", "/internal/v1/workers/w1/work?wait_ms=1000");
    for (auto& a : work["assignments"]) {
      Placed p{a["job"].get<std::string>(), a["index"].get<std::int64_t>(),
               std::to_string(a["attempt_id"].get<std::int64_t>())};
      m.json("POST", "/internal/v1/attempts/" + p.attempt + "/started", "{}");
      out.push_back(p);
    }
    return out;
  }
  std::string upload(const std::string& content) {
    std::string d = sha256_hex(content);
    REQUIRE(m.call("PUT", "/internal/v1/blobs/" + d, content).status == 201);
    return d;
  }
  void finish(const Placed& p, bool ok) {
    AttemptReport r;
    r.state = ok ? AttemptState::succeeded : AttemptState::failed;
    r.exit_code = ok ? 0 : 3;
    r.stdout_digest = upload("log of attempt " + p.attempt);
    if (ok) {
      r.output_digest = upload("output of " + p.job + "/" + std::to_string(p.index));
    } else {
      r.reason = FailureReason::exit_code;
      r.message = "exit code 3";
    }
    m.json("POST", "/internal/v1/attempts/" + p.attempt + "/finished", nlohmann::json(r).dump());
  }
  // Runs the placed tasks of `jobs` to their end (index 1 fails when fail_second).
  void end_jobs(const std::vector<Placed>& placed, const std::set<std::string>& jobs,
                bool fail_second) {
    for (const Placed& p : placed) {
      if (jobs.count(p.job)) finish(p, !(fail_second && p.index == 1));
    }
    m.reactor.run_ready();
  }
  Master& m;
};

std::string submit(Master& m, const fs::path& dir, const std::string& name) {
  return m.json("POST", "/api/v1/jobs", bundle(dir / name, spec(name)))["id"];
}

void set_mtime(const fs::path& p, TimePoint t) {
  timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = to_millis(t) / 1000;
  ts[0].tv_nsec = ts[1].tv_nsec = 0;
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
}

std::map<std::string, fs::path> blob_files(const Master& m) {
  std::map<std::string, fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(m.blobs.dir().root())) {
    if (e.is_regular_file()) out[e.path().filename().string()] = e.path();
  }
  return out;
}

// Every blob is made `age` old (as if written that long ago by the manual clock).
void age_blobs(const Master& m, Duration age) {
  for (const auto& [name, path] : blob_files(m)) set_mtime(path, m.clock.now() - age);
}

// The invariant: every blob a remaining job names is on disk.
void check_nothing_referenced_is_gone(const Master& m) {
  auto files = blob_files(m);
  for (const std::string& ref : m.co->model().referenced_refs()) {
    INFO("referenced blob " << ref);
    CHECK(files.count(ref) == 1);
  }
}

std::int64_t rows(const fs::path& db_path, const std::string& sql, const std::string& job) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, job.c_str(), -1, SQLITE_TRANSIENT);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// Rows of the job in jobs, tasks, attempts and events together.
std::int64_t job_rows(const fs::path& db, const std::string& job) {
  return rows(db, "SELECT count(*) FROM jobs WHERE id = ?", job) +
         rows(db, "SELECT count(*) FROM tasks WHERE job = ?", job) +
         rows(db, "SELECT count(*) FROM attempts WHERE job = ?", job) +
         rows(db, "SELECT count(*) FROM events WHERE job = ?", job);
}

void retention_pass(Master& m) {
  m.co->retention_pass();
  m.reactor.run_ready();  // the deleting commit, then the collection
}

}  // namespace

TEST_CASE("retention deletes old finished jobs and unreferenced blobs, keeps what live jobs name",
          "[component][retention]") {
  TempDir tmp;
  const fs::path dir = tmp.path / "master";
  std::string old_done, old_partial, rerun, running, recent;
  std::string old_output, reused_output, orphan, in_flight, old_bundle;
  {
    Master m(dir);
    FakeWorker w(m);
    old_done = submit(m, tmp.path, "done");
    old_partial = submit(m, tmp.path, "partial");
    running = submit(m, tmp.path, "running");
    auto placed = w.poll();
    REQUIRE(placed.size() == 6);
    w.end_jobs(placed, {old_done}, false);
    w.end_jobs(placed, {old_partial}, true);
    REQUIRE(m.json("GET", "/api/v1/jobs/" + old_done)["state"] == "succeeded");
    REQUIRE(m.json("GET", "/api/v1/jobs/" + old_partial)["state"] == "partial");
    const Model& model = m.co->model();
    old_output = model.task(TaskKey{old_done, 0, 0}).output_digest;
    old_bundle = model.job(old_done)->bundle_digest;
    reused_output = model.task(TaskKey{old_partial, 0, 0}).output_digest;

    m.clock.advance(6 * kDay);
    rerun = m.json("POST", "/api/v1/jobs/" + old_partial + "/rerun?failed_only=true")["id"];
    REQUIRE(model.task(TaskKey{rerun, 0, 0}).output_digest == reused_output);
    m.clock.advance(2 * kDay);
    recent = submit(m, tmp.path, "recent");
    w.end_jobs(w.poll(), {recent}, false);  // the rerun's task keeps running
    REQUIRE(m.json("GET", "/api/v1/jobs/" + recent)["state"] == "succeeded");
    REQUIRE(m.json("GET", "/api/v1/jobs/" + rerun)["state"] == "running");

    orphan = w.upload("uploaded, never used");
    age_blobs(m, std::chrono::hours(2));  // everything so far was written long ago...
    in_flight = w.upload("a bundle arriving right now");
    set_mtime(m.blobs.dir().path_of(in_flight), m.clock.now() - std::chrono::minutes(1));
    REQUIRE(job_rows(dir / "state.db", old_done) > 0);

    retention_pass(m);
    CHECK(m.co->model().job(old_done) == nullptr);
    CHECK(m.co->model().job(old_partial) == nullptr);
    for (const std::string& live : {rerun, running, recent}) CHECK(m.co->model().job(live));
    CHECK(m.call("GET", "/api/v1/jobs/" + old_done).status == 404);
    CHECK(m.call("GET", "/api/v1/jobs/" + old_done + "/events").status == 404);
    CHECK(job_rows(dir / "state.db", old_done) == 0);
    CHECK(job_rows(dir / "state.db", old_partial) == 0);
    for (const std::string& live : {rerun, running, recent}) CHECK(job_rows(dir / "state.db", live) > 0);

    check_nothing_referenced_is_gone(m);
    CHECK(m.blobs.has(reused_output));  // the rerun reuses it
    CHECK(m.blobs.has(m.co->model().job(rerun)->bundle_digest));  // shared with the deleted job
    CHECK_FALSE(m.blobs.has(old_output));
    CHECK_FALSE(m.blobs.has(old_bundle));
    CHECK_FALSE(m.blobs.has(orphan));
    CHECK(m.blobs.has(in_flight));  // younger than the grace period
    REQUIRE(m.co->last_garbage().has_value());
    CHECK(m.co->last_garbage()->errors.empty());
    // The old job's 2 outputs, 2 logs and bundle, the partial job's 2 logs, the orphan.
    CHECK(m.co->last_garbage()->blobs == 8);

    // An upload of a blob that is still on disk but unreferenced makes it young again.
    set_mtime(m.blobs.dir().path_of(in_flight), m.clock.now() - std::chrono::hours(2));
    w.upload("a bundle arriving right now");
    m.clock.advance(std::chrono::hours(2));  // the next collection is due
    retention_pass(m);
    CHECK(m.blobs.has(in_flight));
  }
  // A restart on the same data_dir loads without the deleted jobs.
  Master again(dir);
  CHECK(again.co->model().job(old_done) == nullptr);
  CHECK(again.co->model().job(old_partial) == nullptr);
  REQUIRE(again.co->model().job(rerun) != nullptr);
  CHECK(again.co->model().task(TaskKey{rerun, 0, 0}).output_digest == reused_output);
  CHECK(again.json("GET", "/api/v1/jobs/" + recent)["state"] == "succeeded");
  CHECK(again.json("GET", "/api/v1/jobs/" + running)["state"] == "running");
  check_nothing_referenced_is_gone(again);
  auto list = again.json("GET", "/api/v1/jobs?limit=100");
  CHECK(list["jobs"].size() == 3);
}

TEST_CASE("retention never deletes a blob a remaining job names, pass after pass",
          "[component][retention]") {
  // A mix that changes every 3 days: jobs that succeed, end partial, keep
  // running, reruns of partial jobs (reusing their outputs) and of whole jobs
  // (sharing their bundle), unused uploads; after each pass every referenced
  // blob is on disk and every old unreferenced one is gone.
  TempDir tmp;
  Master m(tmp.path / "master");
  FakeWorker w(m);
  std::vector<std::string> partials, dones;
  std::set<std::string> ever_deleted_jobs;
  for (int round = 0; round < 6; ++round) {
    const std::string r = std::to_string(round);
    std::string done = submit(m, tmp.path, "done" + r);
    std::string partial = submit(m, tmp.path, "partial" + r);
    submit(m, tmp.path, "running" + r);
    std::set<std::string> to_end = {done, partial};
    if (!partials.empty() && m.co->model().job(partials.back())) {
      m.json("POST", "/api/v1/jobs/" + partials.back() + "/rerun?failed_only=true");
    }
    if (!dones.empty() && m.co->model().job(dones.back())) {
      to_end.insert(m.json("POST", "/api/v1/jobs/" + dones.back() + "/rerun")["id"].get<std::string>());
    }
    auto placed = w.poll();
    std::vector<Placed> ok, partial_runs;
    for (const Placed& p : placed) (p.job == partial ? partial_runs : ok).push_back(p);
    w.end_jobs(ok, to_end, false);
    w.end_jobs(partial_runs, {partial}, true);
    partials.push_back(partial);
    dones.push_back(done);
    w.upload("unused upload " + r);

    m.clock.advance(3 * kDay);
    age_blobs(m, std::chrono::hours(2));
    const std::string young = w.upload("in flight " + r);
    set_mtime(m.blobs.dir().path_of(young), m.clock.now() - std::chrono::minutes(5));
    std::map<std::string, bool> ended_before;  // job -> whether it had ended
    for (const auto& [id, job] : m.co->model().jobs()) ended_before[id] = is_terminal(job.state);

    retention_pass(m);
    INFO("round " << round);
    check_nothing_referenced_is_gone(m);
    auto refs = m.co->model().referenced_refs();
    const std::string empty = sha256_hex(empty_archive());  // named by workers, never uploaded
    auto blobs = blob_files(m);
    CHECK(blobs.count(empty) == 1);
    for (const auto& [name, path] : blobs) {
      INFO("blob on disk " << name);
      CHECK((refs.count(name) == 1 || name == young || name == empty));  // old and unreferenced: gone
    }
    for (const auto& [id, ended] : ended_before) {
      if (m.co->model().job(id)) continue;
      INFO("deleted job " << id);
      CHECK(ended);  // queued and running jobs stay, whatever their age
      ever_deleted_jobs.insert(id);
      CHECK(job_rows(tmp.path / "master" / "state.db", id) == 0);
    }
  }
  CHECK(ever_deleted_jobs.size() >= 8);
  for (const auto& [id, job] : m.co->model().jobs()) {
    CHECK((!is_terminal(job.state) || m.clock.now() - job.finished_at < 7 * kDay));
  }
}
