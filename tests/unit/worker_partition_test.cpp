// Partitioned stages (SPEC §2 `partitions: N`): reducer r sees only the <r>/
// part of every upstream output, prefix stripped; an output without one is an
// empty directory. Covers the archive subtree unpack, staging from blobs
// (master output store) and from the shared store, and a whole attempt.
#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "tests/unit/worker_runner_fixture.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

using namespace drover;
using namespace drover::worker;
using testing::pack_files;
using testing::RunnerFixture;
namespace fs = std::filesystem;

namespace {

// Every entry below `dir` as "path" (directories end in "/", symlinks "path ->
// target", files "path=content"), sorted.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (fs::recursive_directory_iterator it(dir), end; it != end; ++it) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (it->is_symlink()) {
      out.push_back(rel + " -> " + fs::read_symlink(it->path()).string());
    } else if (it->is_directory()) {
      out.push_back(rel + "/");
    } else {
      out.push_back(rel + "=" + read_file(it->path()).value());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A hand-made tar.gz of (name, symlink target or "" for a file with content name).
std::string raw_tar(const std::vector<std::pair<std::string, std::string>>& symlinks,
                    const std::vector<std::string>& files) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_gzip(a);
  auto cb = [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_write_open(a, &out, nullptr, cb, nullptr);
  auto add = [&](const std::string& name, unsigned type, const std::string& link) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, 0644);
    if (type == AE_IFLNK) archive_entry_set_symlink(e, link.c_str());
    if (type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(name.size()));
    archive_write_header(a, e);
    if (type == AE_IFREG) archive_write_data(a, name.data(), name.size());
    archive_entry_free(e);
  };
  for (const auto& f : files) add(f, AE_IFREG, "");
  for (const auto& [name, target] : symlinks) add(name, AE_IFLNK, target);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace

TEST_CASE("unpack_archive_subtree takes only the entries below the prefix, stripped",
          "[worker][partition][archive]") {
  test::TempDir tmp;
  const std::string blob = pack_files(tmp.path / "src", {{"0/a", "zero-a"},
                                                          {"1/a", "one-a"},
                                                          {"1/sub/b", "one-b"},
                                                          {"10/c", "ten-c"},
                                                          {"top", "t"}});
  SECTION("from memory") {
    fs::create_directories(tmp.path / "d1");
    REQUIRE(unpack_archive_subtree(blob, "1", tmp.path / "d1").ok());
    CHECK(listing(tmp.path / "d1") == std::vector<std::string>{"a=one-a", "sub/", "sub/b=one-b"});
  }
  SECTION("from a file") {
    REQUIRE(write_file_atomic(tmp.path / "blob.tar.gz", blob).ok());
    fs::create_directories(tmp.path / "d10");
    REQUIRE(unpack_archive_file_subtree(tmp.path / "blob.tar.gz", "10", tmp.path / "d10").ok());
    CHECK(listing(tmp.path / "d10") == std::vector<std::string>{"c=ten-c"});
  }
  SECTION("no such part: an empty directory") {
    fs::create_directories(tmp.path / "d7");
    REQUIRE(unpack_archive_subtree(blob, "7", tmp.path / "d7").ok());
    CHECK(fs::is_empty(tmp.path / "d7"));
    fs::create_directories(tmp.path / "dtop");  // "top" is a file, not a part
    REQUIRE(unpack_archive_subtree(blob, "top", tmp.path / "dtop").ok());
    CHECK(fs::is_empty(tmp.path / "dtop"));
  }
  SECTION("bad prefixes") {
    fs::create_directories(tmp.path / "d");
    CHECK(unpack_archive_subtree(blob, "", tmp.path / "d").error().code ==
          ErrorCode::invalid_argument);
    CHECK(unpack_archive_subtree(blob, "../1", tmp.path / "d").error().code ==
          ErrorCode::invalid_argument);
    CHECK(unpack_archive_subtree(blob, "/1", tmp.path / "d").error().code ==
          ErrorCode::invalid_argument);
  }
}

TEST_CASE("unpack_archive_subtree keeps the safety checks", "[worker][partition][archive]") {
  test::TempDir tmp;
  fs::create_directories(tmp.path / "d");
  SECTION("a symlink inside the archive but leading out of the part is refused") {
    std::string blob = raw_tar({{"1/escape", "../0/a"}}, {"0/a", "1/x"});
    auto st = unpack_archive_subtree(blob, "1", tmp.path / "d");
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::invalid_spec);
    CHECK(fs::is_empty(tmp.path / "d"));
  }
  SECTION("a symlink within the part is kept") {
    std::string blob = raw_tar({{"1/link", "x"}}, {"1/x"});
    REQUIRE(unpack_archive_subtree(blob, "1", tmp.path / "d").ok());
    CHECK(listing(tmp.path / "d") == std::vector<std::string>{"link -> x", "x=1/x"});
  }
  SECTION("an evil entry outside the part still fails the whole archive") {
    std::string blob = raw_tar({}, {"1/x", "../../etc/evil"});
    auto st = unpack_archive_subtree(blob, "1", tmp.path / "d");
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::invalid_spec);
    CHECK(fs::is_empty(tmp.path / "d"));
  }
}

