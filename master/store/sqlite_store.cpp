#include "master/store/sqlite_store.hpp"

#include <sqlite3.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "master/store/schema.hpp"
#include "master/store/statement.hpp"

namespace drover::master {

namespace {

std::int64_t ms(TimePoint t) { return to_millis(t); }

// The WAL is copied into the database file once it holds this many pages
// (SQLite's own automatic checkpoint mark). Not sooner: after a checkpoint
// has copied everything, the next commit starts the WAL over and must sync
// its new header first, a second fsync on that commit. Checkpointing an idle
// WAL every 200 ms made every sparse commit (a lone submit) pay it.
constexpr int kCheckpointPages = 1000;

// load_tasks() reserves room for a stage's tasks up to this many (a bigger
// index than any submit makes would be a damaged row: let the vector grow).
constexpr std::int64_t kMaxReserve = 100'000'000;

Result<sqlite3*> open_db(const std::filesystem::path& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error(ErrorCode::io, fmt::format("cannot open {}: {}", path.string(), msg));
  }
  return db;
}

}  // namespace

struct SqliteStore::Statements {
  explicit Statements(sqlite3* db)
      : meta(db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"),
        jobs(db, "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"),
        tasks(db, "INSERT OR REPLACE INTO tasks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        attempts(db, "INSERT OR REPLACE INTO attempts VALUES "
                     "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
        workers(db, "INSERT OR REPLACE INTO workers VALUES (?,?,?,?,?,?,?,?,?,?)"),
        cache_put(db, "INSERT OR REPLACE INTO cache VALUES (?,?,?)"),
        cache_drop(db, "DELETE FROM cache WHERE key = ?"),
        events(db, "INSERT INTO events (job, time, type, stage, idx, attempt, worker, reason, "
                   "message) VALUES (?,?,?,?,?,?,?,?,?)") {}
  Statement meta, jobs, tasks, attempts, workers, cache_put, cache_drop, events;
};

SqliteStore::SqliteStore(sqlite3* db) : db_(db) {}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& path) {
  // SQLite counts every allocation it makes, under a process-wide mutex,
  // for sqlite3_memory_used(), which drover never asks. Only possible
  // before SQLite initializes (a later call is refused, harmlessly).
  static const int counting_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)counting_off;
  auto db = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  if (!db.ok()) return db.error();
  std::unique_ptr<SqliteStore> store(new SqliteStore(*db));
  DROVER_TRY(store->exec("PRAGMA journal_mode=WAL"));
  DROVER_TRY(store->exec("PRAGMA synchronous=FULL"));
  DROVER_TRY(store->exec("PRAGMA busy_timeout=5000"));
  auto from = prepare_schema(*db, path.string());
  if (!from.ok()) return from.error();
  // Readers get their own connection: in WAL mode they see the last commit
  // while the writer thread writes the next one.
  auto reader = open_db(path, SQLITE_OPEN_READONLY);
  if (!reader.ok()) return reader.error();
  store->reader_ = *reader;
  sqlite3_busy_timeout(store->reader_, 5000);
  auto checkpointer = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  if (!checkpointer.ok()) return checkpointer.error();
  store->checkpointer_ = *checkpointer;
  sqlite3_busy_timeout(store->checkpointer_, 5000);
  // A connection opens the database (and its WAL) lazily; until it has, a
  // checkpoint through it does nothing.
  if (sqlite3_exec(store->checkpointer_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr,
                   nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::io, fmt::format("cannot read {}: {}", path.string(),
                                                 sqlite3_errmsg(store->checkpointer_)));
  }
  DROVER_TRY(store->exec("PRAGMA wal_autocheckpoint=0"));  // the writer's commits never checkpoint
  // Set after that pragma, which clears the hook: each commit tells the
  // checkpoint thread how many pages the WAL now holds.
  sqlite3_wal_hook(
      *db,
      [](void* self, sqlite3*, const char*, int pages) {
        static_cast<SqliteStore*>(self)->wal_pages_.store(pages, std::memory_order_relaxed);
        return SQLITE_OK;
      },
      store.get());
  store->checkpoint_thread_ = std::thread([s = store.get()] { s->checkpoint_loop(); });
  return store;
}

