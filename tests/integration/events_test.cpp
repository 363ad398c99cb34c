// drover events against a real cluster: --follow prints a job's life as it
// happens and returns at its end; the log outlives a master restart.
#include <catch2/catch.hpp>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

TEST_CASE("drover events --follow prints a job's events until it ends and they survive a restart", "[integration][events]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  // Task 1 fails its first attempt (exit 3), then succeeds.
  auto bundle = write_bundle(tmp.path / "b", replace_all(R"(name: ev
max_attempts: 2
retry_backoff: 100ms
stages:
  - name: s
    command: ["sh", "-c", "sleep 0.5; test {index} = 0 || test -e MARK/{index} || { touch MARK/{index}; exit 3; }"]
    inputs: {range: 2}
)", "MARK", tmp.path.string()));
  std::string job = submit(c, bundle);
  auto followed = c.cli({"events", job, "--follow"}, 60s);
  INFO(followed.out << followed.err);
  REQUIRE(followed.exit_code == 0);
  auto lines = lines_of(followed.out);
  REQUIRE(lines.size() == 13);
  CHECK_THAT(lines.front(), Catch::Contains("submitted") && Catch::Contains("2 tasks in 1 stage"));
  CHECK_THAT(lines.back(), Catch::Contains("job_succeeded"));
  CHECK_THAT(followed.out, Catch::Contains("failed        s/1 #1 on w1") &&
                               Catch::Contains("exit_code: exit code 3"));
  CHECK_THAT(followed.out, Catch::Contains("committed     s/1 #2 on w1"));
  CHECK(job_state(c, job) == "succeeded");

  // -o json: one object per line, in seq order.
  auto json = c.cli({"events", job, "-o", "json"});
  REQUIRE(json.exit_code == 0);
  auto json_lines = lines_of(json.out);
  REQUIRE(json_lines.size() == lines.size());
  std::int64_t last = 0;
  for (const std::string& l : json_lines) {
    auto e = nlohmann::json::parse(l);
    CHECK(e["seq"].get<std::int64_t>() > last);
    last = e["seq"].get<std::int64_t>();
  }

  c.stop_master();
  c.start_master();
  auto again = c.cli({"events", job});
  CHECK(again.exit_code == 0);
  CHECK(again.out == followed.out);
  auto unknown = c.cli({"events", "j-999999"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("no job j-999999"));
}
