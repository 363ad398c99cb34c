// drover-statebench: durable state changes per second through the master's own
// Coordinator and SqliteStore (WAL, synchronous=FULL, as the master opens it),
// with group commit and, as the baseline, one change per transaction. Run by
// tests/bench/state_bench.py; a benchmark, not a test: it prints figures and
// never judges them.
//
// One state change is one operation a worker reports about an existing task:
// `attempt started`, then `attempt finished` (succeeded). Each is applied to
// the Model on the coordinator's strand and answered only after the commit
// holding it; each writes its attempt row, its task row and event rows.
//
// Modes, each on a fresh database in its own directory under --dir:
//   coordinator, --inflight N: N operations outstanding at a time (as from N
//     concurrent requests); the coordinator commits what gathered meanwhile.
//   coordinator, inflight 1: the next operation waits for the previous commit.
//   store, batch B: Model + SqliteStore::save() of every B changes (no
//     coordinator), to separate the store's cost from the strand's.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <sys/resource.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/base/clock.hpp"
#include "common/fs/fs.hpp"
#include "common/http/event_loop.hpp"
#include "common/jobspec/job_spec.hpp"
#include "master/coordinator/coordinator.hpp"
#include "master/store/blob_store.hpp"
#include "master/store/sqlite_store.hpp"

namespace drover::master {
namespace {

namespace fs = std::filesystem;

struct Options {
  fs::path dir;
  std::int64_t changes = 200'000;
  std::int64_t baseline_changes = 2'000;
  int inflight = 4096;
  std::string json;
  std::string only;  // one mode (profiling): group | one | store-batch | store-one
};

struct Figures {
  std::string mode;
  std::int64_t changes = 0;
  double seconds = 0;
  std::int64_t commits = 0;
  double write_seconds = 0;  // inside Store::write (the writer thread)
  double cpu_seconds = 0;    // user + system time of the process (all threads) meanwhile
  double per_second() const { return seconds > 0 ? static_cast<double>(changes) / seconds : 0; }
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

double seconds_since(const Clock& clock, std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(clock.steady_now() - t0).count();
}

// Forwards to the real store and counts its transactions.
class CountingStore final : public Store {
 public:
  CountingStore(Store& inner, const Clock& clock) : inner_(inner), clock_(clock) {}
  Status write(const Snapshot& snapshot) override {
    auto t0 = clock_.steady_now();
    Status s = inner_.write(snapshot);
    write_seconds_ += seconds_since(clock_, t0);
    ++commits_;
    return s;
  }
  Status load(Model& model) override { return inner_.load(model); }
  Result<std::vector<JobEvent>> events(const JobId& job, std::int64_t after, int limit) override {
    return inner_.events(job, after, limit);
  }
  void reset() {
    commits_ = 0;
    write_seconds_ = 0;
  }
  std::int64_t commits() const { return commits_; }
  double write_seconds() const { return write_seconds_; }

 private:
  Store& inner_;
  const Clock& clock_;
  std::int64_t commits_ = 0;  // written on the writer thread, read after wait_idle()
  double write_seconds_ = 0;
};

NewJob bench_job(std::int64_t tasks) {
  auto spec = parse_job_spec(fmt::format(
      "name: statebench\nstages:\n  - name: t\n    command: [\"/bin/true\"]\n"
      "    inputs: {{range: {}}}\n", tasks));
  if (!spec.ok()) {
    std::cerr << "drover-statebench: " << spec.error().describe() << "\n";
    std::exit(1);
  }
  NewJob nj;
  nj.spec = std::move(*spec);
  nj.bundle_digest = std::string(64, 'a');
  auto& inputs = nj.stage_inputs.emplace_back();
  for (std::int64_t i = 0; i < tasks; ++i) inputs.emplace_back("index", std::to_string(i));
  return nj;
}

AttemptReport success(const std::string& digest, std::int64_t at_ms) {
  AttemptReport r;
  r.state = AttemptState::succeeded;
  r.exit_code = 0;
  r.output_digest = digest;
  r.output_bytes = 6;
  r.started_at = at_ms;
  r.finished_at = at_ms + 1;
  return r;
}

// Drives a Coordinator on its event loop: register a worker, submit a job of
// `tasks` tasks, take every assignment, then report `started` and `finished`
// for each attempt with `inflight` operations outstanding.
class CoordinatorRun {
 public:
  CoordinatorRun(Coordinator& coord, http::EventLoop& loop, CountingStore& store,
                 const Clock& clock, std::int64_t tasks, int inflight, std::string digest)
      : coord_(coord), loop_(loop), store_(store), clock_(clock), tasks_(tasks),
        inflight_(inflight), digest_(std::move(digest)) {}