void SqliteStore::checkpoint_loop() {
  std::unique_lock lock(checkpoint_mu_);
  while (!stopping_) {
    checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; });
    int pages = wal_pages_.load(std::memory_order_relaxed);
    if (stopping_ || pages < kCheckpointPages) continue;
    lock.unlock();
    // PASSIVE: copies what no reader still needs and never blocks the writer.
    int log = 0;
    int copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(checkpointer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("state checkpoint failed: {}", sqlite3_errmsg(checkpointer_));
    } else if (rc == SQLITE_OK && copied == log) {
      // All copied: the next commit starts the WAL over. Unless one already
      // did (and reported its own count), nothing is left to copy.
      wal_pages_.compare_exchange_strong(pages, 0, std::memory_order_relaxed);
    }
    lock.lock();
  }
}

SqliteStore::~SqliteStore() {
  if (checkpoint_thread_.joinable()) {
    {
      std::lock_guard lock(checkpoint_mu_);
      stopping_ = true;
    }
    checkpoint_cv_.notify_all();
    checkpoint_thread_.join();
  }
  sqlite3_close(checkpointer_);
  statements_.reset();  // sqlite3_close() refuses a connection with live statements
  sqlite3_close(reader_);
  sqlite3_close(db_);
}

Status SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(ErrorCode::io, fmt::format("sqlite: {}", msg));
  }
  return ok_status();
}

namespace {

Status save_job(Statement& st, const Job& j) {
  const std::string spec = nlohmann::json(j.spec).dump();
  st.bind(j.id).bind(j.seq).bind(to_string(j.state)).bind(spec);
  st.bind(j.bundle_digest).bind(j.user).bind(j.source).bind(ms(j.submitted_at));
  st.bind(ms(j.started_at)).bind(ms(j.finished_at)).bind(j.message).bind(j.rerun_of);
  return st.run();
}

Status save_task(Statement& st, const TaskKey& k, const Task& t) {
  st.bind(k.job).bind(k.stage).bind(t.index).bind(t.input_kind).bind(t.input);
  st.bind(to_string(t.state)).bind(t.failures).bind(t.lost);
  st.bind(t.output_digest).bind(static_cast<std::int64_t>(t.output_bytes));
  st.bind(t.checkpoint_digest).bind(t.gave_up ? 1 : 0).bind(t.cached ? 1 : 0).bind(t.cache_base);
  return st.run();
}

Status save_attempt(Statement& st, const Attempt& a) {
  st.bind(a.id).bind(a.task.job).bind(a.task.stage).bind(a.task.index).bind(a.number);
  st.bind(a.worker).bind(to_string(a.state)).bind(ms(a.not_before));
  st.bind(ms(a.assigned_at)).bind(ms(a.started_at)).bind(ms(a.finished_at));
  st.bind(a.exit_code).bind(a.signal).bind(a.reason).bind(a.message);
  st.bind(a.output_digest).bind(static_cast<std::int64_t>(a.output_bytes));
  st.bind(a.stdout_digest).bind(a.stderr_digest).bind(a.cpu_ms);
  return st.run();
}

Status save_event(Statement& st, const JobId& job, const JobEvent& e) {
  st.bind(job).bind(e.time).bind(e.type).bind(e.stage).bind(e.index).bind(e.attempt);
  st.bind(e.worker).bind(e.reason).bind(e.message);
  return st.run();
}

Status save_worker(Statement& st, const Worker& w) {
  const std::string labels = nlohmann::json(w.labels).dump();
  st.bind(w.id).bind(w.address).bind(w.cpus).bind(static_cast<std::int64_t>(w.memory));
  st.bind(labels).bind(to_string(w.state));
  st.bind(ms(w.registered_at)).bind(ms(w.last_heartbeat_at));
  st.bind(w.failures_in_a_row).bind(ms(w.excluded_until));
  return st.run();
}

}  // namespace

Status SqliteStore::write(const Snapshot& snap) {
  if (snap.empty()) return ok_status();
  DROVER_TRY(exec("BEGIN IMMEDIATE"));
  if (!statements_) statements_ = std::make_unique<Statements>(db_);
  Statements& st = *statements_;
  auto body = [&]() -> Status {
    if (snap.counters) {
      DROVER_TRY(st.meta.bind("next_attempt_id").bind(snap.counters->first).run());
      DROVER_TRY(st.meta.bind("next_job_seq").bind(snap.counters->second).run());
    }
    for (const Job& j : snap.jobs) DROVER_TRY(save_job(st.jobs, j));
    for (const auto& [k, t] : snap.tasks) DROVER_TRY(save_task(st.tasks, k, t));
    for (const Attempt& a : snap.attempts) DROVER_TRY(save_attempt(st.attempts, a));
    for (const Worker& w : snap.workers) DROVER_TRY(save_worker(st.workers, w));
    for (const auto& [key, entry] : snap.cache) {
      if (!entry) {
        DROVER_TRY(st.cache_drop.bind(key).run());
      } else {
        DROVER_TRY(st.cache_put.bind(key).bind(entry->ref)
                       .bind(static_cast<std::int64_t>(entry->bytes)).run());
      }
    }
    for (const auto& [job, e] : snap.events) DROVER_TRY(save_event(st.events, job, e));
    if (!snap.removed_jobs.empty() || !snap.removed_attempts.empty()) DROVER_TRY(remove(snap));
    return ok_status();
  };
  Status s = body();
  if (!s.ok()) {
    statements_.reset();
    (void)exec("ROLLBACK");
    return s;
  }
  return exec("COMMIT");
}

