// The shipped examples (examples/wordcount, examples/feature-stats) run on a
// real two-worker cluster and give exactly what an independent computation of
// the same data gives: `sort | uniq -c` for wordcount, Python's csv module for
// feature-stats. Data is generated from a fixed seed inside the test's temp dir.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// Copies examples/<name> without its generated data/ to `dest`.
fs::path copy_example(const std::string& name, const fs::path& dest) {
  fs::create_directories(dest);
  for (const auto& e : fs::directory_iterator(source_dir() / "examples" / name)) {
    if (e.path().filename() == "data") continue;
    fs::copy(e.path(), dest / e.path().filename(), fs::copy_options::recursive);
  }
  return dest;
}

// Submits `bundle`, waits for the job and REQUIREs that it succeeded; returns its id.
std::string run_job(Cluster& c, const fs::path& bundle) {
  std::string id = submit(c, bundle);
  auto wait = c.cli({"wait", id}, 120s);
  INFO(wait.err);
  INFO(c.cli({"status", id}).out);
  REQUIRE(wait.exit_code == 0);
  REQUIRE(job_state(c, id) == "succeeded");
  return id;
}

std::int64_t stage_tasks(Cluster& c, const std::string& id, const std::string& stage) {
  auto job = c.get("/api/v1/jobs/" + id);  // named: a loop over a temporary's member dangles
  for (const auto& s : job["stages"]) {
    if (s["name"] == stage) return s["task_count"];
  }
  FAIL("no stage " << stage << " in " << job.dump());
  return 0;
}

std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream l(line);
    for (std::string cell; std::getline(l, cell, ',');) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(std::move(cells));
  }
  return rows;
}

// Feature statistics computed without awk: Python's csv module over every row
// of every shard, formatted like merge_stats.awk.
const char* kPythonStats = R"(import csv, glob, sys
skip = {"id"}
cols, st = None, {}
for path in sorted(glob.glob(sys.argv[1] + "/*.csv")):
    with open(path, newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        if cols is None:
            cols = header
            st = {c: {"n": 0, "miss": 0, "sum": 0.0, "min": None, "max": None, "num": True} for c in cols}
        assert header == cols, path
        for row in rows:
            for c, v in zip(cols, row):
                s = st[c]
                if v == "":
                    s["miss"] += 1
                    continue
                s["n"] += 1
                try:
                    x = float(v)
                except ValueError:
                    s["num"] = False
                    continue
                s["sum"] += x
                s["min"] = x if s["min"] is None else min(s["min"], x)
                s["max"] = x if s["max"] is None else max(s["max"], x)
print("column,count,missing,mean,min,max")
for c in cols:
    s = st[c]
    if c in skip or not s["num"]:
        continue
    print("%s,%d,%d,%.10g,%.10g,%.10g" % (c, s["n"], s["miss"], s["sum"] / s["n"], s["min"], s["max"]))
)";

}  // namespace

namespace {

// Runs examples/wordcount over `files` generated files on `c` and CHECKs the
// reduce outputs against sort | uniq -c of the same files. With
// `absolute_glob` the files stay outside the bundle, named by an absolute glob.
void check_wordcount(Cluster& c, const fs::path& tmp, int files, std::int64_t min_maps,
                     std::int64_t max_maps, bool absolute_glob = false) {
  fs::path bundle = copy_example("wordcount", tmp / "wordcount");
  fs::path data = absolute_glob ? tmp / "corpus" : bundle / "data";
  if (absolute_glob) {
    std::string job = read_text(bundle / "job.yaml");
    REQUIRE(job.find("\"data/*.txt\"") != std::string::npos);
    std::ofstream(bundle / "job.yaml") << replace_all(job, "\"data/*.txt\"",
                                                      "\"" + data.string() + "/*.txt\"");
  }
  auto gen = run_command(
      {"sh", (bundle / "generate.sh").string(), std::to_string(files), "4K", "42", data.string()},
      60s, tmp);
  INFO(gen.err);
  REQUIRE(gen.exit_code == 0);

  std::string id = run_job(c, bundle);
  // group_bytes (1Mi) packs the ~4 KiB files into a few map tasks, not one per file.
  auto maps = stage_tasks(c, id, "map");
  CHECK(maps >= min_maps);
  CHECK(maps <= max_maps);
  CHECK(stage_tasks(c, id, "reduce") == 4);

  fs::path out = tmp / "out";
  auto dl = c.cli({"output", id, "--stage", "reduce", "--to", out.string()});
  INFO(dl.err);
  REQUIRE(dl.exit_code == 0);
  for (int r = 0; r < 4; ++r) {
    INFO("partition " << r);
    CHECK(fs::file_size(out / "reduce" / std::to_string(r) / "counts") > 0);
  }

  auto got = run_command({"sh", "-c", "export LC_ALL=C && cat \"$1\"/reduce/*/counts | sort", "sh",
                          out.string()},
                         60s, tmp);
  auto want = run_command(
      {"sh", "-c",
       "export LC_ALL=C && cat \"$1\"/*.txt | tr -cs 'A-Za-z' '\\n' | tr 'A-Z' 'a-z' | "
       "grep -v '^$' | sort | uniq -c | awk '{print $1, $2}' | sort",
       "sh", data.string()},
      60s, tmp);
  REQUIRE(got.exit_code == 0);
  REQUIRE(want.exit_code == 0);
  REQUIRE(std::count(want.out.begin(), want.out.end(), '\n') > 1000);
  // Equal line sets also mean no word was counted in two partitions.
  CHECK(got.out == want.out);
}

}  // namespace

