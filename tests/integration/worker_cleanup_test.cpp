// A real worker keeps its bundle cache under cache_size and removes old attempt
// dirs after keep_attempts, never a running attempt's.
#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// Bytes of the regular files below `dir`, skipping entries being created or
// evicted (names starting with '.').
std::uint64_t cache_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator top(dir, ec), end; !ec && top != end; top.increment(ec)) {
    if (top->path().filename().string()[0] == '.') continue;
    if (top->is_regular_file(ec)) total += top->file_size(ec);
    if (!top->is_directory(ec)) continue;
    for (fs::recursive_directory_iterator it(top->path(), ec), e2; !ec && it != e2; it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
    }
  }
  return total;
}

std::size_t entries_in(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string()[0] != '.') ++n;
  }
  return n;
}

std::string noise(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string s(n, ' ');
  for (char& ch : s) ch = static_cast<char>('a' + random() % 26);
  return s;
}

}  // namespace

TEST_CASE("a worker evicts cached bundles over cache_size and every job still succeeds",
          "[integration][cleanup]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 2, {"--cache-size", "64Ki", "--keep-attempts", "1s"});
  REQUIRE(c.wait_workers_alive(1));
  const fs::path bundles = c.root() / "worker-w1" / "bundles";

  std::vector<std::string> jobs;
  for (unsigned i = 0; i < 5; ++i) {  // five different bundles of ~30 KiB each
    auto dir = write_bundle(tmp.path / ("b" + std::to_string(i)),
                            "name: j" + std::to_string(i) +
                                "\nstages:\n  - name: s\n    command: [\"sh\", \"-c\", \"wc -c < data > "
                                "$DROVER_OUTPUT_DIR/n\"]\n",
                            {{"data", noise(30 * 1024, i)}});
    jobs.push_back(submit(c, dir));
    REQUIRE(wait_job_ended(c, jobs.back(), 60s));
    CHECK(job_state(c, jobs.back()) == "succeeded");
  }
  // The cleaner runs every 500 ms here: the cache ends up under its limit.
  bool under = wait_until([&] { return cache_bytes(bundles) <= 64 * 1024; }, 20s);
  INFO("cache holds " << cache_bytes(bundles) << " bytes in " << entries_in(bundles) << " bundles");
  CHECK(under);
  CHECK(entries_in(bundles) < 5);
  // An evicted bundle is downloaded again: the first job runs again fine.
  auto again = c.cli({"rerun", jobs.front(), "--wait"}, 60s);
  INFO(again.err);
  CHECK(again.exit_code == 0);
  CHECK(c.worker("w1")->log().find("cleanup:") != std::string::npos);
}

TEST_CASE("a worker removes attempt dirs older than keep_attempts but not a running attempt's",
          "[integration][cleanup]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 1, {"--keep-attempts", "1s"});
  REQUIRE(c.wait_workers_alive(1));
  const fs::path attempts = c.root() / "worker-w1" / "attempts";
  const fs::path gate = tmp.path / "gate";

  auto dir = write_bundle(tmp.path / "slow", "name: slow\nstages:\n  - name: s\n    command: [\"sh\", \"-c\", "
                                             "\"while [ ! -e " + gate.string() + " ]; do sleep 0.05; done\"]\n");
  std::string job = submit(c, dir);
  REQUIRE(wait_until([&] { return tasks_of(c, job)[0]["state"] == "running"; }, 30s));
  std::int64_t id = tasks_of(c, job)[0]["attempts"].back()["id"];
  const fs::path running_dir = attempts / std::to_string(id);
  REQUIRE(fs::is_directory(running_dir));

  // A leftover of a finished attempt (e.g. one whose removal failed), younger
  // than the running attempt's dir. Once the cleaner removed it for being older
  // than 1 s, the running dir was older still when that sweep ran.
  const fs::path leftover = attempts / "999999";
  fs::create_directories(leftover / "sandbox");
  std::ofstream(leftover / "stdout") << "old log\n";
  bool removed = wait_until([&] { return !fs::exists(leftover); }, 20s);
  INFO(c.worker("w1")->log());
  CHECK(removed);
  CHECK(fs::is_directory(running_dir));
  CHECK(tasks_of(c, job)[0]["state"] == "running");

  std::ofstream(gate) << "go\n";
  REQUIRE(wait_job_ended(c, job, 30s));
  CHECK(job_state(c, job) == "succeeded");
  CHECK(wait_until([&] { return !fs::exists(running_dir); }, 20s));
}