Status SqliteStore::remove(const Snapshot& snap) {
  Statement jobs(db_, "DELETE FROM jobs WHERE id = ?");
  Statement tasks(db_, "DELETE FROM tasks WHERE job = ?");
  Statement events(db_, "DELETE FROM events WHERE job = ?");
  for (const JobId& id : snap.removed_jobs) {
    DROVER_TRY(jobs.bind(id).run());
    DROVER_TRY(tasks.bind(id).run());
    DROVER_TRY(events.bind(id).run());
  }
  Statement attempts(db_, "DELETE FROM attempts WHERE id = ?");
  for (AttemptId id : snap.removed_attempts) DROVER_TRY(attempts.bind(id).run());
  return ok_status();
}

Status SqliteStore::load(Model& model) {
  {
    Statement st(db_, "SELECT key, value FROM meta");
    std::int64_t next_attempt = 1, next_seq = 1;
    while (st.step()) {
      if (st.text(0) == "next_attempt_id") next_attempt = st.int64(1);
      if (st.text(0) == "next_job_seq") next_seq = st.int64(1);
    }
    DROVER_TRY(st.status());
    model.load_counters(next_attempt, next_seq);
  }
  DROVER_TRY(load_jobs(model));
  DROVER_TRY(load_tasks(model));
  DROVER_TRY(load_attempts(model));
  DROVER_TRY(load_workers(model));
  {
    Statement st(db_, "SELECT key, output_ref, output_bytes FROM cache");
    while (st.step()) {
      model.load_cache(st.text(0), CachedOutput{st.text(1), static_cast<std::uint64_t>(st.int64(2))});
    }
    DROVER_TRY(st.status());
  }
  model.rebuild();
  return ok_status();
}

Result<std::vector<JobEvent>> SqliteStore::events(const JobId& job, std::int64_t after, int limit) {
  std::lock_guard lock(reader_mu_);
  Statement st(reader_, "SELECT seq, time, type, stage, idx, attempt, worker, reason, message "
                        "FROM events WHERE job = ? AND seq > ? ORDER BY seq LIMIT ?");
  st.bind(job).bind(after).bind(limit);
  std::vector<JobEvent> out;
  while (st.step()) {
    JobEvent& e = out.emplace_back();
    e.seq = st.int64(0);
    e.time = st.int64(1);
    e.type = st.text(2);
    e.stage = st.text(3);
    e.index = st.int64(4);
    e.attempt = static_cast<int>(st.int64(5));
    e.worker = st.text(6);
    e.reason = st.text(7);
    e.message = st.text(8);
  }
  DROVER_TRY(st.status());
  return out;
}

Status SqliteStore::load_jobs(Model& model) {
  Statement st(db_, "SELECT id, seq, state, spec, bundle_digest, user, source, submitted_at, "
                    "started_at, finished_at, message, rerun_of FROM jobs");
  while (st.step()) {
    Job j;
    j.id = st.text(0);
    j.seq = st.int64(1);
    j.state = job_state_from_string(st.text(2)).value_or(JobState::failed);
    try {
      j.spec = nlohmann::json::parse(st.text(3)).get<JobSpec>();
    } catch (const std::exception& e) {
      return make_error(ErrorCode::io, fmt::format("job {}: stored spec unreadable: {}", j.id, e.what()));
    }
    j.bundle_digest = st.text(4);
    j.user = st.text(5);
    j.source = st.text(6);
    j.submitted_at = from_millis(st.int64(7));
    j.started_at = from_millis(st.int64(8));
    j.finished_at = from_millis(st.int64(9));
    j.message = st.text(10);
    j.rerun_of = st.text(11);
    j.stages.resize(j.spec.stages.size());
    model.load_job(std::move(j));
  }
  return st.status();
}

