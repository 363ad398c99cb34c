#include "common/config/config.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

#include "common/fs/fs.hpp"

using namespace drover;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using Type = ConfigKey::Type;
using Args = std::vector<std::string>;

std::vector<ConfigKey> test_keys() {
  return {
      {"listen", Type::string, "127.0.0.1:7070", "address to listen on"},
      {"data_dir", Type::string, "/var/lib/drover/master", "state directory"},
      {"worker_timeout", Type::duration, "10s", "dead after this long without heartbeat"},
      {"max_bundle_size", Type::size, "1Gi", "largest bundle accepted"},
      {"slots", Type::integer, "", "task slots"},
      {"cpus", Type::number, "", "cpus to offer"},
      {"allow_root", Type::boolean, "false", "run tasks as root"},
      {"auth.tokens_file", Type::string, "", "users and token hashes"},
      {"labels", Type::string_map, "{}", "worker labels"},
  };
}

// A config file in a temp dir removed at the end of the test.
struct ConfigFile {
  fs::path dir = make_temp_dir("drover-config-test-").value();
  fs::path path = dir / "config.yaml";
  explicit ConfigFile(const std::string& text) { REQUIRE(write_file_atomic(path, text).ok()); }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;
  ~ConfigFile() { (void)drover::remove_all(dir); }
};

Result<ConfigLoad> load(const Args& args) {
  Args full = {"drover-master"};
  full.insert(full.end(), args.begin(), args.end());
  return load_config("drover-master", test_keys(), full, {"insecure"});
}

}  // namespace

TEST_CASE("defaults apply without file or flags", "[config]") {
  auto r = load({});
  REQUIRE(r.ok());
  const ConfigValues& v = r->values;
  CHECK(v.get_string("listen") == "127.0.0.1:7070");
  CHECK(v.get_duration("worker_timeout") == 10s);
  CHECK(v.get_size("max_bundle_size") == 1ULL << 30);
  CHECK_FALSE(v.get_bool("allow_root"));
  CHECK_FALSE(v.has("slots"));
  CHECK_FALSE(v.has("auth.tokens_file"));
  CHECK(v.get_map("labels").empty());
  CHECK(r->flags_set.empty());
  CHECK_FALSE(r->help_requested);
}

TEST_CASE("flags win over the file, which wins over defaults", "[config]") {
  ConfigFile file(R"(
listen: 0.0.0.0:7070
data_dir: /srv/drover
worker_timeout: 30s
slots: 4
auth:
  tokens_file: /etc/drover/tokens.yaml
labels: {zone: a, rack: 3}
)");
  auto r = load({"--config", file.path.string(), "--worker-timeout", "2s", "--data-dir=/data",
                 "--insecure", "--allow-root", "--cpus", "1.5"});
  INFO((r.ok() ? std::string() : r.error().describe()));
  REQUIRE(r.ok());
  const ConfigValues& v = r->values;
  CHECK(v.get_string("listen") == "0.0.0.0:7070");
  CHECK(v.get_string("data_dir") == "/data");
  CHECK(v.get_duration("worker_timeout") == 2s);
  CHECK(v.get_integer("slots") == 4);
  CHECK(v.get_number("cpus") == 1.5);
  CHECK(v.get_bool("allow_root"));
  CHECK(v.get_string("auth.tokens_file") == "/etc/drover/tokens.yaml");
  CHECK(v.get_map("labels") == std::map<std::string, std::string>{{"zone", "a"}, {"rack", "3"}});
  CHECK(r->flags_set == std::vector<std::string>{"insecure"});
}

