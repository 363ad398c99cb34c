#include "common/archive/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "common/fs/fs.hpp"

using namespace drover;
namespace fs = std::filesystem;

namespace {

// A temp dir removed at the end of the test.
struct TempDir {
  fs::path path = make_temp_dir("drover-archive-test-").value();
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { (void)drover::remove_all(path); }
};

void write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string slurp(const fs::path& p) { return read_file(p).value(); }

// An entry of a hand-made (possibly evil) archive.
struct RawEntry {
  std::string name;
  unsigned type = AE_IFREG;
  std::string content;
  std::string link;      // symlink target
  std::string hardlink;  // hard link target
};

RawEntry file(std::string name, std::string content) {
  return {std::move(name), AE_IFREG, std::move(content), "", ""};
}
RawEntry special(std::string name, unsigned type) { return {std::move(name), type, "", "", ""}; }
RawEntry tar_symlink(std::string name, std::string target) {
  return {std::move(name), AE_IFLNK, "", std::move(target), ""};
}
RawEntry tar_hardlink(std::string name, std::string target) {
  return {std::move(name), AE_IFREG, "", "", std::move(target)};
}

std::string make_tar(const std::vector<RawEntry>& entries, bool gzip = true) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  auto cb = [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  archive_write_open(a, &out, nullptr, cb, nullptr);
  for (const RawEntry& r : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, r.name.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, 0644);
    if (!r.link.empty()) archive_entry_set_symlink(e, r.link.c_str());
    if (!r.hardlink.empty()) archive_entry_set_hardlink(e, r.hardlink.c_str());
    if (r.type == AE_IFCHR) archive_entry_set_rdev(e, makedev(1, 3));
    if (r.type == AE_IFREG && r.hardlink.empty()) archive_entry_set_size(e, r.content.size());
    archive_write_header(a, e);
    if (!r.content.empty()) archive_write_data(a, r.content.data(), r.content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void make_tree(const fs::path& root) {
  write(root / "job.yaml", "name: x\n");
  write(root / "data/a.txt", "alpha");
  write(root / "data/b.txt", std::string(100'000, 'b'));
  write(root / "bin/run.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(root / "bin/run.sh", fs::perms::owner_all | fs::perms::group_read);
  write(root / std::string(120, 'l') / "long-name.txt", "long");
  fs::create_directories(root / "empty");
  fs::create_symlink("data/a.txt", root / "link-in");
  fs::create_symlink("/etc/passwd", root / "link-out");
}

}  // namespace

TEST_CASE("packing is deterministic", "[archive]") {
  TempDir one, two;
  make_tree(one.path);
  auto a = pack_directory(one.path);
  auto b = pack_directory(one.path);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == *b);
  // The same tree elsewhere, written in another order at another time.
  write(two.path / "bin/run.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(two.path / "bin/run.sh", fs::perms::owner_all);
  make_tree(two.path);
  fs::last_write_time(two.path / "data/a.txt",
                      fs::file_time_type::clock::now() - std::chrono::hours(5));
  auto c = pack_directory(two.path);
  REQUIRE(c.ok());
  CHECK(*a == *c);
  // gzip header: no timestamp (bytes 4..7), no original file name flag.
  REQUIRE(a->size() > 10);
  CHECK(a->substr(4, 4) == std::string(4, '\0'));
  CHECK((static_cast<unsigned char>((*a)[3]) & 0x08) == 0);
}

TEST_CASE("an empty directory packs to empty_archive, which unpacks to nothing", "[archive]") {
  TempDir empty, out;
  auto packed = pack_directory(empty.path);
  REQUIRE(packed.ok());
  CHECK(*packed == empty_archive());  // workers report it without packing or uploading
  auto untrusted = pack_untrusted_directory(empty.path);
  REQUIRE(untrusted.ok());
  CHECK(*untrusted == empty_archive());
  REQUIRE(unpack_archive(empty_archive(), out.path).ok());
  CHECK(fs::is_empty(out.path));
}

TEST_CASE("pack and unpack round-trip", "[archive]") {
  TempDir src, dst;
  make_tree(src.path);
  auto packed = pack_directory(src.path, {{".drover/inputs.json", "[1,2]"}, {"data/a.txt", "new"}});
  REQUIRE(packed.ok());
  REQUIRE(unpack_archive(*packed, dst.path).ok());
  CHECK(slurp(dst.path / "job.yaml") == "name: x\n");
  CHECK(slurp(dst.path / "data/a.txt") == "new");  // extra_files replace files
  CHECK(slurp(dst.path / "data/b.txt") == std::string(100'000, 'b'));
  CHECK(slurp(dst.path / ".drover/inputs.json") == "[1,2]");
  CHECK(slurp(dst.path / std::string(120, 'l') / "long-name.txt") == "long");
  CHECK(fs::is_directory(dst.path / "empty"));
  CHECK(fs::is_symlink(dst.path / "link-in"));
  CHECK(fs::read_symlink(dst.path / "link-in") == "data/a.txt");
  CHECK_FALSE(fs::exists(fs::symlink_status(dst.path / "link-out")));  // leads out: not packed
  struct stat st {};
  REQUIRE(::stat((dst.path / "bin/run.sh").c_str(), &st) == 0);
  CHECK((st.st_mode & 0100) != 0);
  REQUIRE(::stat((dst.path / "job.yaml").c_str(), &st) == 0);
  CHECK((st.st_mode & 0111) == 0);

  auto listing = list_archive(*packed);
  REQUIRE(listing.ok());
  CHECK(listing->files.front() == ".drover/inputs.json");
  CHECK(std::is_sorted(listing->files.begin(), listing->files.end()));
  CHECK(listing->files.size() == 6);
  CHECK(listing->total_bytes == 5 + 3 + 100'000 + 18 + 4 + 8);
  CHECK(read_archive_member(*packed, "job.yaml").value() == "name: x\n");
  CHECK(read_archive_member(*packed, "./data/b.txt").value().size() == 100'000);
  CHECK(read_archive_member(*packed, "nope").error().code == ErrorCode::not_found);
  CHECK(read_archive_member(*packed, "data/b.txt", 10).error().code == ErrorCode::too_large);
}

TEST_CASE("archives go through files too", "[archive]") {
  TempDir src, dst, out;
  make_tree(src.path);
  const fs::path file = out.path / "bundle.tar.gz";
  REQUIRE(pack_directory_to_file(src.path, file).ok());
  CHECK(slurp(file) == pack_directory(src.path).value());
  REQUIRE(unpack_archive_file(file, dst.path).ok());
  CHECK(slurp(dst.path / "data/a.txt") == "alpha");
  CHECK_FALSE(unpack_archive_file(out.path / "missing.tar.gz", dst.path).ok());
  CHECK_FALSE(pack_directory(src.path / "nope").ok());
  CHECK(pack_directory(src.path, {{"data", "x"}}).error().code == ErrorCode::invalid_argument);
  CHECK(pack_directory(src.path, {{"../x", "x"}}).error().code == ErrorCode::invalid_argument);
}

TEST_CASE("plain tars with ./ names unpack", "[archive]") {
  TempDir dst;
  std::string tar = make_tar({special("./", AE_IFDIR), file("./job.yaml", "name: y\n")}, false);
  REQUIRE(unpack_archive(tar, dst.path).ok());
  CHECK(slurp(dst.path / "job.yaml") == "name: y\n");
  CHECK(list_archive(tar).value().files == std::vector<std::string>{"job.yaml"});
}

TEST_CASE("evil archives are refused and leave nothing behind", "[archive]") {
  const RawEntry good = file("a/ok.txt", "fine");
  struct Case {
    const char* what;
    std::vector<RawEntry> entries;
    ErrorCode code;
    ArchiveLimits limits;
  };
  std::vector<RawEntry> many;
  for (int i = 0; i < 5; ++i) many.push_back(file("f" + std::to_string(i), "x"));
  const std::vector<Case> cases = {
      {"absolute path", {good, file("/tmp/drover-evil", "x")}, ErrorCode::invalid_spec, {}},
      {"dot-dot", {good, file("../x", "x")}, ErrorCode::invalid_spec, {}},
      {"inner dot-dot", {good, file("a/../../x", "x")}, ErrorCode::invalid_spec, {}},
      {"symlink to /etc", {good, tar_symlink("etc", "/etc")}, ErrorCode::invalid_spec, {}},
      {"symlink out", {good, tar_symlink("a/up", "../../x")}, ErrorCode::invalid_spec, {}},
      {"write through symlink",
       {good, tar_symlink("in", "a"), file("in/x.txt", "x")},
       ErrorCode::invalid_spec,
       {}},
      {"hard link", {good, tar_hardlink("h", "a/ok.txt")}, ErrorCode::invalid_spec, {}},
      {"char device", {good, special("null", AE_IFCHR)}, ErrorCode::invalid_spec, {}},
      {"fifo", {good, special("pipe", AE_IFIFO)}, ErrorCode::invalid_spec, {}},
      {"duplicate file", {good, good}, ErrorCode::invalid_spec, {}},
      {"file over a directory", {good, file("a", "x")}, ErrorCode::invalid_spec, {}},
      {"file below a file", {good, file("a/ok.txt/x", "x")}, ErrorCode::invalid_spec, {}},
      {"too many entries", many, ErrorCode::too_large, {1 << 20, 3}},
      {"too many bytes",
       {good, file("big", std::string(200, 'x'))},
       ErrorCode::too_large,
       {100, 100}},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    TempDir dst;
    std::string tar = make_tar(c.entries);
    Status st = unpack_archive(tar, dst.path, c.limits);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == c.code);
    CHECK(fs::is_empty(dst.path));
    auto listed = list_archive(tar, c.limits);
    REQUIRE_FALSE(listed.ok());
    CHECK(listed.error().code == c.code);
  }
  CHECK_FALSE(fs::exists("/tmp/drover-evil"));
}

TEST_CASE("unpack wants an existing empty destination and a real archive", "[archive]") {
  TempDir dst;
  write(dst.path / "x", "x");
  CHECK(unpack_archive(make_tar({file("a", "a")}), dst.path).error().code ==
        ErrorCode::invalid_argument);
  CHECK(unpack_archive(make_tar({file("a", "a")}), dst.path / "nope").error().code ==
        ErrorCode::invalid_argument);
  TempDir empty;
  auto garbage = unpack_archive("this is not a tar archive at all", empty.path);
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().code == ErrorCode::invalid_spec);
  CHECK(fs::is_empty(empty.path));
}

TEST_CASE("a symlink target may not climb back up after a name", "[archive]") {
  // "b/top" -> ".." is the root; "a/out" -> "../b/top/.." stays inside only
  // lexically: through the first link it is the root's parent.
  const std::vector<RawEntry> through = {special("a", AE_IFDIR), tar_symlink("b/top", ".."),
                                         tar_symlink("a/out", "../b/top/..")};
  TempDir dst;
  std::string tar = make_tar(through);
  Status st = unpack_archive(tar, dst.path);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::invalid_spec);
  CHECK_THAT(st.error().message, Catch::Contains("a/out"));
  CHECK(fs::is_empty(dst.path));
  CHECK_FALSE(list_archive(tar).ok());
  // Leading ".." (up the link's own directories) stays allowed.
  TempDir ok_dst;
  REQUIRE(unpack_archive(make_tar({file("x", "x"), tar_symlink("a/b/up", "../../x")}), ok_dst.path)
              .ok());
  CHECK(fs::read_symlink(ok_dst.path / "a/b/up") == "../../x");
  // Packing leaves such a link out, as it does links that lead out.
  TempDir src;
  fs::create_directories(src.path / "a");
  fs::create_directories(src.path / "b");
  fs::create_symlink("..", src.path / "b/top");
  fs::create_symlink("../b/top/..", src.path / "a/out");
  write(src.path / "f", "f");
  auto packed = pack_directory(src.path);
  REQUIRE(packed.ok());
  TempDir back;
  REQUIRE(unpack_archive(*packed, back.path).ok());
  CHECK(fs::is_symlink(back.path / "b/top"));
  CHECK_FALSE(fs::exists(fs::symlink_status(back.path / "a/out")));
}

TEST_CASE("an untrusted tree is packed without following links", "[archive]") {
  TempDir src, outside;
  make_tree(src.path);
  ::mkfifo((src.path / "pipe").c_str(), 0644);  // skipped, never opened
  auto trusted = pack_directory(src.path);
  auto untrusted = pack_untrusted_directory(src.path);
  REQUIRE(trusted.ok());
  REQUIRE(untrusted.ok());
  CHECK(*trusted == *untrusted);
  // The directory itself swapped for a link: refused, nothing read through it.
  write(outside.path / "secret", "secret");
  fs::create_symlink(outside.path, src.path / "swapped");
  auto via_link = pack_untrusted_directory(src.path / "swapped");
  REQUIRE_FALSE(via_link.ok());
  CHECK(via_link.error().code == ErrorCode::invalid_argument);
  CHECK_THAT(via_link.error().message, Catch::Contains("symlink"));
  CHECK(pack_directory(src.path / "swapped").ok());  // the CLI may pack a linked bundle dir
  CHECK(pack_untrusted_directory(src.path / "nope").error().code == ErrorCode::invalid_argument);
}
