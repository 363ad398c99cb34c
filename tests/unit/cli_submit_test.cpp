#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "cli/bundle/bundle_packer.hpp"
#include "cli/commands/submit.hpp"
#include "cli_fake_master_api.hpp"
#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"

using namespace drover;
using namespace drover::cli;
using drover::cli::testing::FakeCommandEnv;
namespace fs = std::filesystem;

namespace {

// A temporary directory removed at the end of the test.
struct TempDir {
  fs::path path = make_temp_dir("drover-cli-test-").value();
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

std::string job_yaml(const std::string& files) {
  return "name: wc\n"
         "stages:\n"
         "  - name: count\n"
         "    command: [\"cat\", \"{input}\"]\n"
         "    inputs:\n"
         "      files: " +
         files + "\n";
}

// The file's modification time in ns since the epoch, as stat(2) reports it.
std::int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Sets the file's modification (and access) time to `ns` since the epoch.
void set_mtime_ns(const fs::path& path, std::int64_t ns) {
  const timespec t{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  const timespec times[2] = {t, t};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

}  // namespace

TEST_CASE("cli submit packs absolute globs into .drover/inputs.json", "[cli][submit]") {
  TempDir bundle, shared;
  write(shared.path / "logs" / "b.log", "b");
  write(shared.path / "logs" / "a.log", "a");
  write(shared.path / "logs" / "skip.txt", "x");
  write(bundle.path / "data" / "one.txt", "1");
  const std::string abs_glob = (shared.path / "logs" / "*.log").string();
  write(bundle.path / "job.yaml", job_yaml("[\"data/*.txt\", \"" + abs_glob + "\"]"));

  auto packed = pack_bundle(bundle.path);
  REQUIRE(packed.ok());
  REQUIRE(packed->spec);
  const std::string a = (shared.path / "logs" / "a.log").string();
  const std::string b = (shared.path / "logs" / "b.log").string();
  const nlohmann::json expected{{"stages", {{"count", {{abs_glob, {a, b}}}}}},
                                {"files",
                                 {{a, {{"size", 1}, {"mtime_ns", mtime_ns(a)}}},
                                  {b, {{"size", 1}, {"mtime_ns", mtime_ns(b)}}}}}};
  CHECK(packed->inputs_manifest == expected);

  auto listing = list_archive(packed->archive);
  REQUIRE(listing.ok());
  CHECK(listing->files ==
        std::vector<std::string>{".drover/inputs.json", "data/one.txt", "job.yaml"});
  auto manifest = read_archive_member(packed->archive, kInputsManifestPath);
  REQUIRE(manifest.ok());
  CHECK(nlohmann::json::parse(*manifest) == expected);
}

TEST_CASE("cli submit without absolute globs adds no manifest", "[cli][submit]") {
  TempDir bundle;
  write(bundle.path / "data" / "one.txt", "1");
  write(bundle.path / "job.yaml", job_yaml("[\"data/*.txt\"]"));
  auto packed = pack_bundle(bundle.path);
  REQUIRE(packed.ok());
  CHECK(packed->inputs_manifest.is_null());
  auto listing = list_archive(packed->archive);
  REQUIRE(listing.ok());
  CHECK(listing->files == std::vector<std::string>{"data/one.txt", "job.yaml"});
}

TEST_CASE("cli submit names the glob that matches nothing and exits 2", "[cli][submit]") {
  TempDir bundle;
  write(bundle.path / "data" / "one.txt", "1");
  write(bundle.path / "job.yaml", job_yaml("[\"data/*.txt\", \"missing/*.csv\"]"));
  auto packed = pack_bundle(bundle.path);
  REQUIRE_FALSE(packed.ok());
  CHECK(packed.error().field == "stages[0].inputs.files[1]");
  CHECK(packed.error().code == ErrorCode::invalid_spec);

  FakeCommandEnv env;
  SubmitArgs args;
  args.bundle = bundle.path.string();
  CHECK(run_submit(env.ctx, args) == 2);
  CHECK(env.err.str().rfind("error: stages[0].inputs.files[1]: ", 0) == 0);
  CHECK(env.api.submitted_bundle.empty());  // nothing was sent
}

TEST_CASE("cli submit reports an invalid job.yaml by field", "[cli][submit]") {
  TempDir bundle;
  write(bundle.path / "job.yaml", "name: wc\nstages: []\n");
  FakeCommandEnv env;
  SubmitArgs args;
  args.bundle = bundle.path.string();
  CHECK(run_submit(env.ctx, args) == 2);
  CHECK(env.err.str().rfind("error: stages", 0) == 0);

  TempDir empty;
  args.bundle = empty.path.string();
  CHECK(run_submit(env.ctx, args) == 2);
  CHECK(env.err.str().find("error: job.yaml: ") != std::string::npos);
}

TEST_CASE("cli submit uploads and prints the job id only", "[cli][submit]") {
  TempDir bundle;
  write(bundle.path / "job.yaml", "name: wc\nstages:\n  - name: one\n    command: [\"true\"]\n");
  FakeCommandEnv env;
  JobInfo created;
  created.id = "j-42";
  created.name = "wc";
  env.api.submit_answer = created;
  SubmitArgs args;
  args.bundle = bundle.path.string();
  args.name = "other";
  args.priority = 3;
  CHECK(run_submit(env.ctx, args) == 0);
  CHECK(env.out.str() == "j-42\n");
  CHECK(env.api.submitted_params.name == "other");
  CHECK(env.api.submitted_params.priority == 3);
  CHECK(list_archive(env.api.submitted_bundle).ok());

  TempDir archive_dir;  // a .tar.gz is sent byte for byte
  write(archive_dir.path / "b.tar.gz", "not really gzip");
  FakeCommandEnv env2;
  env2.ctx.format = OutputFormat::json;
  env2.api.submit_answer = created;
  args.bundle = (archive_dir.path / "b.tar.gz").string();
  CHECK(run_submit(env2.ctx, args) == 0);
  CHECK(env2.api.submitted_bundle == "not really gzip");
  CHECK(nlohmann::json::parse(env2.out.str())["id"] == "j-42");
}

TEST_CASE("cli submit records size and mtime of every absolute input file", "[cli][submit]") {
  TempDir bundle, shared;
  const fs::path small = shared.path / "in" / "small.bin";
  const fs::path big = shared.path / "in" / "big.bin";
  const fs::path other = shared.path / "more" / "x.bin";
  write(small, "abc");
  write(big, std::string(100'000, 'z'));
  write(other, "");
  constexpr std::int64_t kSmallMtime = 1'700'000'000'123'456'789;
  constexpr std::int64_t kBigMtime = 1'600'000'000'000'000'001;
  set_mtime_ns(small, kSmallMtime);
  set_mtime_ns(big, kBigMtime);
  set_mtime_ns(other, 0);
  const std::string glob_in = (shared.path / "in" / "*.bin").string();
  const std::string glob_all = (shared.path / "*" / "*.bin").string();  // overlaps glob_in
  const std::string count_stage =
      "  - name: count\n"
      "    command: [\"cat\", \"{input}\"]\n"
      "    inputs:\n"
      "      group_bytes: 1Mi\n"
      "      files: [\"" +
      glob_in + "\"]\n";
  const std::string cached_stage =
      "  - name: again\n"
      "    cache: true\n"
      "    command: [\"cat\", \"{input}\"]\n"
      "    inputs:\n"
      "      files: [\"" +
      glob_all + "\"]\n";
  write(bundle.path / "job.yaml", "name: wc\nstages:\n" + count_stage + cached_stage);

  auto packed = pack_bundle(bundle.path);
  REQUIRE(packed.ok());
  const nlohmann::json& manifest = packed->inputs_manifest;
  // The stages part keeps its format.
  CHECK(manifest["stages"]["count"][glob_in] == nlohmann::json{big.string(), small.string()});
  CHECK(manifest["stages"]["again"][glob_all] ==
        nlohmann::json{big.string(), small.string(), other.string()});
  // One entry per distinct file, even when several globs match it.
  const nlohmann::json expected_files{{small.string(), {{"size", 3}, {"mtime_ns", kSmallMtime}}},
                                      {big.string(), {{"size", 100'000}, {"mtime_ns", kBigMtime}}},
                                      {other.string(), {{"size", 0}, {"mtime_ns", 0}}}};
  CHECK(manifest["files"] == expected_files);
  CHECK(manifest["files"][small.string()]["mtime_ns"].is_number_integer());

  // What travels in the archive is the same document.
  auto member = read_archive_member(packed->archive, kInputsManifestPath);
  REQUIRE(member.ok());
  CHECK(nlohmann::json::parse(*member) == manifest);

  // A changed file changes its entry (the master's cache key sees it).
  write(small, "abcd");
  set_mtime_ns(small, kSmallMtime + 1);
  auto again = pack_bundle(bundle.path);
  REQUIRE(again.ok());
  CHECK(again->inputs_manifest["files"][small.string()] ==
        nlohmann::json{{"size", 4}, {"mtime_ns", kSmallMtime + 1}});
}
