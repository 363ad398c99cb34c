// common/proc: what a spawned child inherits.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/fs/fs.hpp"
#include "common/proc/process.hpp"

TEST_CASE("spawned processes inherit no descriptors beyond stdio", "[worker][proc]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);  // not close-on-exec on purpose
  auto dir = drover::make_temp_dir("drover-fd");
  REQUIRE(dir.ok());
  drover::SpawnOptions o;
  o.argv = {"sh", "-c", "ls /proc/self/fd | wc -l"};
  o.stdout_path = *dir / "out";
  auto pid = drover::spawn_process(o);
  REQUIRE(pid.ok());
  auto st = drover::wait_process(*pid, std::chrono::seconds(10));
  REQUIRE(st);
  std::ifstream in(*dir / "out");
  int n = 0;
  in >> n;
  CHECK(n == 4);  // 0, 1, 2 and the fd ls itself opens
  ::close(fds[0]);
  ::close(fds[1]);
  std::filesystem::remove_all(*dir);
}
