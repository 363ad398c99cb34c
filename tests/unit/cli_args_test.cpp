#include <catch2/catch.hpp>
#include <sstream>

#include "cli/app.hpp"

using namespace drover;
using namespace drover::cli;

namespace {

// Parses argv (without the program name) into a fresh Invocation.
struct Parsed {
  Invocation inv;
  std::optional<int> exit;
  std::string out, err;
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  args.insert(args.begin(), "drover");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  auto app = build_app(p.inv);
  std::ostringstream out, err;
  p.exit = parse_command_line(*app, p.inv, static_cast<int>(argv.size()), argv.data(), out, err);
  p.out = out.str();
  p.err = err.str();
  return p;
}

}  // namespace

TEST_CASE("cli global flags", "[cli][args]") {
  auto p = parse(
      {"--master", "http://m:1", "--token", "t0k", "--ca", "ca.pem", "-o", "json", "workers"});
  REQUIRE_FALSE(p.exit);
  CHECK(p.inv.command == "workers");
  CHECK(p.inv.global.master == "http://m:1");
  CHECK(p.inv.global.token == "t0k");
  CHECK(p.inv.global.ca == "ca.pem");
  CHECK(p.inv.global.output == "json");

  auto after = parse({"status", "-o", "json"});  // global flags may follow the command
  REQUIRE_FALSE(after.exit);
  CHECK(after.inv.global.output == "json");
}

TEST_CASE("cli usage errors exit 2, help exits 0", "[cli][args]") {
  CHECK(parse({}).exit == 2);
  CHECK(parse({"frobnicate"}).exit == 2);
  CHECK(parse({"-o", "yaml", "workers"}).exit == 2);
  CHECK(parse({"wait"}).exit == 2);
  CHECK(parse({"logs", "j", "s", "-1"}).exit == 2);
  CHECK(parse({"tasks", "j", "--state", "weird"}).exit == 2);
  CHECK(parse({"output", "j"}).exit == 2);  // --to is required
  auto help = parse({"--help"});
  CHECK(help.exit == 0);
  CHECK(help.out.find("submit") != std::string::npos);
}

TEST_CASE("cli submit arguments", "[cli][args]") {
  auto p = parse({"submit", "bundle/", "--name", "wc", "--priority", "5", "--wait"});
  REQUIRE_FALSE(p.exit);
  CHECK(p.inv.command == "submit");
  CHECK(p.inv.submit.bundle == "bundle/");
  CHECK(p.inv.submit.name == "wc");
  CHECK(p.inv.submit.priority == 5);
  CHECK(p.inv.submit.wait);

  auto plain = parse({"submit", "b.tar.gz"});
  REQUIRE_FALSE(plain.exit);
  CHECK_FALSE(plain.inv.submit.name);
  CHECK_FALSE(plain.inv.submit.priority);
  CHECK_FALSE(plain.inv.submit.wait);
  CHECK(parse({"submit", "b", "--priority", "high"}).exit == 2);
}

TEST_CASE("cli job commands' arguments", "[cli][args]") {
  CHECK(parse({"wait", "j1"}).inv.wait.job == "j1");
  CHECK(parse({"status"}).inv.status.job.empty());
  CHECK(parse({"status", "j1"}).inv.status.job == "j1");
  CHECK(parse({"cancel", "j1"}).inv.cancel.job == "j1");

  auto tasks = parse({"tasks", "j1", "--stage", "count", "--state", "failed"});
  REQUIRE_FALSE(tasks.exit);
  CHECK(tasks.inv.tasks.job == "j1");
  CHECK(tasks.inv.tasks.stage == "count");
  CHECK(tasks.inv.tasks.state == "failed");

  auto rerun = parse({"rerun", "j1", "--failed-only"});
  REQUIRE_FALSE(rerun.exit);
  CHECK(rerun.inv.rerun.job == "j1");
  CHECK(rerun.inv.rerun.failed_only);

  auto output = parse({"output", "j1", "--stage", "merge", "--to", "out"});
  REQUIRE_FALSE(output.exit);
  CHECK(output.inv.output.stage == "merge");
  CHECK(output.inv.output.to == "out");
}

TEST_CASE("cli logs arguments", "[cli][args]") {
  auto p = parse({"logs", "j1", "count", "3", "--attempt", "2", "--stderr", "--follow"});
  REQUIRE_FALSE(p.exit);
  CHECK(p.inv.command == "logs");
  CHECK(p.inv.logs.job == "j1");
  CHECK(p.inv.logs.stage == "count");
  CHECK(p.inv.logs.index == 3);
  CHECK(p.inv.logs.attempt == 2);
  CHECK(p.inv.logs.stderr_stream);
  CHECK(p.inv.logs.follow);

  auto latest = parse({"logs", "j1", "count", "0"});
  REQUIRE_FALSE(latest.exit);
  CHECK_FALSE(latest.inv.logs.attempt);
  CHECK_FALSE(latest.inv.logs.follow);
}

TEST_CASE("cli worker and local commands' arguments", "[cli][args]") {
  CHECK(parse({"workers"}).inv.command == "workers");
  CHECK(parse({"drain", "w-7"}).inv.drain.worker == "w-7");

  auto local = parse({"local", "bundle", "--workers", "3", "--to", "out"});
  REQUIRE_FALSE(local.exit);
  CHECK(local.inv.local.bundle == "bundle");
  CHECK(local.inv.local.workers == 3);
  CHECK(local.inv.local.to == "out");

  auto defaults = parse({"local", "bundle"});
  REQUIRE_FALSE(defaults.exit);
  CHECK(defaults.inv.local.workers == 0);
  CHECK(defaults.inv.local.to == "output");
  CHECK(parse({"local", "bundle", "--workers", "0"}).exit == 2);
}
