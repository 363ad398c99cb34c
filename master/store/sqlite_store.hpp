#pragma once
// Store on SQLite in WAL mode (data_dir/state.db). Owned by the master; load()
// runs before any write(), and writes come from one thread at a time. A committed save() survives a kill -9 of the
// master; synchronous=FULL makes it survive power loss too. The writer
// connection is opened without SQLite's own mutex (SQLITE_OPEN_NOMUTEX): only
// one thread uses it at a time, as said above.
//
// Checkpoints (copying the WAL into the database file, with its fsync) run on
// a thread and connection of their own, checked every 200 ms, once the WAL
// holds 1000 pages, instead of inside whichever commit crossed SQLite's
// 1000-page mark: that commit, and every reply waiting on it, took
// milliseconds longer.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "master/store/store.hpp"

struct sqlite3;

namespace drover::master {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database and brings its schema to
  // kSchemaVersion (schema.hpp); conflict when a newer drover-master wrote it.
  static Result<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& path);
  ~SqliteStore() override;

  Status write(const Snapshot& snapshot) override;
  Status load(Model& model) override;
  Result<std::vector<JobEvent>> events(const JobId& job, std::int64_t after, int limit) override;

 private:
  explicit SqliteStore(sqlite3* db);
  Status exec(const char* sql);
  // Retention: deletes the snapshot's removed jobs (tasks, events) and attempts.
  Status remove(const Snapshot& snapshot);
  Status load_jobs(Model& model);
  Status load_tasks(Model& model);
  Status load_attempts(Model& model);
  Status load_workers(Model& model);

  // write()'s statements, prepared once; dropped after a failed write (a
  // Statement keeps its first error) and before the connection closes.
  struct Statements;
  std::unique_ptr<Statements> statements_;
  sqlite3* db_;
  sqlite3* reader_ = nullptr;  // read-only connection for events(), used under reader_mu_
  std::mutex reader_mu_;
  void checkpoint_loop();
  sqlite3* checkpointer_ = nullptr;  // checkpoint_thread_'s connection
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool stopping_ = false;  // under checkpoint_mu_
  std::atomic<int> wal_pages_{0};  // pages in the WAL after the last commit (SQLite's WAL hook)
  std::thread checkpoint_thread_;
};

}  // namespace drover::master
