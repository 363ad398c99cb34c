// Files of the attempt dir that the task's user owns and may replace (stdout,
// stderr, progress) are read by a worker that may be root: read_task_file
// follows no link and opens nothing but a regular file.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <future>

#include "tests/support/support.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

using namespace drover;
using namespace drover::worker;
namespace fs = std::filesystem;

TEST_CASE("task files are read without following links or opening fifos", "[worker][sandbox]") {
  test::TempDir tmp;
  const fs::path secret = tmp.path / "secret";
  std::ofstream(secret) << "root only";
  std::ofstream(tmp.path / "stdout") << "hello world";

  std::uint64_t size = 0;
  CHECK(read_task_file(tmp.path / "stdout").value() == "hello world");
  CHECK(read_task_file(tmp.path / "stdout", 6, 3, &size).value() == "wor");
  CHECK(size == 11);
  CHECK(read_task_file(tmp.path / "stdout", 100).value().empty());
  CHECK(read_task_file(tmp.path / "missing", 0, 10, &size).value().empty());
  CHECK(size == 0);

  fs::create_symlink(secret, tmp.path / "linked");
  auto linked = read_task_file(tmp.path / "linked");
  REQUIRE_FALSE(linked.ok());
  CHECK_THAT(linked.error().message, Catch::Contains("symlink"));
  CHECK_THAT(linked.error().message, !Catch::Contains("root only"));

  // A fifo without a writer would block a plain open() forever.
  REQUIRE(::mkfifo((tmp.path / "fifo").c_str(), 0666) == 0);
  auto reading = std::async(std::launch::async, [&] { return read_task_file(tmp.path / "fifo"); });
  REQUIRE(reading.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  auto fifo = reading.get();
  REQUIRE_FALSE(fifo.ok());
  CHECK_THAT(fifo.error().message, Catch::Contains("not a regular file"));

  fs::create_directory(tmp.path / "dir");
  CHECK_FALSE(read_task_file(tmp.path / "dir").ok());
  CHECK(open_task_file(tmp.path / "linked") == -1);
}
