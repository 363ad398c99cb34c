#pragma once
// A runner wired to the fake master (through the StoreMasterApi decorator, as
// in main.cpp) and a real ProcessExecutor, for the worker's checkpoint,
// lineage, disk, partition and shared store tests. Processes are `sh -c` scripts.
#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <optional>
#include <thread>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "tests/support/support.hpp"
#include "tests/unit/worker_fake_master.hpp"
#include "worker/agent/attempt_runner.hpp"
#include "worker/agent/store_master_api.hpp"
#include "worker/executor/process_executor.hpp"

namespace drover::worker::testing {

using namespace std::chrono_literals;

// Packs a directory holding `files` (relative path -> content); returns the blob.
inline std::string pack_files(const std::filesystem::path& dir,
                              const std::map<std::string, std::string>& files) {
  REQUIRE(make_dirs(dir).ok());
  for (const auto& [name, content] : files) {
    REQUIRE(make_dirs((dir / name).parent_path()).ok());
    std::ofstream(dir / name) << content;
  }
  return pack_directory(dir).value();
}

struct RunnerFixture {
  explicit RunnerFixture(std::optional<std::filesystem::path> work_dir = std::nullopt,
                         std::map<std::string, std::string> bundle_files = {})
      : work_path(work_dir ? *work_dir : work.path) {
    bundle_files.emplace("job.yaml", "name: t\n");
    std::string packed = pack_files(src.path / "bundle", bundle_files);
    bundle_digest = sha256_hex(packed);
    master.blobs[bundle_digest] = packed;
  }

  Assignment assignment(std::int64_t id, const std::string& script) {
    Assignment a = sh_assignment(id, bundle_digest, script);
    a.timeout_ms = 30000;  // a stuck script never outlives its test
    a.checkpoint_interval_ms = 0;
    return a;
  }

  // The report of attempt `id` (REQUIREs exactly one).
  AttemptReport report_of(std::int64_t id) {
    std::lock_guard lock(master.mu);
    std::optional<AttemptReport> found;
    for (const auto& [rid, r] : master.reports) {
      if (rid == id) {
        REQUIRE_FALSE(found);
        found = r;
      }
    }
    REQUIRE(found);
    return *found;
  }

  // Admits and runs to the end; returns its report.
  AttemptReport run(const Assignment& a) {
    auto attempt = runner.admit(a);
    REQUIRE(attempt);
    runner.run(a, attempt);
    CHECK(table.size() == 0);
    CHECK_FALSE(std::filesystem::exists(attempt->paths().root));
    return report_of(a.attempt_id);
  }

  bool started(std::int64_t id) {
    std::lock_guard lock(master.mu);
    return std::find(master.started.begin(), master.started.end(), id) != master.started.end();
  }

  test::TempDir src, work;
  std::filesystem::path work_path;
  std::string bundle_digest;
  FakeMaster master;
  OutputStore store;                      // "master" until `routed` registers
  StoreMasterApi routed{master, store};  // what the runner talks to, as in main.cpp
  SystemClock clock;
  ProcessExecutor executor{clock, ProcessExecutorOptions{300ms, {}}};
  BlobCache cache{work_path, [this](const std::string& d) { return routed.fetch_blob(d); }};
  AttemptTable table;
  StopSignal stop;
  std::atomic<bool> disk_full{false};  // the faked probe's answer
  bool real_disk_probe = false;        // use statvfs instead
  AttemptRunner runner{
      RunnerOptions{work_path, std::nullopt, "/usr/bin:/bin", 1s,
                    [this](const std::filesystem::path& p) {
                      return real_disk_probe ? filesystem_full(p) : disk_full.load();
                    }},
      RunnerDeps{routed, executor, cache, table, clock, stop, &store}};
};

}  // namespace drover::worker::testing
