#include "common/jobspec/glob.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/fs/fs.hpp"

using namespace drover;
namespace fs = std::filesystem;

using Paths = std::vector<std::string>;

TEST_CASE("glob_match follows fnmatch with FNM_PATHNAME", "[glob]") {
  CHECK(glob_match("*.txt", "a.txt"));
  CHECK(glob_match("*.txt", ".hidden.txt"));
  CHECK_FALSE(glob_match("*.txt", "d/a.txt"));
  CHECK(glob_match("data/*.txt", "data/a.txt"));
  CHECK_FALSE(glob_match("data/*.txt", "data/sub/a.txt"));
  CHECK(glob_match("part-?.gz", "part-1.gz"));
  CHECK_FALSE(glob_match("part-?.gz", "part-12.gz"));
  CHECK(glob_match("part-[0-3].gz", "part-2.gz"));
  CHECK_FALSE(glob_match("part-[!0-3].gz", "part-2.gz"));
  CHECK(glob_match("exact", "exact"));
  CHECK_FALSE(glob_match("exact", "exactly"));
  CHECK(glob_match("/mnt/logs/2026-*/part-*.gz", "/mnt/logs/2026-01/part-0.gz"));
  CHECK_FALSE(glob_match("/mnt/logs/2026-*/part-*.gz", "/mnt/logs/2025-01/part-0.gz"));
}

TEST_CASE("** matches zero or more whole directories", "[glob]") {
  CHECK(glob_match("data/**/*.txt", "data/a.txt"));
  CHECK(glob_match("data/**/*.txt", "data/x/a.txt"));
  CHECK(glob_match("data/**/*.txt", "data/x/y/z/a.txt"));
  CHECK_FALSE(glob_match("data/**/*.txt", "other/x/a.txt"));
  CHECK(glob_match("**/a.txt", "a.txt"));
  CHECK(glob_match("**/a.txt", "p/q/a.txt"));
  CHECK(glob_match("data/**", "data/x/y"));
  CHECK_FALSE(glob_match("data/**", "data"));
  CHECK(glob_match("a/**/b/**/c", "a/x/b/y/z/c"));
  CHECK_FALSE(glob_match("a**b/c", "ax/yb/c"));  // "**" inside a word is just "*"
}

TEST_CASE("has_glob_chars", "[glob]") {
  CHECK(has_glob_chars("*.txt"));
  CHECK(has_glob_chars("a?"));
  CHECK(has_glob_chars("[ab]"));
  CHECK_FALSE(has_glob_chars("data/a.txt"));
}

TEST_CASE("expand_glob_in_list sorts matches and refuses no match", "[glob]") {
  Paths files = {"data/b.txt", "job.yaml", "data/a.txt", "data/sub/c.txt", "run.sh"};
  CHECK(expand_glob_in_list("data/*.txt", files).value() == Paths{"data/a.txt", "data/b.txt"});
  CHECK(expand_glob_in_list("data/**/*.txt", files).value() ==
        Paths{"data/a.txt", "data/b.txt", "data/sub/c.txt"});
  CHECK(expand_glob_in_list("run.sh", files).value() == Paths{"run.sh"});
  auto none = expand_glob_in_list("*.csv", files);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == ErrorCode::invalid_spec);
  CHECK(none.error().message == "pattern \"*.csv\" matches no file");
}

TEST_CASE("expand_glob_on_disk walks from the literal prefix", "[glob]") {
  auto tmp = make_temp_dir("drover-glob-test-");
  REQUIRE(tmp.ok());
  const fs::path root = *tmp;
  for (const char* rel :
       {"logs/2026-01/part-0.gz", "logs/2026-01/part-1.gz", "logs/2026-02/part-0.gz",
        "logs/2025-12/part-0.gz", "logs/2026-02/deep/part-9.gz", "logs/notes.txt"}) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << "x";
  }
  fs::create_directories(root / "logs/2026-03/part-dir.gz");  // a directory: never a match
  const std::string base = root.string();

  auto r = expand_glob_on_disk(base + "/logs/2026-*/part-*.gz");
  REQUIRE(r.ok());
  CHECK(*r == Paths{base + "/logs/2026-01/part-0.gz", base + "/logs/2026-01/part-1.gz",
                    base + "/logs/2026-02/part-0.gz"});

  auto deep = expand_glob_on_disk(base + "/logs/**/part-*.gz");
  REQUIRE(deep.ok());
  CHECK(deep->size() == 5);
  CHECK(deep->back() == base + "/logs/2026-02/part-0.gz");

  fs::create_directory_symlink(root / "logs/2026-01", root / "logs/2026-04");
  auto linked = expand_glob_on_disk(base + "/logs/2026-04/*.gz");
  REQUIRE(linked.ok());
  CHECK(linked->size() == 2);

  auto literal = expand_glob_on_disk(base + "/logs/notes.txt");
  REQUIRE(literal.ok());
  CHECK(*literal == Paths{base + "/logs/notes.txt"});

  auto none = expand_glob_on_disk(base + "/logs/*.csv");
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("matches no file"));
  CHECK_FALSE(expand_glob_on_disk(base + "/missing/*.gz").ok());
  CHECK_FALSE(expand_glob_on_disk(base + "/logs/2026-03/part-dir.gz").ok());

  CHECK(drover::remove_all(root).ok());
}
