#include <catch2/catch.hpp>

#include "tests/unit/worker_runner_fixture.hpp"
#include "worker/agent/task_env.hpp"

using namespace drover;
using namespace drover::worker;

namespace {

Assignment sample() {
  Assignment a;
  a.attempt_id = 42;
  a.job = "j-7";
  a.stage = "count";
  a.index = 3;
  a.count = 10;
  a.attempt = 2;
  a.input_kind = "file";
  a.input = "data/a.txt";
  a.command = {"python3",  "count.py",  "{input}",     "--out={output}/{stage}-{index}-of-{count}",
               "{job}",    "{attempt}", "{input_dir}", "{checkpoint}",
               "{unknown}"};
  a.env = {{"LC_ALL", "C"}, {"LANG", "en_US.UTF-8"}, {"DROVER_STAGE", "spoofed"}};
  return a;
}

}  // namespace

TEST_CASE("task environment has the SPEC variables with absolute paths", "[worker][env]") {
  auto paths = AttemptPaths::under("/w", 42);
  TaskLaunch l = build_task_launch(sample(), paths, "/usr/bin:/bin");
  CHECK(l.env.at("PATH") == "/usr/bin:/bin");
  CHECK(l.env.at("HOME") == "/w/attempts/42/sandbox");
  CHECK(l.env.at("TMPDIR") == "/w/attempts/42/tmp");
  CHECK(l.env.at("LANG") == "en_US.UTF-8");  // the job's env wins over defaults
  CHECK(l.env.at("LC_ALL") == "C");
  CHECK(l.env.at("DROVER_JOB_ID") == "j-7");
  CHECK(l.env.at("DROVER_STAGE") == "count");  // drover's variables win over the job's
  CHECK(l.env.at("DROVER_TASK_INDEX") == "3");
  CHECK(l.env.at("DROVER_TASK_COUNT") == "10");
  CHECK(l.env.at("DROVER_ATTEMPT") == "2");
  CHECK(l.env.at("DROVER_INPUT") == "/w/attempts/42/sandbox/data/a.txt");
  CHECK(l.env.at("DROVER_INPUT_DIR") == "/w/attempts/42/input");
  CHECK(l.env.at("DROVER_OUTPUT_DIR") == "/w/attempts/42/output");
  CHECK(l.env.at("DROVER_CHECKPOINT_DIR") == "/w/attempts/42/checkpoint");
  CHECK(l.env.at("DROVER_PROGRESS_FILE") == "/w/attempts/42/progress");
}

TEST_CASE("task argv has placeholders expanded", "[worker][env]") {
  auto paths = AttemptPaths::under("/w", 42);
  TaskLaunch l = build_task_launch(sample(), paths, "/bin");
  CHECK(l.argv ==
        std::vector<std::string>{"python3", "count.py", "/w/attempts/42/sandbox/data/a.txt",
                                 "--out=/w/attempts/42/output/count-3-of-10", "j-7", "2",
                                 "/w/attempts/42/input", "/w/attempts/42/checkpoint", "{unknown}"});
}

TEST_CASE("DROVER_INPUT follows the input kind", "[worker][env]") {
  auto paths = AttemptPaths::under("/w", 1);
  Assignment a = sample();
  a.input = "/mnt/shared/x.gz";
  CHECK(task_input(a, paths) == "/mnt/shared/x.gz");
  a.input_kind = "item";
  a.input = "eu";
  CHECK(task_input(a, paths) == "eu");
  a.input_kind = "index";
  a.input = "";
  CHECK(task_input(a, paths) == "3");
  a.input = "5";
  CHECK(task_input(a, paths) == "5");
  a.input_kind = "none";
  CHECK(task_input(a, paths) == "");
}

TEST_CASE("task PATH defaults when the worker has none", "[worker][env]") {
  CHECK(task_path(nullptr) == "/usr/local/bin:/usr/bin:/bin");
  CHECK(task_path("") == "/usr/local/bin:/usr/bin:/bin");
  CHECK(task_path("/opt/bin") == "/opt/bin");
}

TEST_CASE("progress files parse as a fraction or -1", "[worker][env]") {
  CHECK(parse_progress("0.42") == Approx(0.42));
  CHECK(parse_progress(" 1\n") == Approx(1.0));
  CHECK(parse_progress("0") == Approx(0.0));
  for (const char* bad : {"", "abc", "0.5x", "1.5", "-0.1", "nan", "inf", "\n"}) {
    INFO(bad);
    CHECK(parse_progress(bad) == -1);
  }
}