TEST_CASE_METHOD(RunnerFixture, "partition staging from blobs: one download per worker",
                 "[worker][partition]") {
  const std::string with = pack_files(src.path / "m0", {{"0/k", "a0"}, {"1/k", "a1"}});
  const std::string without = pack_files(src.path / "m1", {{"0/k", "b0"}});
  master.blobs[sha256_hex(with)] = with;
  master.blobs[sha256_hex(without)] = without;
  const std::vector<UpstreamOutput> upstream = {{"map", 0, sha256_hex(with)},
                                                {"map", 1, sha256_hex(without)}};
  std::vector<UpstreamOutput> missing;
  for (std::int64_t r : {0, 1}) {
    auto paths = AttemptPaths::under(work_path, 100 + r);
    REQUIRE(create_attempt_dirs(paths, cache.bundle(bundle_digest).value()).ok());
    REQUIRE(stage_upstream(paths, upstream, cache, missing, {r, std::nullopt}).ok());
    CHECK(missing.empty());
    if (r == 0) {
      CHECK(listing(paths.input) ==
            std::vector<std::string>{"map/", "map/0/", "map/0/k=a0", "map/1/", "map/1/k=b0"});
    } else {
      CHECK(listing(paths.input) == std::vector<std::string>{"map/", "map/0/", "map/0/k=a1",
                                                             "map/1/"});  // no 1/: empty
    }
  }
  CHECK(cache.fetch_count() == 3);  // the bundle and each upstream blob, once
}

TEST_CASE_METHOD(RunnerFixture, "partition staging from the shared store links the part",
                 "[worker][partition][shared]") {
  test::TempDir shared;
  auto write = [&](const std::string& rel, const std::string& content) {
    REQUIRE(make_dirs((shared.path / rel).parent_path()).ok());
    std::ofstream(shared.path / rel) << content;
  };
  write("outputs/j/map/0/2/k", "a2");
  write("outputs/j/map/1/0/k", "b0");
  const std::vector<UpstreamOutput> upstream = {{"map", 0, "shared:outputs/j/map/0"},
                                                {"map", 1, "shared:outputs/j/map/1"}};
  auto paths = AttemptPaths::under(work_path, 7);
  REQUIRE(create_attempt_dirs(paths, cache.bundle(bundle_digest).value()).ok());
  std::vector<UpstreamOutput> missing;
  SECTION("with a partition") {
    REQUIRE(stage_upstream(paths, upstream, cache, missing, {2, shared.path}).ok());
    CHECK(fs::read_symlink(paths.input / "map/0") == shared.path / "outputs/j/map/0/2");
    CHECK(read_file(paths.input / "map/0/k").value() == "a2");
    CHECK_FALSE(fs::is_symlink(paths.input / "map/1"));  // no 2/ there: an empty dir
    CHECK(fs::is_directory(paths.input / "map/1"));
    CHECK(fs::is_empty(paths.input / "map/1"));
  }
  SECTION("without a partition: the whole output") {
    REQUIRE(stage_upstream(paths, upstream, cache, missing, {-1, shared.path}).ok());
    CHECK(fs::read_symlink(paths.input / "map/1") == shared.path / "outputs/j/map/1");
    CHECK(read_file(paths.input / "map/1/0/k").value() == "b0");
  }
  SECTION("a ref that leaves the store is refused, not lineage") {
    auto st = stage_upstream(paths, {{"map", 0, "shared:../etc"}}, cache, missing,
                             {-1, shared.path});
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::invalid_argument);
    CHECK(missing.empty());
  }
  SECTION("a shared ref on a worker without a shared store is refused") {
    auto st = stage_upstream(paths, upstream, cache, missing, {-1, std::nullopt});
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == ErrorCode::invalid_argument);
  }
}

TEST_CASE_METHOD(RunnerFixture, "a reducer task sees only its part of each upstream output",
                 "[worker][partition]") {
  const std::string m0 = pack_files(src.path / "m0", {{"0/w", "x 1\n"}, {"1/w", "y 2\n"}});
  const std::string m1 = pack_files(src.path / "m1", {{"1/w", "z 3\n"}, {"1/more/v", "q"}});
  master.blobs[sha256_hex(m0)] = m0;
  master.blobs[sha256_hex(m1)] = m1;
  auto a = assignment(30, "cd \"$DROVER_INPUT_DIR\" && find . | sort > \"$DROVER_OUTPUT_DIR/seen\""
                          " && echo \"$DROVER_INPUT {input}\" > \"$DROVER_OUTPUT_DIR/input\"");
  a.input_kind = "partition";
  a.input = "0";
  a.partition = 0;
  a.upstream = {{"map", 0, sha256_hex(m0)}, {"map", 1, sha256_hex(m1)}};
  auto r = run(a);
  REQUIRE(r.state == AttemptState::succeeded);
  const std::string& out = master.blobs.at(r.output_digest);
  CHECK(read_archive_member(out, "seen").value() == ".\n./map\n./map/0\n./map/0/w\n./map/1\n");
  CHECK(read_archive_member(out, "input").value() == "0 0\n");
}