TEST_CASE("examples/wordcount over 1000 files on 2 workers equals sort | uniq -c of the same files",
          "[integration][examples]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  check_wordcount(c, tmp.path, 1000, 2, 10);
}

TEST_CASE("examples/wordcount with a shared output store and an absolute glob reads its "
          "partitioned map outputs through the shared directory, not the master",
          "[integration][examples]") {
  TempDir tmp;
  fs::path store = tmp.path / "store";
  fs::create_directories(store);
  Cluster c(tmp.path, {"--output-store", "shared:" + store.string()});
  c.start_worker("w1", 1);
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));
  check_wordcount(c, tmp.path, 600, 2, 6, true);
  // Neither the input files nor the ~1 MB of map outputs went to the master:
  // only a few kB of scripts, heartbeats and reports.
  std::uint64_t received = c.get("/api/v1/cluster")["bytes_received"];
  CHECK(received < 200000);
}

TEST_CASE("examples/feature-stats over 20 shards on 2 workers equals statistics computed by Python",
          "[integration][examples]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  c.start_worker("w2", 1);
  REQUIRE(c.wait_workers_alive(2));

  fs::path bundle = copy_example("feature-stats", tmp.path / "feature-stats");
  fs::path data = bundle / "data";
  auto gen = run_command({"sh", (bundle / "generate.sh").string(), "20", "2000", "5", data.string()},
                         60s, tmp.path);
  INFO(gen.err);
  REQUIRE(gen.exit_code == 0);

  std::string id = run_job(c, bundle);
  CHECK(stage_tasks(c, id, "stats") == 20);
  fs::path out = tmp.path / "out";
  auto dl = c.cli({"output", id, "--to", out.string()});
  INFO(dl.err);
  REQUIRE(dl.exit_code == 0);
  std::string table = read_text(out / "merge" / "0" / "stats.csv");
  CHECK(fs::file_size(out / "merge" / "0" / "stats.txt") > 0);

  auto py = run_command({"python3", "-c", kPythonStats, data.string()}, 60s, tmp.path);
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  INFO("drover:\n" << table << "python:\n" << py.out);
  auto got = csv_rows(table);
  auto want = csv_rows(py.out);
  REQUIRE(want.size() == 6);  // header + age, income, score, clicks, label
  REQUIRE(got.size() == want.size());
  CHECK(got[0] == want[0]);
  for (std::size_t i = 1; i < want.size(); ++i) {
    REQUIRE(got[i].size() == 6);
    // column, count, missing, min and max are exact; the mean may differ in the
    // last bits because the sums were added in another order.
    for (std::size_t k : {0, 1, 2, 4, 5}) CHECK(got[i][k] == want[i][k]);
    double g = std::stod(got[i][3]), w = std::stod(want[i][3]);
    CHECK(std::fabs(g - w) <= 1e-8 * std::max(1.0, std::fabs(w)));
  }
}

TEST_CASE("examples/feature-stats fails a malformed shard at once with exit code 2 and no retry",
          "[integration][examples]") {
  TempDir tmp;
  Cluster c(tmp.path);
  c.start_worker("w1", 1);
  REQUIRE(c.wait_workers_alive(1));

  fs::path bundle = copy_example("feature-stats", tmp.path / "feature-stats");
  fs::path data = bundle / "data";
  auto gen = run_command({"sh", (bundle / "generate.sh").string(), "3", "100", "5", data.string()},
                         60s, tmp.path);
  REQUIRE(gen.exit_code == 0);
  std::ofstream(data / "shard-0001.csv", std::ios::app) << "999,1,2\n";  // 3 fields, header has 7

  std::string id = submit(c, bundle);
  auto wait = c.cli({"wait", id}, 120s);
  CHECK(wait.exit_code == 1);
  CHECK(job_state(c, id) == "failed");
  nlohmann::json bad;
  auto tasks = c.get("/api/v1/jobs/" + id + "/tasks?stage=stats");
  for (const auto& t : tasks["tasks"]) {
    if (t["index"] == 1) bad = t;
  }
  INFO(bad.dump());
  REQUIRE(bad["attempts"].size() == 1);
  CHECK(bad["attempts"][0]["exit_code"] == 2);
  auto log = c.cli({"logs", id, "stats", "1", "--stderr"});
  CHECK(log.out.find("3 fields, the header has 7") != std::string::npos);
}
