// drover-loadgen: simulated workers that speak the real worker protocol to a
// drover-master, for tests/bench/master_load_bench.py (issue 8, items c and d).
//
//   drover-loadgen tasks --master URL --workers 1000 --slots 16 --threads 32 --expect N
//     registers the workers, then each thread serves its share: poll work
//     when a slot is free, POST started, PUT the (empty) output blob, POST
//     finished (succeeded) for every assignment; --heartbeat-threads send every
//     worker's heartbeat once a second. Stops after N acknowledged reports,
//     after --idle-seconds without work, or at --max-seconds.
//   drover-loadgen heartbeats --master URL --workers 10000 --rate-hz 1 --seconds 20
//     registers the workers, then sends each one's heartbeats spread evenly
//     over the period, each worker on a connection of its own, all driven by
//     --loop-threads epoll threads that sleep on the clock, not on the
//     sockets (beats.hpp; --wake-on-reply: on the sockets).
//   drover-loadgen floor [--port 0]
//     the cheapest HTTP server: a canned heartbeat reply to every request,
//     part d's baseline (floor.hpp).
//   drover-loadgen ceiling --master URL --threads 32 --seconds 5 [--target /healthz]
//     back-to-back GETs of one cheap target: the HTTP ceiling of the machine.
//
// Each prints one JSON line on stdout (progress goes to stderr). A fixed set
// of threads, each with its own keep-alive http::Client (heartbeats: see
// above); no thread per worker.
#include <atomic>
#include <cstdio>
#include <algorithm>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/base/error.hpp"
#include "tests/bench/loadgen/beats.hpp"
#include "tests/bench/loadgen/floor.hpp"
#include "tests/bench/loadgen/protocol.hpp"

namespace drover::loadgen {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  std::string master;
  std::string token;
  std::string id_prefix = "lg";
  int workers = 1000;
  int slots = 16;
  int threads = 32;
  int heartbeat_threads = 32;  // tasks: heartbeats have threads of their own, as in the worker
  // tasks
  std::int64_t expect = 0;  // 0 = until idle or deadline
  std::int64_t wait_ms = 0;
  bool upload_per_task = false;
  double idle_seconds = 10;
  double max_seconds = 0;  // 0 = none
  // heartbeats / ceiling
  double rate_hz = 1;
  double seconds = 20;
  int loop_threads = 2;  // heartbeats: threads driving the workers' connections
  bool wake_on_reply = false;  // heartbeats: sleep on the sockets (BeatPlan)
  std::string target = "/healthz";
};

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

WorkerRegistration registration(const Options& o, int i) {
  WorkerRegistration r;
  r.id = fmt::format("{}-{}", o.id_prefix, i);
  r.address = fmt::format("127.0.0.1:{}", 20000 + i % 40000);  // nothing listens there
  r.cpus = o.slots;
  r.memory = 1ULL << 40;
  return r;
}