Status SqliteStore::load_tasks(Model& model) {
  {
    // Each stage's vector is allocated once: the highest index is one seek in the primary key.
    Statement top(db_, "SELECT MAX(idx) FROM tasks WHERE job = ? AND stage = ?");
    for (const auto& [id, job] : model.jobs()) {
      for (int s = 0; s < static_cast<int>(job.stages.size()); ++s) {
        top.bind(id).bind(s);
        const std::int64_t highest = top.step() ? top.int64(0) : -1;  // NULL (no rows): 0
        DROVER_TRY(top.run());  // ends the query and resets it for the next binds
        if (highest >= 0 && highest < kMaxReserve) {
          model.reserve_tasks(id, s, static_cast<std::size_t>(highest) + 1);
        }
      }
    }
  }
  Statement st(db_, "SELECT job, stage, idx, input_kind, input, state, failures, lost, "
                    "output_digest, output_bytes, checkpoint_digest, gave_up, cached, cache_base "
                    "FROM tasks ORDER BY job, stage, idx");
  while (st.step()) {
    Task t;
    t.index = st.int64(2);
    t.input_kind = st.text(3);
    t.input = st.text(4);
    t.state = attempt_state_from_string(st.text(5)).value_or(TaskState::pending);
    t.failures = static_cast<int>(st.int64(6));
    t.lost = static_cast<int>(st.int64(7));
    t.output_digest = st.text(8);
    t.output_bytes = static_cast<std::uint64_t>(st.int64(9));
    t.checkpoint_digest = st.text(10);
    t.gave_up = st.int64(11) != 0;
    t.cached = st.int64(12) != 0;
    t.cache_base = st.text(13);
    model.load_task(st.text(0), static_cast<int>(st.int64(1)), std::move(t));
  }
  return st.status();
}

Status SqliteStore::load_attempts(Model& model) {
  Statement st(db_, "SELECT id, job, stage, idx, number, worker, state, not_before, assigned_at, "
                    "started_at, finished_at, exit_code, signal, reason, message, output_digest, "
                    "output_bytes, stdout_digest, stderr_digest, cpu_ms FROM attempts ORDER BY id");
  while (st.step()) {
    Attempt a;
    a.id = st.int64(0);
    a.task = TaskKey{st.text(1), static_cast<int>(st.int64(2)), st.int64(3)};
    if (!model.job(a.task.job)) continue;
    a.number = static_cast<int>(st.int64(4));
    a.worker = st.text(5);
    a.state = attempt_state_from_string(st.text(6)).value_or(AttemptState::lost);
    a.not_before = from_millis(st.int64(7));
    a.assigned_at = from_millis(st.int64(8));
    a.started_at = from_millis(st.int64(9));
    a.finished_at = from_millis(st.int64(10));
    a.exit_code = static_cast<int>(st.int64(11));
    a.signal = static_cast<int>(st.int64(12));
    a.reason = st.text(13);
    a.message = st.text(14);
    a.output_digest = st.text(15);
    a.output_bytes = static_cast<std::uint64_t>(st.int64(16));
    a.stdout_digest = st.text(17);
    a.stderr_digest = st.text(18);
    a.cpu_ms = st.int64(19);
    model.load_attempt(std::move(a));
  }
  return st.status();
}

Status SqliteStore::load_workers(Model& model) {
  Statement st(db_, "SELECT id, address, cpus, memory, labels, state, registered_at, "
                    "last_heartbeat_at, failures_in_a_row, excluded_until FROM workers");
  while (st.step()) {
    Worker w;
    w.id = st.text(0);
    w.address = st.text(1);
    w.cpus = st.real(2);
    w.memory = static_cast<std::uint64_t>(st.int64(3));
    auto labels = nlohmann::json::parse(st.text(4), nullptr, false);
    if (labels.is_object()) {
      for (auto& [k, v] : labels.items()) {
        if (v.is_string()) w.labels[k] = v.get<std::string>();
      }
    }
    w.state = nlohmann::json(st.text(5)).get<WorkerState>();
    w.registered_at = from_millis(st.int64(6));
    w.last_heartbeat_at = from_millis(st.int64(7));
    w.failures_in_a_row = static_cast<int>(st.int64(8));
    w.excluded_until = from_millis(st.int64(9));
    model.load_worker(std::move(w));
  }
  return st.status();
}

}  // namespace drover::master
