#include "common/fs/fs.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace drover;
namespace fs = std::filesystem;

TEST_CASE("sha256 of data and files", "[fs]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("test") == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  CHECK(is_sha256_hex(sha256_hex("x")));
  CHECK_FALSE(is_sha256_hex("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"));
  CHECK_FALSE(is_sha256_hex("abc"));
  CHECK_FALSE(is_sha256_hex(std::string(64, 'g')));

  auto dir = make_temp_dir("drover-fs-test-");
  REQUIRE(dir.ok());
  std::string big(300'000, 'q');
  REQUIRE(write_file_atomic(*dir / "big", big).ok());
  CHECK(sha256_file(*dir / "big").value() == sha256_hex(big));
  CHECK(sha256_file(*dir / "missing").error().code == ErrorCode::not_found);
  CHECK(drover::remove_all(*dir).ok());
}

TEST_CASE("files are written atomically and read back", "[fs]") {
  auto dir = make_temp_dir("drover-fs-test-");
  REQUIRE(dir.ok());
  CHECK(fs::is_directory(*dir));
  CHECK(dir->filename().string().rfind("drover-fs-test-", 0) == 0);
  const fs::path f = *dir / "state.json";

  REQUIRE(write_file_atomic(f, "one").ok());
  CHECK(read_file(f).value() == "one");
  REQUIRE(write_file_atomic(f, std::string("two\0three", 9)).ok());
  CHECK(read_file(f).value() == std::string("two\0three", 9));
  REQUIRE(write_file_atomic(f, "").ok());
  CHECK(read_file(f).value().empty());
  // No temp files are left behind.
  CHECK(std::distance(fs::directory_iterator(*dir), fs::directory_iterator()) == 1);

  fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  REQUIRE(write_file_atomic(f, "kept mode").ok());
  struct stat st {};
  REQUIRE(::stat(f.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0640);

  auto missing = read_file(*dir / "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::not_found);
  CHECK_THAT(missing.error().message, Catch::Contains("nope"));
  CHECK_FALSE(write_file_atomic(*dir / "no/such/dir/file", "x").ok());

  REQUIRE(make_dirs(*dir / "a/b/c").ok());
  CHECK(fs::is_directory(*dir / "a/b/c"));
  CHECK(make_dirs(*dir / "a/b/c").ok());
  CHECK_FALSE(make_dirs(f / "sub").ok());

  auto nested = make_temp_dir("inner-", *dir);
  REQUIRE(nested.ok());
  CHECK(nested->parent_path() == *dir);
  CHECK_FALSE(make_temp_dir("bad/prefix").ok());

  CHECK(drover::remove_all(*dir).ok());
  CHECK_FALSE(fs::exists(*dir));
  CHECK(drover::remove_all(*dir).ok());  // already gone is fine
}

TEST_CASE("an empty directory is one with no entry and not a link", "[fs]") {
  auto dir = make_temp_dir("drover-fs-test-");
  REQUIRE(dir.ok());
  const fs::path empty = *dir / "empty";
  fs::create_directory(empty);
  CHECK(empty_dir(empty));
  fs::create_symlink(empty, *dir / "link");
  CHECK_FALSE(empty_dir(*dir / "link"));  // not followed
  CHECK_FALSE(empty_dir(*dir / "missing"));
  std::ofstream(*dir / "file") << "x";
  CHECK_FALSE(empty_dir(*dir / "file"));
  CHECK_FALSE(empty_dir(*dir));  // holds entries
  std::ofstream(empty / ".hidden") << "";
  CHECK_FALSE(empty_dir(empty));
  // More entries than one read returns.
  const fs::path many = *dir / "many";
  fs::create_directory(many);
  for (int i = 0; i < 300; ++i) fs::create_directory(many / (std::string(40, 'd') + std::to_string(i)));
  CHECK_FALSE(empty_dir(many));
  fs::remove_all(*dir);
}