TEST_CASE("DROVER_INPUT_LIST and {inputs} list every input file", "[worker][env][inputs]") {
  auto paths = AttemptPaths::under("/w", 42);
  Assignment a = sample();
  a.command = {"cat", "{inputs}", "--", "x{inputs}", "{input}"};
  SECTION("files (group_bytes)") {
    a.input_kind = "files";
    a.inputs = {"data/a.txt", "/mnt/shared/b.txt", "data/c d.txt"};
    a.input = a.inputs.front();
    TaskLaunch l = build_task_launch(a, paths, "/bin");
    CHECK(l.env.at("DROVER_INPUT") == "/w/attempts/42/sandbox/data/a.txt");
    CHECK(l.env.at("DROVER_INPUT_LIST") == "/w/attempts/42/input_list");
    CHECK(l.argv == std::vector<std::string>{"cat", "/w/attempts/42/sandbox/data/a.txt",
                                             "/mnt/shared/b.txt",
                                             "/w/attempts/42/sandbox/data/c d.txt", "--",
                                             "x{inputs}", "/w/attempts/42/sandbox/data/a.txt"});
    CHECK(input_list_text(task_input_files(a, paths)) ==
          "/w/attempts/42/sandbox/data/a.txt\n/mnt/shared/b.txt\n"
          "/w/attempts/42/sandbox/data/c d.txt\n");
  }
  SECTION("file: a list of one") {
    TaskLaunch l = build_task_launch(a, paths, "/bin");
    CHECK(l.env.at("DROVER_INPUT_LIST") == "/w/attempts/42/input_list");
    CHECK(l.argv == std::vector<std::string>{"cat", "/w/attempts/42/sandbox/data/a.txt", "--",
                                             "x{inputs}", "/w/attempts/42/sandbox/data/a.txt"});
    CHECK(task_input_files(a, paths) ==
          std::vector<std::string>{"/w/attempts/42/sandbox/data/a.txt"});
  }
  SECTION("other kinds: no list, {inputs} is {input}") {
    a.input_kind = "item";
    a.input = "eu";
    TaskLaunch l = build_task_launch(a, paths, "/bin");
    CHECK(l.env.count("DROVER_INPUT_LIST") == 0);
    CHECK(l.argv == std::vector<std::string>{"cat", "eu", "--", "x{inputs}", "eu"});
    CHECK(task_input_files(a, paths).empty());
    CHECK_FALSE(has_input_list(a));
  }
  SECTION("partition: DROVER_INPUT is the partition") {
    a.input_kind = "partition";
    a.input = "3";
    a.partition = 3;
    TaskLaunch l = build_task_launch(a, paths, "/bin");
    CHECK(l.env.at("DROVER_INPUT") == "3");
    CHECK(l.env.count("DROVER_INPUT_LIST") == 0);
    CHECK(l.argv == std::vector<std::string>{"cat", "3", "--", "x{inputs}", "3"});
  }
}

namespace {
struct InputsFixture : testing::RunnerFixture {
  InputsFixture() : RunnerFixture(std::nullopt, {{"data/one", "1\n"}, {"data/two", "2\n"}}) {}
};
}  // namespace

TEST_CASE_METHOD(InputsFixture, "the task reads DROVER_INPUT_LIST and gets {inputs}",
                 "[worker][env][inputs]") {
  auto a = assignment(60, "cat \"$DROVER_INPUT_LIST\" > \"$DROVER_OUTPUT_DIR/list\" && "
                          "printf '%s|' \"$@\" > \"$DROVER_OUTPUT_DIR/argv\" && "
                          "cat \"$@\" > \"$DROVER_OUTPUT_DIR/cat\"");
  a.command.push_back("sh");  // $0
  a.command.push_back("{inputs}");
  a.input_kind = "files";
  a.inputs = {"data/one", "data/two"};
  a.input = "data/one";
  auto r = run(a);
  REQUIRE(r.state == AttemptState::succeeded);
  const std::string& out = master.blobs.at(r.output_digest);
  const std::string sandbox = (work_path / "attempts/60/sandbox").string();
  CHECK(read_archive_member(out, "list").value() ==
        sandbox + "/data/one\n" + sandbox + "/data/two\n");
  CHECK(read_archive_member(out, "argv").value() ==
        sandbox + "/data/one|" + sandbox + "/data/two|");
  CHECK(read_archive_member(out, "cat").value() == "1\n2\n");
}