  void begin() {
    WorkerRegistration reg;
    reg.id = "w1";
    reg.address = "127.0.0.1:1";
    reg.cpus = static_cast<double>(tasks_ + 1);
    coord_.register_worker(reg, [this](Result<RegistrationReply> r) {
      if (!check(r.ok() ? ok_status() : Status(r.error()))) return;
      coord_.submit(bench_job(tasks_), [this](Result<JobId> id) {
        if (check(id.ok() ? ok_status() : Status(id.error()))) poll();
      });
    });
  }

  const std::optional<Error>& error() const { return error_; }
  double seconds() const { return seconds_; }
  double cpu() const { return cpu_; }

 private:
  bool check(const Status& s) {
    if (s.ok()) return true;
    if (!error_) error_ = s.error();
    loop_.stop();
    return false;
  }

  void poll() {
    coord_.poll_work("w1", std::chrono::seconds(5), [this](Result<WorkReply> r) {
      if (!check(r.ok() ? ok_status() : Status(r.error()))) return;
      for (const Assignment& a : r->assignments) attempts_.push_back(a.attempt_id);
      if (static_cast<std::int64_t>(attempts_.size()) < tasks_) {
        loop_.post([this] { poll(); });
        return;
      }
      // Setup done: the clock starts with the first operation.
      store_.reset();
      cpu0_ = cpu_seconds();
      t0_ = clock_.steady_now();
      for (int i = 0; i < inflight_; ++i) issue();
    });
  }

  // Operation n: started for attempt n, then (n >= tasks) finished for attempt n - tasks.
  void issue() {
    if (next_ >= 2 * tasks_) return;
    const std::int64_t n = next_++;
    auto done = [this](Status s) {
      if (!check(s)) return;
      if (++done_ == 2 * tasks_) {
        seconds_ = seconds_since(clock_, t0_);
        cpu_ = cpu_seconds() - cpu0_;
        loop_.stop();
        return;
      }
      issue();
    };
    if (n < tasks_) {
      coord_.attempt_started(attempts_[n], coord_.now(), [done](Result<Ok> r) {
        done(r.ok() ? ok_status() : Status(r.error()));
      });
    } else {
      const std::int64_t at = to_millis(coord_.now());
      coord_.attempt_finished(attempts_[n - tasks_], success(digest_, at), [done](Result<Ok> r) {
        done(r.ok() ? ok_status() : Status(r.error()));
      });
    }
  }

