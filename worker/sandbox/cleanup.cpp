#include "worker/sandbox/cleanup.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>

#include "common/fs/fs.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

std::vector<AttemptDir> select_stale_attempts(const std::vector<AttemptDir>& dirs,
                                              const std::set<std::int64_t>& running, TimePoint now,
                                              Duration keep) {
  std::vector<AttemptDir> out;
  for (const AttemptDir& d : dirs) {
    if (running.count(d.id)) continue;  // still in the table: running or its report unacknowledged
    if (now - d.changed < keep) continue;
    out.push_back(d);
  }
  return out;
}

std::vector<std::size_t> select_evictions(const std::vector<CacheEntry>& entries, std::uint64_t limit,
                                          std::uint64_t pinned_after) {
  if (limit == 0) return {};
  std::uint64_t total = 0;
  for (const CacheEntry& e : entries) total += e.bytes;
  std::vector<std::size_t> order(entries.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return entries[a].last_use < entries[b].last_use;
  });
  std::vector<std::size_t> out;
  for (std::size_t i : order) {
    if (total <= limit) break;
    if (entries[i].last_use > pinned_after) continue;
    out.push_back(i);
    total -= entries[i].bytes;
  }
  return out;
}

namespace {

TimePoint to_time_point(fs::file_time_type t) {
  auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::time_point_cast<std::chrono::milliseconds>(sys);
}

}  // namespace

std::vector<AttemptDir> list_attempt_dirs(const fs::path& work_dir) {
  std::vector<AttemptDir> out;
  std::error_code ec;
  for (fs::directory_iterator it(work_dir / "attempts", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::int64_t id = 0;
    auto [ptr, err] = std::from_chars(name.data(), name.data() + name.size(), id);
    if (err != std::errc() || ptr != name.data() + name.size()) continue;
    std::error_code e2;
    if (!it->is_directory(e2) || it->is_symlink(e2)) continue;
    auto newest = it->last_write_time(e2);
    if (e2) continue;
    for (const char* f : {"stdout", "stderr", "progress"}) {
      std::error_code e3;
      auto t = fs::last_write_time(it->path() / f, e3);
      if (!e3 && t > newest) newest = t;
    }
    out.push_back({id, it->path(), to_time_point(newest)});
  }
  return out;
}

Duration sweep_interval(Duration keep_attempts) {
  return std::clamp<Duration>(keep_attempts / 2, std::chrono::milliseconds(200), std::chrono::minutes(1));
}

Cleaner::Cleaner(const Clock& clock, CleanupOptions options, BlobCache& cache, RunningIds running)
    : clock_(clock), options_(std::move(options)), cache_(cache), running_(std::move(running)) {}

Cleaner::~Cleaner() { stop(); }

std::uint64_t Cleaner::pin_threshold(std::uint64_t now_use) {
  std::set<std::int64_t> running;
  for (std::int64_t id : running_()) running.insert(id);
  for (auto it = seen_since_.begin(); it != seen_since_.end();) {
    it = running.count(it->first) ? std::next(it) : seen_since_.erase(it);
  }
  std::uint64_t threshold = now_use;
  for (std::int64_t id : running) {
    auto [it, added] = seen_since_.emplace(id, previous_use_);
    threshold = std::min(threshold, it->second);
  }
  previous_use_ = now_use;
  return threshold;
}

SweepReport Cleaner::sweep() {
  std::lock_guard serial(sweep_mu_);
  SweepReport report;
  // Dirs first, then the table: a dir listed here belongs to an attempt admitted
  // before, which leaves the table only after its report was acknowledged.
  auto dirs = list_attempt_dirs(options_.work_dir);
  std::set<std::int64_t> running;
  for (std::int64_t id : running_()) running.insert(id);
  for (const AttemptDir& d : select_stale_attempts(dirs, running, clock_.now(), options_.keep_attempts)) {
    Status removed = drover::remove_all(d.path);
    if (removed.ok()) {
      ++report.attempts_removed;
    } else {
      spdlog::warn("cleanup: cannot remove {}: {}", d.path.string(), removed.error().describe());
    }
  }
  report.cache_evicted = cache_.evict([&](const std::vector<CacheEntry>& entries, std::uint64_t now_use) {
    return select_evictions(entries, options_.cache_size, pin_threshold(now_use));
  });
  report.cache_bytes = cache_.bytes();
  if (report.attempts_removed > 0 || report.cache_evicted > 0) {
    spdlog::info("cleanup: {} old attempt dirs removed, {} cache entries evicted ({} bytes cached, limit {})",
                 report.attempts_removed, report.cache_evicted, report.cache_bytes,
                 options_.cache_size == 0 ? std::string("none") : format_size(options_.cache_size));
  }
  return report;
}

void Cleaner::start() {
  thread_ = std::thread([this] {
    const Duration interval = sweep_interval(options_.keep_attempts);
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      (void)sweep();
      lock.lock();
      cv_.wait_for(lock, interval, [&] { return stopping_; });
    }
  });
}

void Cleaner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace drover::worker
