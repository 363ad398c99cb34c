// libFuzzer target: bundle bytes -> common/archive (list_archive,
// read_archive_member, unpack_archive, unpack_archive_subtree) with small
// ArchiveLimits. Each run unpacks into fresh directories below a per-process
// scratch root ($TMPDIR or /tmp) and removes them afterwards. Checks:
//   - nothing is written outside the destination: the scratch root holds only
//     the destinations, and no path an entry's raw name points at outside
//     them (absolute names, "..") appears;
//   - every symlink left in a destination resolves inside it; no hard links;
//   - a refused archive leaves its destination empty;
//   - an accepted one agrees with list_archive: the listed files, and only
//     they, are regular files of the listed sizes (read_archive_member too).
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "common/archive/archive.hpp"

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "fuzz_bundle: invariant broken: %s\n", what.c_str());
  std::abort();
}

void check(bool ok, const std::string& what) {
  if (!ok) fail(what);
}

const drover::ArchiveLimits kLimits{1 << 20, 200};  // small, to reach the too_large paths

fs::path scratch_root() {
  static const fs::path root = [] {
    const char* tmp = std::getenv("TMPDIR");
    fs::path base = (tmp && *tmp) ? fs::path(tmp) : fs::path("/tmp");
    fs::path r = base / ("drover-fuzz-bundle-" + std::to_string(::getpid()));
    fs::remove_all(r);
    fs::create_directories(r);
    return fs::canonical(r);
  }();
  return root;
}

// Raw entry names and symlink targets, read without any of drover's checks.
std::vector<std::string> raw_names(const std::string& bytes) {
  std::vector<std::string> out;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) return out;
  archive_entry* e = nullptr;
  while (out.size() < 1000 && archive_read_next_header(a.get(), &e) >= ARCHIVE_WARN) {
    if (const char* n = archive_entry_pathname(e)) out.emplace_back(n);
    if (const char* l = archive_entry_symlink(e)) out.emplace_back(l);
    if (const char* h = archive_entry_hardlink(e)) out.emplace_back(h);
  }
  return out;
}

bool inside(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_normal().lexically_relative(dir);
  return !rel.empty() && *rel.begin() != "..";
}

// Places outside `dest` that an entry name could reach if joined naively, and
// that do not exist now: they must not exist after unpacking either.
std::set<fs::path> escape_candidates(const std::vector<std::string>& names, const fs::path& dest) {
  std::set<fs::path> out;
  for (const std::string& n : names) {
    if (n.empty() || n.find('\0') != std::string::npos) continue;
    fs::path joined = n.front() == '/' ? fs::path(n) : (dest / n);
    joined = joined.lexically_normal();
    if (inside(joined, dest) || joined == dest) continue;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(joined, ec))) out.insert(joined);
  }
  return out;
}

void check_no_escape(const std::set<fs::path>& candidates) {
  for (const fs::path& p : candidates) {
    std::error_code ec;
    check(!fs::exists(fs::symlink_status(p, ec)), "an entry was written outside dest: " + p.string());
  }
}

// Regular files below `dest` (relative, generic form) with their sizes;
// checks symlinks and hard links on the way.
std::map<std::string, std::uint64_t> walk(const fs::path& dest) {
  std::map<std::string, std::uint64_t> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dest, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    fs::file_status st = it->symlink_status(ec);
    std::string rel = it->path().lexically_relative(dest).generic_string();
    if (fs::is_symlink(st)) {
      fs::path target = fs::read_symlink(it->path(), ec);
      check(target.is_relative(), "absolute symlink left at " + rel);
      fs::path resolved = (it->path().parent_path() / target).lexically_normal();
      check(inside(resolved, dest) || resolved == dest, "symlink leads outside dest: " + rel);
    } else if (fs::is_regular_file(st)) {
      struct stat s {};
      check(::lstat(it->path().c_str(), &s) == 0 && s.st_nlink == 1, "hard link left at " + rel);
      files[rel] = static_cast<std::uint64_t>(s.st_size);
    } else {
      check(fs::is_directory(st), "special file left at " + rel);
    }
  }
  check(!ec, "cannot walk dest: " + ec.message());
  return files;
}

bool is_empty_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::is_empty(dir, ec);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The scratch root must hold exactly `expected`: anything else was written outside.
void check_scratch(const fs::path& root, const std::set<std::string>& expected) {
  std::set<std::string> found;
  std::error_code ec;
  for (const auto& child : fs::directory_iterator(root, ec)) found.insert(child.path().filename());
  check(found == expected, "something was written next to dest");
}

// The first directory component of a listed file, to unpack as a subtree.
std::string subtree_prefix(const drover::ArchiveListing& listing) {
  for (const std::string& f : listing.files) {
    if (auto slash = f.find('/'); slash != std::string::npos) return f.substr(0, slash);
  }
  return "d";
}

void run_one(const std::string& bytes) {
  const fs::path root = scratch_root();
  const fs::path dest = root / "dest";
  const fs::path sub = root / "sub";
  fs::create_directory(dest);
  fs::create_directory(sub);

  const std::vector<std::string> names = raw_names(bytes);
  std::set<fs::path> candidates = escape_candidates(names, dest);
  std::set<fs::path> sub_candidates = escape_candidates(names, sub);
  candidates.insert(sub_candidates.begin(), sub_candidates.end());

  auto listing = drover::list_archive(bytes, kLimits);
  drover::Status unpacked = drover::unpack_archive(bytes, dest, kLimits);
  check_no_escape(candidates);
  check_scratch(root, {"dest", "sub"});
  std::map<std::string, std::uint64_t> on_disk = walk(dest);
  if (!unpacked.ok()) {
    check(is_empty_dir(dest), "a refused archive left files in dest");
  } else {
    check(listing.ok(), "unpack accepted what list_archive refused");
    std::map<std::string, std::uint64_t> listed(listing->sizes.begin(), listing->sizes.end());
    check(on_disk == listed, "unpacked files differ from the listing");
    if (!listing->files.empty()) {
      const std::string& first = listing->files.front();
      auto member = drover::read_archive_member(bytes, first, 1 << 20);
      check(member.ok() && *member == read_file(dest / first), "read_archive_member differs from disk");
    }
  }

  std::string prefix = listing.ok() ? subtree_prefix(*listing) : "d";
  drover::Status sub_unpacked = drover::unpack_archive_subtree(bytes, prefix, sub, kLimits);
  check_no_escape(candidates);
  check_scratch(root, {"dest", "sub"});
  std::map<std::string, std::uint64_t> sub_disk = walk(sub);
  if (!sub_unpacked.ok()) {
    check(is_empty_dir(sub), "a refused subtree left files in dest");
  } else if (unpacked.ok()) {
    for (const auto& [name, size] : sub_disk) {
      auto it = on_disk.find(prefix + "/" + name);
      check(it != on_disk.end() && it->second == size, "subtree file not in the whole unpack: " + name);
    }
  }

  std::error_code ec;
  fs::remove_all(dest, ec);
  fs::remove_all(sub, ec);
  check(!ec && is_empty_dir(root), "cannot clean the scratch root");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  run_one(std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
