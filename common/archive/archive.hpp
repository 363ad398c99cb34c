#pragma once
// Gzip'd tar archives for bundles and task outputs (libarchive).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover {

struct ArchiveLimits {
  std::uint64_t max_total_bytes = 1ULL << 30;  // sum of entry sizes once unpacked
  std::uint64_t max_entries = 100'000;
};

// Packs the regular files and directories under `dir` (symlinks are stored as
// symlinks only if they point inside `dir`) into a gzip'd tar, deterministically:
// entries sorted by path, mtime 0, uid/gid 0, no user names, mode kept only as
// 0755/0644, gzip header without timestamp. The same tree gives the same bytes.
// `extra_files` adds in-memory regular files (relative path -> content), e.g.
// the CLI's ".drover/inputs.json"; they replace files of the same path.
Result<std::string> pack_directory(const std::filesystem::path& dir,
                                   const std::map<std::string, std::string>& extra_files = {});

// pack_directory for a tree that someone else may change while it is packed (a
// task's output or checkpoint dir, packed by a worker that may be root): `dir`
// itself must not be a symlink (invalid_argument), and every file is opened
// below the directory first opened, following no link, so a file or directory
// swapped for a link mid-pack fails the pack (io: "changed while packing")
// instead of being read from outside `dir`.
Result<std::string> pack_untrusted_directory(const std::filesystem::path& dir);

// Writes to a file instead of memory (same format).
Status pack_directory_to_file(const std::filesystem::path& dir, const std::filesystem::path& out);

// What pack_directory gives for an empty directory (a task that wrote no
// output). Workers report it without uploading it; the master always has it.
const std::string& empty_archive();

// Unpacks `archive` (gzip'd or plain tar) into `dest`, which must exist and be
// empty. Refuses, with invalid_spec naming the entry, absolute paths, "..",
// links leading out of dest, hard links, device/fifo/socket entries, and too_large
// past the limits; on refusal nothing is left in `dest`.
Status unpack_archive(const std::string& archive, const std::filesystem::path& dest,
                      const ArchiveLimits& limits = {});
Status unpack_archive_file(const std::filesystem::path& archive, const std::filesystem::path& dest,
                           const ArchiveLimits& limits = {});

// Like unpack_archive(_file), but unpacks only the entries below the directory
// `prefix` (a relative path such as "3"), with the prefix stripped: "3/a/b"
// lands at dest/a/b. Every entry of the archive still passes the checks above
// (limits count the whole archive), and a symlink below the prefix must also
// stay inside it. No entry below the prefix leaves `dest` empty (not an error).
// invalid_argument for an empty prefix or one with ".." or a leading "/".
Status unpack_archive_subtree(const std::string& archive, const std::string& prefix,
                              const std::filesystem::path& dest, const ArchiveLimits& limits = {});
Status unpack_archive_file_subtree(const std::filesystem::path& archive, const std::string& prefix,
                                   const std::filesystem::path& dest,
                                   const ArchiveLimits& limits = {});

// Relative paths of the regular files in an archive, and the content of one
// (e.g. "job.yaml"), without unpacking to disk. Same safety checks as unpack.
struct ArchiveListing {
  std::vector<std::string> files;  // sorted
  std::map<std::string, std::uint64_t> sizes;  // regular file -> its size in bytes
  std::uint64_t total_bytes = 0;
};
Result<ArchiveListing> list_archive(const std::string& archive, const ArchiveLimits& limits = {});
Result<std::string> read_archive_member(const std::string& archive, const std::string& name,
                                        std::uint64_t max_bytes = 1 << 20);

}  // namespace drover