  Coordinator& coord_;
  http::EventLoop& loop_;
  CountingStore& store_;
  const Clock& clock_;
  std::int64_t tasks_;
  int inflight_;
  std::string digest_;
  std::vector<AttemptId> attempts_;
  std::int64_t next_ = 0, done_ = 0;
  std::chrono::steady_clock::time_point t0_;
  double seconds_ = 0;
  double cpu0_ = 0, cpu_ = 0;
  std::optional<Error> error_;
};

Result<Figures> coordinator_mode(const fs::path& dir, std::int64_t changes, int inflight) {
  DROVER_TRY(make_dirs(dir / "blobs"));
  auto sqlite = SqliteStore::open(dir / "state.db");
  if (!sqlite.ok()) return sqlite.error();
  SystemClock clock;
  CountingStore store(**sqlite, clock);
  BlobStore blobs(dir / "blobs");
  const std::string output = "output";
  const std::string digest = sha256_hex(output);
  DROVER_TRY(blobs.put(digest, output));
  const std::int64_t tasks = std::max<std::int64_t>(1, changes / 2);
  CoordinatorOptions opts;
  opts.worker_timeout = std::chrono::hours(1);  // no heartbeats here
  opts.retention = Duration{0};
  opts.max_candidates_per_pass = static_cast<std::size_t>(tasks);
  http::EventLoop loop;
  Figures f;
  {
    EventLoopReactor reactor(loop);
    Coordinator coord(clock, reactor, store, blobs, opts);
    DROVER_TRY(coord.start());
    CoordinatorRun run(coord, loop, store, clock, tasks, inflight, digest);
    loop.post([&run] { run.begin(); });
    loop.run();
    reactor.wait_idle();
    if (run.error()) return *run.error();
    f.mode = fmt::format("coordinator, inflight {}", inflight);
    f.changes = 2 * tasks;
    f.seconds = run.seconds();
    f.cpu_seconds = run.cpu();
    f.commits = store.commits();
    f.write_seconds = store.write_seconds();
  }
  return f;
}

// The same operations on a Model, saved to the store every `batch` changes.
Result<Figures> store_mode(const fs::path& dir, std::int64_t changes, int batch) {
  DROVER_TRY(make_dirs(dir));
  auto sqlite = SqliteStore::open(dir / "state.db");
  if (!sqlite.ok()) return sqlite.error();
  SystemClock clock;
  CountingStore store(**sqlite, clock);
  const std::int64_t tasks = std::max<std::int64_t>(1, changes / 2);
  Model model(std::chrono::minutes(5));
  TimePoint now = clock.now();
  WorkerRegistration reg;
  reg.id = "w1";
  reg.address = "127.0.0.1:1";
  reg.cpus = static_cast<double>(tasks + 1);
  (void)model.register_worker(reg, now);
  const JobId job = model.submit(bench_job(tasks), now).id;
  std::vector<AttemptId> attempts;
  for (std::int64_t i = 0; i < tasks; ++i) {
    attempts.push_back(model.assign(TaskKey{job, 0, i}, "w1", now).id);
  }
  DROVER_TRY(store.save(model, model.dirty()));
  model.dirty() = Dirty{};
  store.reset();
  const std::string digest(64, 'b');
  const double cpu0 = cpu_seconds();
  auto t0 = clock.steady_now();
  std::int64_t pending = 0;
  for (std::int64_t n = 0; n < 2 * tasks; ++n) {
    now = clock.now();
    if (n < tasks) {
      DROVER_TRY(model.started(attempts[n], "w1", now));
    } else {
      auto fx = model.finished(attempts[n - tasks], "w1", success(digest, to_millis(now)), now);
      if (!fx.ok()) return fx.error();
    }
    if (++pending == batch || n + 1 == 2 * tasks) {
      DROVER_TRY(store.save(model, model.dirty()));
      model.dirty() = Dirty{};
      pending = 0;
    }
  }
  Figures f;
  f.mode = fmt::format("store only, {} per transaction", batch);
  f.changes = 2 * tasks;
  f.seconds = seconds_since(clock, t0);
  f.cpu_seconds = cpu_seconds() - cpu0;
  f.commits = store.commits();
  f.write_seconds = store.write_seconds();
  return f;
}

int usage_error(const std::string& what) {
  std::cerr << "drover-statebench: " << what
            << "\nusage: drover-statebench --dir DIR [--changes N] [--inflight N] "
               "[--baseline-changes N] [--only MODE] [--json FILE]\n";
  return 2;
}

void print(const Figures& f) {
  const double n = static_cast<double>(f.changes);
  fmt::print("{:36s} {:7d} changes in {:6.2f} s: {:7.0f} changes/s; cpu {:5.1f} us/change; "
             "{:5d} commits, {:6.1f} changes/commit, {:6.2f} ms/commit in the store\n",
             f.mode, f.changes, f.seconds, f.per_second(), f.cpu_seconds * 1e6 / n, f.commits,
             f.commits ? n / static_cast<double>(f.commits) : 0.0,
             f.commits ? f.write_seconds * 1000 / static_cast<double>(f.commits) : 0.0);
}

nlohmann::json to_json(const Figures& f) {
  return {{"mode", f.mode}, {"changes", f.changes}, {"seconds", f.seconds},
          {"changes_per_second", f.per_second()}, {"commits", f.commits},
          {"store_write_seconds", f.write_seconds}, {"cpu_seconds", f.cpu_seconds}};
}

int run(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return usage_error(fmt::format("{} needs a value", arg));
    std::string value = argv[++i];
    auto number = [&](std::int64_t min) -> std::optional<std::int64_t> {
      char* end = nullptr;
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (end == value.c_str() || *end || v < min) return std::nullopt;
      return v;
    };
    if (arg == "--dir") {
      o.dir = value;
    } else if (arg == "--json") {
      o.json = value;
    } else if (arg == "--only") {
      if (value != "group" && value != "one" && value != "store-batch" && value != "store-one") {
        return usage_error(
            fmt::format("--only: \"{}\" is not group, one, store-batch or store-one", value));
      }
      o.only = value;
    } else if (arg == "--changes" || arg == "--baseline-changes" || arg == "--inflight") {
      const bool window = arg == "--inflight";
      auto v = number(window ? 1 : 2);
      if (!v || (window && *v > 1'000'000)) {
        return usage_error(fmt::format("{}: \"{}\" is not a number from {}", arg, value,
                                       window ? "1 to 1000000" : "2"));
      }
      if (arg == "--changes") o.changes = *v;
      if (arg == "--baseline-changes") o.baseline_changes = *v;
      if (arg == "--inflight") o.inflight = static_cast<int>(*v);
    } else {
      return usage_error(fmt::format("unknown option {}", arg));
    }
  }
  if (o.dir.empty()) return usage_error("--dir is required");
  spdlog::set_level(spdlog::level::warn);
  std::vector<Figures> all;
  struct Mode {
    const char* dir;
    std::function<Result<Figures>()> run;
  };
  const std::vector<Mode> modes = {
      {"group", [&] { return coordinator_mode(o.dir / "group", o.changes, o.inflight); }},
      {"one", [&] { return coordinator_mode(o.dir / "one", o.baseline_changes, 1); }},
      {"store-batch", [&] { return store_mode(o.dir / "store-batch", o.changes, o.inflight); }},
      {"store-one", [&] { return store_mode(o.dir / "store-one", o.baseline_changes, 1); }},
  };
  for (const Mode& m : modes) {
    if (!o.only.empty() && o.only != m.dir) continue;
    auto f = m.run();
    if (!f.ok()) {
      std::cerr << "drover-statebench: " << m.dir << ": " << f.error().describe() << "\n";
      return 1;
    }
    print(*f);
    all.push_back(*f);
  }
  if (!o.only.empty()) return 0;
  const double ratio = all[1].per_second() > 0 ? all[0].per_second() / all[1].per_second() : 0;
  fmt::print("group commit / one per transaction (coordinator): {:.0f}x; target 50000 changes/s\n",
             ratio);
  if (!o.json.empty()) {
    nlohmann::json out = nlohmann::json::array();
    for (const Figures& f : all) out.push_back(to_json(f));
    std::ofstream file(o.json);
    file << nlohmann::json{{"runs", out}, {"group_over_one", ratio}}.dump(2) << "\n";
    if (!file) {
      std::cerr << "drover-statebench: cannot write " << o.json << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace drover::master

int main(int argc, char** argv) { return drover::master::run(argc, argv); }
