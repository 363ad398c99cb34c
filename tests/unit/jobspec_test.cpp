#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/jobspec/job_spec.hpp"

using namespace drover;
using namespace std::chrono_literals;

namespace {

// SPEC §2's example (its commented-out alternatives aside).
constexpr const char* kExample = R"(
name: wordcount            # required
priority: 0
max_attempts: 4
retry_backoff: 1s
timeout: 1h
checkpoint_interval: 30s
env: {LC_ALL: C}
resources: {cpus: 1, memory: 512Mi}
stages:
  - name: count
    command: ["python3", "count.py", "{input}"]
    inputs:
      files: ["data/*.txt", "/mnt/shared/logs/2026-*/part-*.gz"]
  - name: merge
    after: [count]
    command: ["sh", "-c", "cat $DROVER_INPUT_DIR/count/*/* | sort | uniq -c > $DROVER_OUTPUT_DIR/result"]
    resources: {cpus: 2}
)";

}  // namespace

TEST_CASE("the SPEC example parses with effective values", "[jobspec]") {
  auto r = parse_job_spec(kExample);
  INFO((r.ok() ? std::string() : r.error().describe()));
  REQUIRE(r.ok());
  const JobSpec& spec = *r;
  CHECK(spec.name == "wordcount");
  CHECK(spec.priority == 0);
  CHECK(spec.max_attempts == 4);
  CHECK(spec.timeout == 1h);
  CHECK(spec.env == std::map<std::string, std::string>{{"LC_ALL", "C"}});
  CHECK(spec.resources.memory == 512ULL << 20);
  REQUIRE(spec.stages.size() == 2);

  const StageSpec& count = spec.stages[0];
  CHECK(count.name == "count");
  CHECK(count.command == std::vector<std::string>{"python3", "count.py", "{input}"});
  CHECK(count.inputs.kind == StageInputs::Kind::files);
  CHECK(count.inputs.files.size() == 2);
  CHECK(count.timeout == 1h);
  CHECK(count.retry_backoff == 1s);
  CHECK(count.checkpoint_interval == 30s);
  CHECK(count.resources.cpus == 1);

  const StageSpec& merge = spec.stages[1];
  CHECK(merge.after == std::vector<std::string>{"count"});
  CHECK(merge.inputs.kind == StageInputs::Kind::none);
  CHECK(merge.resources.cpus == 2);
  CHECK(merge.resources.memory == 512ULL << 20);  // merged per key
  CHECK(merge.env.at("LC_ALL") == "C");
  CHECK(spec.stage_index("merge") == 1);
  CHECK(spec.stage_index("nope") == -1);
}

TEST_CASE("stage overrides merge with job defaults", "[jobspec]") {
  auto r = parse_job_spec(R"(
name: j
max_attempts: 2
retry_backoff: 2s
env: {A: "1", B: "2"}
resources: {cpus: 0.5, memory: 1000}
stages:
  - name: s
    command: [run]
    max_attempts: 7
    timeout: 5m
    checkpoint_interval: 1m30s
    env: {B: 3, C: x}
    resources: {memory: 1Gi}
    inputs: {range: 10}
  - name: t
    command: [run]
    inputs: {items: [eu, us, 3]}
)");
  INFO((r.ok() ? std::string() : r.error().describe()));
  REQUIRE(r.ok());
  const StageSpec& s = r->stages[0];
  CHECK(s.max_attempts == 7);
  CHECK(s.retry_backoff == 2s);
  CHECK(s.timeout == 5min);
  CHECK(s.checkpoint_interval == 90s);
  CHECK(s.env == std::map<std::string, std::string>{{"A", "1"}, {"B", "3"}, {"C", "x"}});
  CHECK(s.resources.cpus == 0.5);
  CHECK(s.resources.memory == 1ULL << 30);
  CHECK(s.inputs.kind == StageInputs::Kind::range);
  CHECK(s.inputs.range == 10);
  const StageSpec& t = r->stages[1];
  CHECK(t.max_attempts == 2);
  CHECK(t.timeout == 0ms);
  CHECK(t.resources.memory == 1000);
  CHECK(t.env.at("B") == "2");
  CHECK(t.inputs.items == std::vector<std::string>{"eu", "us", "3"});
  CHECK(r->max_attempts == 2);
}