TEST_CASE("string maps come from YAML maps or key=value flags", "[config]") {
  auto r = load({"--labels", "zone=b,rack=7", "--auth-tokens-file", "/t"});
  REQUIRE(r.ok());
  CHECK(r->values.get_map("labels") ==
        std::map<std::string, std::string>{{"zone", "b"}, {"rack", "7"}});
  CHECK(r->values.get_string("auth.tokens_file") == "/t");

  ConfigFile file("labels: {zone: a}\n");
  auto f = load({"--config", file.path.string(), "--labels=gpu=yes"});
  REQUIRE(f.ok());
  CHECK(f->values.get_map("labels") == std::map<std::string, std::string>{{"gpu", "yes"}});

  auto bad = load({"--labels", "zone"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().field == "labels");
}

TEST_CASE("booleans accept the usual spellings", "[config]") {
  for (const char* t : {"true", "yes", "1"})
    CHECK(load({"--allow-root", t})->values.get_bool("allow_root"));
  for (const char* f : {"false", "no", "0"})
    CHECK_FALSE(load({"--allow-root", f})->values.get_bool("allow_root"));
  auto bad = load({"--allow-root=maybe"});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().field == "allow_root");
}

TEST_CASE("config errors name the key", "[config]") {
  struct Case {
    std::string file;  // "" = no file
    Args flags;
    std::string field;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"lisen: x\n", {}, "lisen", "unknown key \"lisen\""},
      {"auth: {tokens_fle: x}\n", {}, "auth.tokens_fle", "unknown key \"auth.tokens_fle\""},
      {"worker_timeout: 10x\n", {}, "worker_timeout", "bad duration \"10x\""},
      {"", {"--worker-timeout", "10x"}, "worker_timeout", "bad duration \"10x\""},
      {"", {"--max-bundle-size", "lots"}, "max_bundle_size", "bad size \"lots\""},
      {"", {"--slots", "four"}, "slots", "bad integer \"four\""},
      {"", {"--cpus", "many"}, "cpus", "bad number \"many\""},
      {"", {"--lisen", "x"}, "lisen", "unknown flag \"--lisen\""},
      {"", {"stray"}, "", "unexpected argument \"stray\""},
      {"listen: [a, b]\n", {}, "listen", "single value"},
      {"- a\n", {}, "config", "must be a map"},
      {"listen: [\n", {}, "config", "YAML syntax error"},
  };
  for (const Case& c : cases) {
    INFO(c.file << " " << (c.flags.empty() ? "" : c.flags.front()));
    std::optional<ConfigFile> file;
    Args args = c.flags;
    if (!c.file.empty()) {
      file.emplace(c.file);
      args.insert(args.begin(), {"--config", file->path.string()});
    }
    auto r = load(args);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::invalid_argument);
    CHECK(r.error().field == c.field);
    CHECK_THAT(r.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("an unreadable config file is an error naming the path", "[config]") {
  auto r = load({"--config", "/nonexistent/drover.yaml"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(r.error().message, Catch::Contains("/nonexistent/drover.yaml"));
}

TEST_CASE("an empty config file keeps the defaults", "[config]") {
  ConfigFile file("# nothing yet\n");
  auto r = load({"--config", file.path.string()});
  REQUIRE(r.ok());
  CHECK(r->values.get_string("listen") == "127.0.0.1:7070");
}

TEST_CASE("--help lists every key with its default", "[config]") {
  auto r = load({"--help"});
  REQUIRE(r.ok());
  CHECK(r->help_requested);
  for (const ConfigKey& k : test_keys()) {
    CHECK_THAT(r->help_text, Catch::Contains(k.help));
    CHECK_THAT(r->help_text, Catch::Contains("`" + k.name + "`"));
  }
  CHECK_THAT(r->help_text, Catch::Contains("--worker-timeout DURATION"));
  CHECK_THAT(r->help_text, Catch::Contains("default: 10s"));
  CHECK_THAT(r->help_text, Catch::Contains("--auth-tokens-file"));
  CHECK_THAT(r->help_text, Catch::Contains("--insecure"));
  // Also without argv[0].
  auto bare = load_config("drover-worker", test_keys(), {"-h"});
  REQUIRE(bare.ok());
  CHECK(bare->help_requested);
}