bool register_with_retries(Connection& c, const WorkerRegistration& r, Tally& t) {
  for (int tries = 0; tries < 5; ++tries) {
    auto reply = c.register_worker(r, t);
    if (reply.ok()) return true;
    std::fprintf(stderr, "drover-loadgen: register %s: %s\n", r.id.c_str(),
                 reply.error().describe().c_str());
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

nlohmann::json latency_json(Samples& s) {
  return {{"count", s.ms.size()},
          {"p50_ms", s.percentile(50)},
          {"p99_ms", s.percentile(99)},
          {"max_ms", s.max()}};
}

// The threads' share of workers: worker i belongs to thread i % threads.
std::vector<std::vector<int>> shares(int workers, int threads) {
  std::vector<std::vector<int>> out(static_cast<std::size_t>(threads));
  for (int i = 0; i < workers; ++i) out[static_cast<std::size_t>(i % threads)].push_back(i);
  return out;
}

// ---------------------------------------------------------------- tasks
//
// Like a real worker, each simulated worker's heartbeats run apart from its
// work (heartbeat threads), and it polls for work as soon as it has a free
// slot, holding its assignments (listed in its heartbeats) until it has
// reported them. Task threads visit their workers in turn and report one
// assignment per visit, so that no worker waits long for its next poll.

struct SimWorker {
  WorkerRegistration reg;
  std::mutex mu;
  std::vector<std::int64_t> held;  // assigned, not yet reported (guarded by mu)
  // task thread only
  Clock::time_point next_poll;
  Clock::duration backoff = 5ms;
  bool hold(std::int64_t a) {
    std::lock_guard lock(mu);
    return std::find(held.begin(), held.end(), a) != held.end();
  }
  void drop(std::int64_t a) {
    std::lock_guard lock(mu);
    std::erase(held, a);
  }
};

struct TaskRun {
  TaskRun(const Options& options, const EmptyOutput& out) : o(options), output(out) {}
  const Options& o;
  const EmptyOutput& output;
  std::vector<std::unique_ptr<SimWorker>> workers;
  std::atomic<std::int64_t> done{0};
  std::atomic<std::int64_t> rejected{0};
  std::atomic<Clock::rep> last_work{0};      // when some poll last brought work
  std::atomic<Clock::rep> last_report{0};    // when the last report was acknowledged
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
};

void heartbeat_once(Connection& c, SimWorker& w, Tally& t) {
  Heartbeat hb;
  {
    std::lock_guard lock(w.mu);
    for (auto a : w.held) hb.running.push_back(AttemptProgress{a, -1});
  }
  auto reply = c.heartbeat(w.reg.id, hb, t);
  if (!reply.ok()) return;
  for (auto k : reply->kill) w.drop(k);
  if (reply->reregister) {
    WorkerRegistration r = w.reg;
    {
      std::lock_guard lock(w.mu);
      r.running = w.held;
    }
    (void)c.register_worker(r, t);
  }
}

// Each worker of the share beats once a second, at i/N of the second.
void heartbeat_thread(TaskRun& run, const std::vector<int>& mine, Tally& t, std::latch& go,
                      const Clock::time_point& start) {
  Connection c(run.o.master, run.o.token);
  go.wait();
  for (std::int64_t r = 1; !run.stop; ++r) {
    for (int i : mine) {
      auto due = start + r * 1s + std::chrono::duration_cast<Clock::duration>(1s) * i / run.o.workers;
      while (!run.stop && Clock::now() < due) {
        std::this_thread::sleep_until(std::min(due, Clock::now() + 50ms));
      }
      if (run.stop) return;
      heartbeat_once(c, *run.workers[static_cast<std::size_t>(i)], t);
    }
  }
}

// Every held assignment runs (a no-op) and is reported: its output uploaded,
// then started and finished of all of them in one request, as a worker's
// ReportBatcher sends the reports of tasks that end together.
void report_held(Connection& c, SimWorker& w, TaskRun& run, Tally& t) {
  const Options& o = run.o;
  std::vector<std::int64_t> held;
  {
    std::lock_guard lock(w.mu);
    held = w.held;
  }
  if (held.empty()) return;
  const std::int64_t started_at = now_ms();
  ReportBatch batch;
  AttemptReport r;
  r.state = AttemptState::succeeded;
  r.exit_code = 0;
  r.output_digest = run.output.digest;
  r.output_bytes = run.output.bytes.size();
  r.started_at = started_at;
  for (std::int64_t a : held) {
    batch.started.push_back(StartedReport{a, started_at});
    if (o.upload_per_task) (void)c.upload(run.output, t);  // as for an output with files
    r.finished_at = now_ms();
    batch.finished.push_back(FinishedReport{a, r});
  }
  auto reply = c.reports(batch, t);
  if (!reply.ok()) return;  // unreachable: the next visit reports them again
  for (const ReportResult& f : reply->finished) {
    if (f.status == 200) {
      ++run.done;
      run.last_report = Clock::now().time_since_epoch().count();
    } else {
      ++run.rejected;  // fenced: as the worker does, drop it
    }
    w.drop(f.attempt_id);  // in the heartbeats until its report was delivered
  }
}

void poll_once(Connection& c, SimWorker& w, TaskRun& run, Tally& t) {
  auto reply = c.poll_work(w.reg.id, run.o.wait_ms, t);
  if (!reply.ok()) {
    if (reply.error().code == ErrorCode::not_found) (void)c.register_worker(w.reg, t);
    w.next_poll = Clock::now() + 100ms;
    return;
  }
  {
    std::lock_guard lock(w.mu);
    for (auto k : reply->kill) std::erase(w.held, k);
    for (auto& a : reply->assignments) w.held.push_back(a.attempt_id);
  }
  if (reply->assignments.empty()) {
    w.next_poll = Clock::now() + w.backoff;
    w.backoff = std::min<Clock::duration>(w.backoff * 2, 200ms);
  } else {
    run.last_work = Clock::now().time_since_epoch().count();
    w.backoff = 5ms;
    w.next_poll = Clock::now();
  }
}

void task_thread(TaskRun& run, const std::vector<int>& mine, Tally& t, std::latch& registered,
                 std::latch& go) {
  const Options& o = run.o;
  Connection c(o.master, o.token);
  for (int i : mine) {
    if (!register_with_retries(c, run.workers[static_cast<std::size_t>(i)]->reg, t)) run.failed = true;
  }
  registered.count_down();
  go.wait();
  while (!run.stop) {
    bool busy = false;
    Clock::time_point wake = Clock::now() + 20ms;
    for (int i : mine) {
      if (run.stop) break;
      SimWorker& w = *run.workers[static_cast<std::size_t>(i)];
      std::size_t held = 0;
      {
        std::lock_guard lock(w.mu);
        held = w.held.size();
      }
      if (held < static_cast<std::size_t>(o.slots) && Clock::now() >= w.next_poll) {
        poll_once(c, w, run, t);
        std::lock_guard lock(w.mu);
        held = w.held.size();
      }
      if (held > 0) {
        busy = true;
        report_held(c, w, run, t);
      }
      wake = std::min(wake, w.next_poll);
    }
    if (!busy) std::this_thread::sleep_until(std::max(wake, Clock::now() + 1ms));
  }
}

int run_tasks(const Options& o) {
  auto output = make_empty_output();
  if (!output.ok()) {
    std::fprintf(stderr, "drover-loadgen: %s\n", output.error().describe().c_str());
    return 1;
  }
  if (!o.upload_per_task) {  // uploaded once: every report names the same blob
    Connection c(o.master, o.token);
    Tally t;
    if (Status s = c.upload(*output, t); !s.ok()) {
      std::fprintf(stderr, "drover-loadgen: upload: %s\n", s.error().describe().c_str());
      return 1;
    }
  }
  TaskRun run(o, *output);
  for (int i = 0; i < o.workers; ++i) {
    run.workers.push_back(std::make_unique<SimWorker>());
    run.workers.back()->reg = registration(o, i);
  }
  auto parts = shares(o.workers, o.threads);
  auto beat_parts = shares(o.workers, std::min(o.workers, o.heartbeat_threads));
  std::vector<Tally> tallies(parts.size() + beat_parts.size());
  std::latch registered(static_cast<std::ptrdiff_t>(parts.size()));
  std::latch go(1);
  std::vector<std::thread> threads;
  Clock::time_point start;
  auto t_reg = Clock::now();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    threads.emplace_back([&, i] { task_thread(run, parts[i], tallies[i], registered, go); });
  }
  for (std::size_t i = 0; i < beat_parts.size(); ++i) {
    threads.emplace_back(
        [&, i] { heartbeat_thread(run, beat_parts[i], tallies[parts.size() + i], go, start); });
  }
  registered.wait();
  start = Clock::now();
  std::fprintf(stderr, "drover-loadgen: %d workers registered in %.2f s\n", o.workers,
               secs(start - t_reg));
  run.last_work = start.time_since_epoch().count();
  run.last_report = start.time_since_epoch().count();
  go.count_down();
  std::string why = "expected tasks reported";
  auto next_progress = start + 5s;
  while (!run.failed) {
    std::this_thread::sleep_for(10ms);
    auto now = Clock::now();
    if (o.expect > 0 && run.done >= o.expect) break;
    if (o.max_seconds > 0 && secs(now - start) >= o.max_seconds) {
      why = "deadline";
      break;
    }
    if (secs(now - Clock::time_point(Clock::duration(run.last_work.load()))) >= o.idle_seconds) {
      why = "idle";
      break;
    }
    if (now >= next_progress) {
      std::fprintf(stderr, "drover-loadgen: %.0f s: %ld tasks reported\n", secs(now - start),
                   static_cast<long>(run.done.load()));
      next_progress += 5s;
    }
  }
  if (run.failed) why = "registration failed";
  const auto end_seen = Clock::now();
  run.stop = true;
  for (auto& th : threads) th.join();
  Tally all;
  for (auto& t : tallies) all.merge(t);
  auto end = why == "idle" || why == "expected tasks reported"
                 ? Clock::time_point(Clock::duration(run.last_report.load()))
                 : end_seen;
  double seconds = std::max(secs(end - start), 1e-9);
  double req_seconds = std::max(secs(end_seen - start), 1e-9);
  std::int64_t done = run.done;
  nlohmann::json out = {
      {"mode", "tasks"},
      {"workers", o.workers},
      {"slots", o.slots},
      {"threads", static_cast<int>(parts.size())},
      {"heartbeat_threads", static_cast<int>(beat_parts.size())},
      {"tasks", done},
      {"seconds", seconds},
      {"tasks_per_s", static_cast<double>(done) / seconds},
      {"requests", all.requests},
      {"requests_per_s", static_cast<double>(all.requests) / req_seconds},
      {"errors", all.errors},
      {"rejected_reports", run.rejected.load()},
      {"stopped_by", why},
      {"upload_per_task", o.upload_per_task},
      {"latency",
       {{"poll", latency_json(all.poll)},
        {"reports", latency_json(all.reports)},
        {"upload", latency_json(all.upload)},
        {"heartbeat", latency_json(all.heartbeat)}}}};
  std::printf("%s\n", out.dump().c_str());
  return run.failed ? 1 : 0;
}

// ----------------------------------------------------------- heartbeats

// Registers the workers over o.threads connections, then beats for each on a
// connection of its own (beats.hpp).
int run_heartbeats(const Options& o) {
  auto parts = shares(o.workers, o.threads);
  std::vector<Tally> tallies(parts.size());
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  auto t_reg = Clock::now();
  for (std::size_t p = 0; p < parts.size(); ++p) {
    threads.emplace_back([&, p] {
      Connection c(o.master, o.token);
      for (int i : parts[p]) {
        if (!register_with_retries(c, registration(o, i), tallies[p])) failed = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  if (failed) return 1;
  std::fprintf(stderr, "drover-loadgen: %d workers registered in %.2f s\n", o.workers,
               secs(Clock::now() - t_reg));
  BeatPlan plan;
  plan.master = o.master;
  plan.token = o.token;
  plan.rate_hz = o.rate_hz;
  plan.seconds = o.seconds;
  plan.threads = o.loop_threads;
  plan.wake_on_reply = o.wake_on_reply;
  for (int i = 0; i < o.workers; ++i) plan.ids.push_back(registration(o, i).id);
  auto beats = run_beats(plan);
  if (!beats.ok()) {
    std::fprintf(stderr, "drover-loadgen: %s\n", beats.error().describe().c_str());
    return 1;
  }
  double target = o.workers * o.rate_hz;
  double rate = static_cast<double>(beats->sent) / std::max(beats->seconds, 1e-9);
  double lag_p99 = beats->lag.percentile(99);
  // Kept up: the whole schedule ran in time (within a tenth of the period at p99).
  bool kept_up = beats->errors == 0 && beats->skipped == 0 && rate >= 0.95 * target &&
                 lag_p99 < 100.0 / o.rate_hz;
  nlohmann::json out = {{"mode", "heartbeats"},
                        {"workers", o.workers},
                        {"connections", o.workers},
                        {"threads", o.loop_threads},
                        {"wake_on_reply", o.wake_on_reply},
                        {"heartbeats", beats->sent},
                        {"seconds", beats->seconds},
                        {"target_per_s", target},
                        {"heartbeats_per_s", rate},
                        {"latency", latency_json(beats->latency)},
                        {"lag_p99_ms", lag_p99},
                        {"lag_max_ms", beats->lag.max()},
                        {"errors", beats->errors},
                        {"skipped", beats->skipped},
                        {"kept_up", kept_up}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// -------------------------------------------------------------- ceiling

int run_ceiling(const Options& o) {
  std::vector<Tally> tallies(static_cast<std::size_t>(o.threads));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (auto& t : tallies) {
    threads.emplace_back([&o, &t, &stop] {
      Connection c(o.master, o.token);
      while (!stop) (void)c.get(o.target, t);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double seconds = secs(Clock::now() - start);
  Tally all;
  for (auto& t : tallies) all.merge(t);
  nlohmann::json out = {{"mode", "ceiling"},
                        {"target", o.target},
                        {"threads", o.threads},
                        {"requests", all.requests},
                        {"seconds", seconds},
                        {"requests_per_s", static_cast<double>(all.requests) / seconds},
                        {"latency", latency_json(all.other)},
                        {"errors", all.errors}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// One connection per thread (task threads + heartbeat threads): a bound far
// below the master's 65,000 connections, kept as a sanity limit on threads.
constexpr int kMaxThreads = 768;

void common_options(CLI::App* cmd, Options& o) {
  cmd->add_option("--master", o.master, "master URL, e.g. http://127.0.0.1:7070")->required();
  cmd->add_option("--token", o.token, "the workers' bearer token (masters with auth)");
  cmd->add_option("--threads", o.threads, "client threads, each with one keep-alive connection")
      ->check(CLI::Range(1, kMaxThreads));
}

}  // namespace
}  // namespace drover::loadgen

int main(int argc, char** argv) {
  using namespace drover::loadgen;
  Options o;
  CLI::App app{"drover-loadgen: simulated drover workers against a master (benchmarks)"};
  app.require_subcommand(1);
  auto* tasks = app.add_subcommand("tasks", "run assigned tasks as no-ops and report them");
  common_options(tasks, o);
  tasks->add_option("--workers", o.workers, "simulated workers")->check(CLI::Range(1, 1000000));
  tasks->add_option("--slots", o.slots, "cpus (slots) per worker")->check(CLI::Range(1, 4096));
  tasks->add_option("--expect", o.expect, "stop after this many reports (0: when idle)")
      ->check(CLI::NonNegativeNumber);
  tasks->add_option("--wait-ms", o.wait_ms, "wait_ms of each work poll")
      ->check(CLI::Range(0, 60000));
  tasks->add_option("--heartbeat-threads", o.heartbeat_threads,
                    "threads sending the workers' heartbeats (1/s each)")
      ->check(CLI::Range(1, kMaxThreads));
  tasks->add_option("--upload-per-task", o.upload_per_task,
                    "PUT the (empty) output blob for every task, as a real worker does for an output with files; a real worker names an empty output without uploading it");
  tasks->add_option("--idle-seconds", o.idle_seconds, "stop after this long without work")
      ->check(CLI::PositiveNumber);
  tasks->add_option("--max-seconds", o.max_seconds, "stop at this deadline (0: none)")
      ->check(CLI::NonNegativeNumber);
  tasks->add_option("--id-prefix", o.id_prefix, "worker ids are <prefix>-<n>");
  auto* beats = app.add_subcommand("heartbeats", "heartbeats only, spread evenly");
  common_options(beats, o);
  beats->add_option("--workers", o.workers, "simulated workers")->check(CLI::Range(1, 1000000));
  beats->add_option("--rate-hz", o.rate_hz, "heartbeats per worker per second")
      ->check(CLI::Range(0.01, 100.0));
  beats->add_option("--seconds", o.seconds, "how long")->check(CLI::Range(0.1, 3600.0));
  beats->add_option("--id-prefix", o.id_prefix, "worker ids are <prefix>-<n>");
  beats->add_option("--loop-threads", o.loop_threads,
                    "threads driving the heartbeats (--threads register the workers)")
      ->check(CLI::Range(1, 64));
  beats->add_flag("--wake-on-reply", o.wake_on_reply,
                  "wait for replies in epoll_wait, so that each reply wakes a thread (and on "
                  "loopback the master pays for it): the method before 2026-11-29, for comparison");
  int floor_port = 0;
  auto* floor = app.add_subcommand("floor", "serve a canned heartbeat reply to every request (a baseline)");
  floor->add_option("--port", floor_port, "port on 127.0.0.1 (0: any)")->check(CLI::Range(0, 65535));
  auto* ceiling = app.add_subcommand("ceiling", "back-to-back GETs of one cheap target");
  common_options(ceiling, o);
  ceiling->add_option("--seconds", o.seconds, "how long")->check(CLI::Range(0.1, 3600.0));
  ceiling->add_option("--target", o.target, "path to GET");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (o.threads > o.workers && !ceiling->parsed()) o.threads = o.workers;
  if (tasks->parsed()) return run_tasks(o);
  if (beats->parsed()) return run_heartbeats(o);
  if (floor->parsed()) return run_floor(floor_port);
  return run_ceiling(o);
}