TEST_CASE("invalid specs name the field", "[jobspec]") {
  const std::string stage = "stages:\n  - name: s\n    command: [x]\n";
  struct Case {
    std::string yaml;
    std::string field;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"name: j\nfoo: 1\n" + stage, "foo", "unknown key"},
      {"name: j\nstages:\n  - name: s\n    comand: [x]\n", "stages[0].comand", "unknown key"},
      {"name: Word\n" + stage, "name", "does not match"},
      {"name: -j\n" + stage, "name", "does not match"},
      {stage, "name", "required"},
      {"name: j\n", "stages", "required"},
      {"name: j\nstages: []\n", "stages", "non-empty"},
      {"name: j\nstages:\n  - name: s\n", "stages[0].command", "required"},
      {"name: j\nstages:\n  - name: s\n    command: []\n", "stages[0].command", "non-empty"},
      {"name: j\nstages:\n  - name: s\n    command: [[a]]\n", "stages[0].command[0]", "string"},
      {"name: j\nstages:\n  - name: S\n    command: [x]\n", "stages[0].name", "does not match"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n  - name: s\n    command: [y]\n",
       "stages[1].name", "duplicate stage \"s\""},
      {"name: j\nstages:\n  - name: count\n    command: [x]\n  - name: merge\n    command: [y]\n"
       "    after: [cont]\n",
       "stages[1].after", "unknown stage \"cont\""},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    after: [s]\n", "stages[0].after",
       "depends on itself"},
      {"name: j\nstages:\n  - name: a\n    command: [x]\n    after: [b]\n  - name: b\n"
       "    command: [x]\n    after: [a]\n",
       "stages[0].after", "dependency cycle: a -> b -> a"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {files: [a], range: 3}\n",
       "stages[0].inputs", "exactly one of"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {}\n", "stages[0].inputs",
       "needs one of"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 0}\n",
       "stages[0].inputs.range", "at least 1"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 1000001}\n",
       "stages[0].inputs.range", "at most 1000000"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {files: [a, b, \"\"]}\n",
       "stages[0].inputs.files[2]", "must not be empty"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {items: []}\n",
       "stages[0].inputs.items", "non-empty"},
      {"name: j\ntimeout: 10x\n" + stage, "timeout", "bad duration \"10x\""},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    retry_backoff: soon\n",
       "stages[0].retry_backoff", "bad duration"},
      {"name: j\nresources: {memory: 12XB}\n" + stage, "resources.memory", "bad size"},
      {"name: j\nresources: {cpus: -1}\n" + stage, "resources.cpus", "positive"},
      {"name: j\nresources: {gpus: 1}\n" + stage, "resources.gpus", "unknown key"},
      {"name: j\nmax_attempts: 0\n" + stage, "max_attempts", "at least 1"},
      {"name: j\nmax_attempts: two\n" + stage, "max_attempts", "integer"},
      {"name: j\npriority: 1.5\n" + stage, "priority", "integer"},
      {"name: j\nenv: [A]\n" + stage, "env", "must be a map"},
      {"name: j\nenv: {A: {B: c}}\n" + stage, "env.A", "string"},
      {"name: j\nno_retry_exit_codes: [0]\n" + stage, "no_retry_exit_codes[0]", "1"},
      {"name: j\nno_retry_exit_codes: 2\n" + stage, "no_retry_exit_codes", "list"},
      {"name: j\nmax_failed_tasks: -1\n" + stage, "max_failed_tasks", "at least 0"},
      {"name: j\nmax_running: lots\n" + stage, "max_running", "integer"},
      {"name: j\nspeculation: yes please\n" + stage, "speculation", "true or false"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    partitions: 4\n",
       "stages[0].partitions", "needs after"},
      {"name: j\nstages:\n  - name: a\n    command: [x]\n  - name: s\n    command: [x]\n"
       "    after: [a]\n    partitions: 0\n",
       "stages[1].partitions", "at least 1"},
      {"name: j\nstages:\n  - name: a\n    command: [x]\n  - name: s\n    command: [x]\n"
       "    after: [a]\n    inputs: {range: 2}\n    partitions: 4\n",
       "stages[1].partitions", "inputs and partitions together"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    cache: maybe\n", "stages[0].cache",
       "true or false"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {range: 3, group_bytes: "
       "1Mi}\n",
       "stages[0].inputs.group_bytes", "only allowed with files"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    inputs: {files: [a], group_bytes: "
       "lots}\n",
       "stages[0].inputs.group_bytes", "bad size"},
      {"name: j\nstages:\n  - name: s\n    command: [x]\n    max_failed_tasks: 1\n",
       "stages[0].max_failed_tasks", "unknown key"},
      {"name: j\nname: k\n" + stage, "name", "duplicate key"},
      {"name: j\nstages: {a: 1}\n", "stages", "non-empty list"},
      {"name: j\nstages:\n  - just a string\n", "stages[0]", "must be a map"},
      {"name: [j\n", "", "YAML syntax error at line"},
      {"- a\n- b\n", "", "must be a map"},
      {"", "", "empty"},
      {"# only a comment\n", "", "empty"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    auto r = parse_job_spec(c.yaml);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::invalid_spec);
    CHECK(r.error().field == c.field);
    CHECK_THAT(r.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("a cycle is reported at a stage on the cycle", "[jobspec]") {
  auto r = parse_job_spec(R"(
name: j
stages:
  - {name: root, command: [x]}
  - {name: a, command: [x], after: [root, c]}
  - {name: b, command: [x], after: [a]}
  - {name: c, command: [x], after: [b]}
  - {name: tail, command: [x], after: [c]}
)");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().field == "stages[1].after");
  CHECK(r.error().message == "dependency cycle: a -> c -> b -> a");
}

TEST_CASE("job specs round-trip through JSON", "[jobspec]") {
  auto r = parse_job_spec(R"(
name: j.x-1
priority: -3
timeout: 1h30m
env: {A: b}
resources: {cpus: 1.5, memory: 3Gi}
stages:
  - name: a
    command: [x, "{input}"]
    inputs: {files: ["*.txt"]}
    retry_backoff: 250ms
  - name: b
    command: [y]
    after: [a]
    inputs: {range: 5}
  - name: c
    command: [z]
    after: [a, b]
    inputs: {items: [p, q]}
  - name: d
    command: [w]
)");
  REQUIRE(r.ok());
  nlohmann::json j = *r;
  CHECK(j["timeout"] == "1h30m");
  CHECK(j["resources"]["memory"] == 3ULL << 30);
  JobSpec back = j.get<JobSpec>();
  nlohmann::json again = back;
  CHECK(again == j);
  CHECK(back.stages[0].retry_backoff == 250ms);
  CHECK(back.stages[1].inputs.kind == StageInputs::Kind::range);
  CHECK(back.stages[1].inputs.range == 5);
  CHECK(back.stages[2].inputs.items == std::vector<std::string>{"p", "q"});
  CHECK(back.stages[3].inputs.kind == StageInputs::Kind::none);
  CHECK(back.resources.cpus == 1.5);
  CHECK(back.priority == -3);
}

TEST_CASE("topological order puts stages after their dependencies", "[jobspec]") {
  auto r = parse_job_spec(R"(
name: j
stages:
  - {name: d, command: [x], after: [b, c]}
  - {name: c, command: [x], after: [a]}
  - {name: b, command: [x], after: [a]}
  - {name: a, command: [x]}
  - {name: e, command: [x]}
)");
  REQUIRE(r.ok());
  CHECK(topological_order(*r) == std::vector<int>{3, 1, 2, 0, 4});
}

TEST_CASE("job and stage name patterns", "[jobspec]") {
  CHECK(is_valid_job_name("a"));
  CHECK(is_valid_job_name("word.count-2_x"));
  CHECK(is_valid_job_name(std::string(63, 'a')));
  CHECK_FALSE(is_valid_job_name(std::string(64, 'a')));
  CHECK_FALSE(is_valid_job_name(""));
  CHECK_FALSE(is_valid_job_name(".a"));
  CHECK_FALSE(is_valid_job_name("a b"));
  CHECK(is_valid_stage_name("count_2-x"));
  CHECK_FALSE(is_valid_stage_name("count.x"));
  CHECK_FALSE(is_valid_stage_name("Count"));
}

TEST_CASE("data-parallel keys parse with their defaults and inheritance", "[jobspec]") {
  auto r = parse_job_spec(R"(
name: dp
max_failed_tasks: 3
max_running: 10
speculation: true
stages:
  - name: map
    command: [x]
    cache: true
    inputs: {files: ["data/*"], group_bytes: 256Mi}
  - name: reduce
    after: [map]
    partitions: 4
    speculation: false
    max_running: 2
    command: [y]
)");
  INFO((r.ok() ? std::string() : r.error().describe()));
  REQUIRE(r.ok());
  CHECK(r->max_failed_tasks == 3);
  CHECK(r->max_running == 10);
  CHECK(r->stages[0].cache);
  CHECK(r->stages[0].speculation);  // inherited from the job
  CHECK(r->stages[0].inputs.group_bytes == 256ULL << 20);
  CHECK(r->stages[0].max_running == 0);
  CHECK_FALSE(r->stages[1].cache);
  CHECK_FALSE(r->stages[1].speculation);  // overridden
  CHECK(r->stages[1].partitions == 4);
  CHECK(r->stages[1].max_running == 2);
  // And they survive the JSON round trip the master stores.
  JobSpec back = nlohmann::json(*r).get<JobSpec>();
  CHECK(back.max_failed_tasks == 3);
  CHECK(back.speculation);
  CHECK(back.stages[0].inputs.group_bytes == 256ULL << 20);
  CHECK(back.stages[1].partitions == 4);
  CHECK(back.stages[0].cache);
  CHECK(back.stages[1].max_running == 2);
}
