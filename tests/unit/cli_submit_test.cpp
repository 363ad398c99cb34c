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
  const nlohmann::json expected{{"stages",
                                 {{"count",
                                   {{abs_glob,
                                     {(shared.path / "logs" / "a.log").string(),
                                      (shared.path / "logs" / "b.log").string()}}}}}}};
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
