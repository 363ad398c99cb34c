// A full disk, on a small tmpfs mounted by the test (root only; skipped with a
// warning elsewhere): a clear error, nothing committed partially, the daemon
// keeps serving.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// A tmpfs of `size` at `dir`, unmounted at scope exit.
struct SmallDisk {
  SmallDisk(const fs::path& d, const std::string& size, const fs::path& scratch) : dir(d) {
    fs::create_directories(dir);
    if (::geteuid() != 0) return;
    mounted = run_command({"mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.string()}, 30s,
                          scratch).exit_code == 0;
  }
  ~SmallDisk() {
    if (mounted) run_command({"umount", "-l", dir.string()}, 30s, dir.parent_path());
  }
  fs::path dir;
  bool mounted = false;
};

void write_random(const fs::path& p, std::size_t bytes) {
  std::mt19937_64 rng(42);
  std::ofstream out(p, std::ios::binary);
  for (std::size_t i = 0; i < bytes; i += 8) {
    auto v = rng();
    out.write(reinterpret_cast<const char*>(&v), 8);
  }
}

}  // namespace

TEST_CASE("a full master data_dir refuses the upload clearly and keeps serving",
          "[integration][disk]") {
  TempDir tmp;
  SmallDisk disk(tmp.path / "small", "3m", tmp.path);
  if (!disk.mounted) {
    WARN("skipped: cannot mount a tmpfs here (needs root)");
    return;
  }
  Cluster c(tmp.path, {"--data-dir", (disk.dir / "master").string()});
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));
  auto big = write_bundle(tmp.path / "big", "name: big\nstages:\n  - name: s\n    command: [\"true\"]\n");
  write_random(big / "blob.bin", 4 << 20);
  auto r = c.cli({"submit", big.string()});
  INFO(r.err);
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("space left") != std::string::npos);
  CHECK(c.get("/api/v1/jobs")["jobs"].empty());
  auto small = write_bundle(tmp.path / "small-job", "name: small\nstages:\n  - name: s\n"
                                                   "    command: [\"sh\", \"-c\", \"echo hi > $DROVER_OUTPUT_DIR/o\"]\n");
  std::string id = first_line(c.cli({"submit", small.string()}).out);
  CHECK(c.cli({"wait", id}, 60s).exit_code == 0);
}

TEST_CASE("a full worker work_dir fails the attempt as a drover error and keeps serving",
          "[integration][disk]") {
  TempDir tmp;
  SmallDisk disk(tmp.path / "small", "1m", tmp.path);
  if (!disk.mounted) {
    WARN("skipped: cannot mount a tmpfs here (needs root)");
    return;
  }
  Cluster c(tmp.path);
  c.start_worker("w1", 1, {"--work-dir", disk.dir.string()});
  REQUIRE(c.wait_workers_alive(1));
  // The task fills the 1 MiB work_dir with its output.
  auto big = write_bundle(tmp.path / "big", "name: big\nmax_attempts: 1\nstages:\n  - name: s\n"
                                            "    command: [\"sh\", \"-c\", \"head -c 1500000 /dev/zero > "
                                            "$DROVER_OUTPUT_DIR/big\"]\n");
  std::string id = first_line(c.cli({"submit", big.string()}).out);
  CHECK(c.cli({"wait", id}, 60s).exit_code == 1);
  auto attempt = c.get("/api/v1/jobs/" + id + "/tasks")["tasks"][0]["attempts"][0];
  INFO(attempt.dump());
  CHECK(attempt["reason"] == "drover_error");
  CHECK(attempt["message"].get<std::string>().find("space left") != std::string::npos);
  CHECK(c.get("/api/v1/jobs/" + id + "/tasks")["tasks"][0]["output_digest"] == "");
  auto small = write_bundle(tmp.path / "small-job", "name: small\nstages:\n  - name: s\n"
                                                   "    command: [\"sh\", \"-c\", \"echo hi > $DROVER_OUTPUT_DIR/o\"]\n");
  std::string ok = first_line(c.cli({"submit", small.string()}).out);
  CHECK(c.cli({"wait", ok}, 60s).exit_code == 0);
}
