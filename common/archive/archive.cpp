// Safe unpacking and listing of gzip'd tars with libarchive (packing is in
// archive_pack.cpp). Entry names from an archive are untrusted: they are
// validated and normalised by normalize_entry_name before any use as a path.
#include "common/archive/archive.hpp"
#include "common/archive/archive_internal.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>

namespace drover {

namespace fs = std::filesystem;

namespace archive_internal {

Error refuse(std::string_view name, std::string_view why) {
  return make_error(ErrorCode::invalid_spec, fmt::format("archive entry \"{}\": {}", name, why));
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    out.emplace_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// A relative name without "", "." components; "" for the root itself.
// Absolute names and ".." components are refused.
Result<std::string> normalize_entry_name(std::string_view raw) {
  if (raw.empty()) return refuse(raw, "empty name");
  if (raw.front() == '/') return refuse(raw, "absolute path");
  std::string out;
  for (const std::string& c : split(raw)) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return refuse(raw, "path contains \"..\"");
    if (!out.empty()) out += '/';
    out += c;
  }
  return out;
}

// A symlink at `name` with `target` must resolve inside the root. Lexically
// is not enough once a target passes through another link ("b/top" -> "..",
// then "a/out" -> "../b/top/.."), so ".." may only lead the target: it climbs
// the link's own parents, which are real directories (nothing lies below a
// link), and every link met on the way down resolves inside by the same rule.
Status check_symlink_target(const std::string& name, std::string_view target) {
  if (target.empty()) return refuse(name, "symlink with an empty target");
  if (target.front() == '/') return refuse(name, "symlink to an absolute path");
  std::vector<std::string> parts = split(name);
  parts.pop_back();
  bool descended = false;
  for (const std::string& c : split(target)) {
    if (c.empty() || c == ".") continue;
    if (c != "..") {
      parts.push_back(c);
      descended = true;
    } else if (descended) {
      return refuse(name, "symlink target has \"..\" after a name (it could lead out through "
                          "another link)");
    } else if (parts.empty()) {
      return refuse(name, "symlink leads outside the archive");
    } else {
      parts.pop_back();
    }
  }
  return ok_status();
}

}  // namespace archive_internal

using namespace archive_internal;

namespace {

// ---- reading ---------------------------------------------------------------

// One archive entry after the safety checks.
struct CheckedEntry {
  std::string name;  // normalised; "" is the root directory
  bool regular = false;
  std::uint64_t size = 0;
};

struct Counters {
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, bool> seen;  // name -> is a directory
};

// A name may repeat only as a directory both times, and no entry may lie
// below a non-directory (libarchive would silently skip or retype it).
Status check_unique(Counters& c, const std::string& name, bool is_dir) {
  for (std::size_t slash = name.find('/'); slash != std::string::npos;
       slash = name.find('/', slash + 1)) {
    auto [parent, added] = c.seen.emplace(name.substr(0, slash), true);
    if (!added && !parent->second) return refuse(name, "lies below a file or link");
  }
  auto [it, inserted] = c.seen.emplace(name, is_dir);
  if (!inserted && !(is_dir && it->second)) return refuse(name, "appears more than once");
  return ok_status();
}

Error too_large(std::string message) {
  return make_error(ErrorCode::too_large, std::move(message));
}

Result<CheckedEntry> check_entry(archive_entry* e, Counters& c, const ArchiveLimits& limits) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return refuse("?", "name is not readable");
  auto name = normalize_entry_name(raw);
  if (!name.ok()) return name.error();
  if (++c.entries > limits.max_entries) {
    return too_large(fmt::format("archive has more than {} entries", limits.max_entries));
  }
  if (archive_entry_hardlink(e) != nullptr) return refuse(raw, "hard links are not allowed");
  CheckedEntry out{*name, false, 0};
  DROVER_TRY(check_unique(c, *name, archive_entry_filetype(e) == AE_IFDIR));
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR:
      return out;
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      DROVER_TRY(check_symlink_target(*name, target ? target : ""));
      return out;
    }
    case AE_IFREG:
      break;
    default:
      return refuse(raw, "devices, fifos and sockets are not allowed");
  }
  if (name->empty()) return refuse(raw, "a file without a name");
  out.regular = true;
  out.size = archive_entry_size_is_set(e) ? static_cast<std::uint64_t>(archive_entry_size(e)) : 0;
  c.bytes += out.size;
  if (c.bytes > limits.max_total_bytes) {
    return too_large(fmt::format("archive unpacks to more than {} bytes", limits.max_total_bytes));
  }
  return out;
}

ReaderPtr new_reader() {
  ReaderPtr a(archive_read_new(), &archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  return a;
}

Error reader_error(archive* a) {
  const char* msg = archive_error_string(a);
  return make_error(ErrorCode::invalid_spec,
                    fmt::format("not a valid tar archive: {}", msg ? msg : "unknown error"));
}

Result<ReaderPtr> open_memory(const std::string& data) {
  ReaderPtr a = new_reader();
  if (archive_read_open_memory(a.get(), data.data(), data.size()) != ARCHIVE_OK) {
    return reader_error(a.get());
  }
  return a;
}

Result<ReaderPtr> open_file(const fs::path& path) {
  ReaderPtr a = new_reader();
  if (archive_read_open_filename(a.get(), path.c_str(), kBlock) != ARCHIVE_OK) {
    const char* msg = archive_error_string(a.get());
    return make_error(ErrorCode::io, fmt::format("cannot read {}: {}", path.string(),
                                                 msg ? msg : "unknown error"));
  }
  return a;
}

// Calls visit(entry, checked) -> Status for every entry, after its checks.
template <typename Visit>
Status for_each_entry(archive* a, const ArchiveLimits& limits, Visit&& visit) {
  Counters counters;
  for (;;) {
    archive_entry* e = nullptr;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) return ok_status();
    if (rc < ARCHIVE_WARN) return reader_error(a);
    auto checked = check_entry(e, counters, limits);
    if (!checked.ok()) return checked.error();
    DROVER_TRY(visit(e, *checked));
  }
}

// ---- unpacking -------------------------------------------------------------

Error disk_error(archive* disk, const std::string& name) {
  int err = archive_errno(disk);
  bool ours = err == ENOSPC || err == EIO || err == EDQUOT || err == EROFS || err == EACCES;
  const char* msg = archive_error_string(disk);
  std::string detail = msg ? msg : "unknown error";
  if (err != 0 && detail.find(std::strerror(err)) == std::string::npos) {
    detail += fmt::format(" ({})", std::strerror(err));
  }
  return make_error(ours ? ErrorCode::io : ErrorCode::invalid_spec,
                    fmt::format("cannot unpack \"{}\": {}", name, detail));
}

Status copy_data(archive* in, archive* disk, const CheckedEntry& c) {
  std::uint64_t copied = 0;
  for (;;) {
    const void* buf = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int rc = archive_read_data_block(in, &buf, &size, &offset);
    if (rc == ARCHIVE_EOF) return ok_status();
    if (rc < ARCHIVE_WARN) return reader_error(in);
    copied += size;
    if (copied > c.size) return refuse(c.name, "more data than its declared size");
    // A short write (disk full) comes back as ARCHIVE_WARN: anything but OK is a failure.
    if (archive_write_data_block(disk, buf, size, offset) != ARCHIVE_OK) {
      return disk_error(disk, c.name);
    }
  }
}

Status unpack_entry(archive* in, archive* disk, archive_entry* e, const CheckedEntry& c,
                    const std::string& dest) {
  if (c.name.empty()) return ok_status();  // the root: dest itself
  // Safe: c.name is relative and free of ".." (normalize_entry_name).
  std::string full = dest + "/" + c.name;
  archive_entry_set_pathname(e, full.c_str());
  auto type = archive_entry_filetype(e);
  if (type == AE_IFDIR) archive_entry_set_perm(e, 0755);
  if (type == AE_IFREG) archive_entry_set_perm(e, (archive_entry_perm(e) & 0111) ? 0755 : 0644);
  if (archive_write_header(disk, e) < ARCHIVE_WARN) return disk_error(disk, c.name);
  if (c.regular && c.size > 0) DROVER_TRY(copy_data(in, disk, c));
  if (archive_write_finish_entry(disk) < ARCHIVE_WARN) return disk_error(disk, c.name);
  return ok_status();
}

void empty_directory(const fs::path& dir) {
  std::error_code ec;
  for (const auto& child : fs::directory_iterator(dir, ec)) fs::remove_all(child.path(), ec);
}

Result<std::string> checked_dest(const fs::path& dest) {
  std::error_code ec;
  fs::path real = fs::canonical(dest, ec);
  if (ec || !fs::is_directory(real, ec) || !fs::is_empty(real, ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} must be an existing empty directory", dest.string()));
  }
  return real.string();
}

// Where entry `c` lands below `prefix` ("" = everything): its name with the
// prefix stripped ("" = dest itself), or nullopt when it is not below the prefix.
Result<std::optional<std::string>> subtree_name(archive_entry* e, const CheckedEntry& c,
                                                const std::string& prefix) {
  if (prefix.empty()) return std::optional<std::string>(c.name);
  if (c.name == prefix) {
    if (archive_entry_filetype(e) != AE_IFDIR) return std::optional<std::string>();
    return std::optional<std::string>(std::string());  // the prefix itself: dest
  }
  if (c.name.size() <= prefix.size() || c.name.compare(0, prefix.size(), prefix) != 0 ||
      c.name[prefix.size()] != '/') {
    return std::optional<std::string>();
  }
  std::string stripped = c.name.substr(prefix.size() + 1);
  if (archive_entry_filetype(e) == AE_IFLNK) {
    const char* target = archive_entry_symlink(e);
    // Checked against the whole archive already; it must also stay below the prefix.
    DROVER_TRY(check_symlink_target(stripped, target ? target : ""));
  }
  return std::optional<std::string>(std::move(stripped));
}

Status unpack_from(archive* in, const fs::path& dest, const ArchiveLimits& limits,
                   const std::string& prefix = {}) {
  auto real = checked_dest(dest);
  if (!real.ok()) return real.error();
  WriterPtr disk(archive_write_disk_new(), &archive_write_free);
  archive_write_disk_set_options(disk.get(), ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                 ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                                 ARCHIVE_EXTRACT_NO_OVERWRITE);
  Status st = for_each_entry(in, limits, [&](archive_entry* e, const CheckedEntry& c) -> Status {
    auto name = subtree_name(e, c, prefix);
    if (!name.ok()) return name.error();
    if (!*name) return ok_status();  // not below the prefix: skipped, its data unread
    CheckedEntry placed = c;
    placed.name = std::move(**name);
    return unpack_entry(in, disk.get(), e, placed, *real);
  });
  if (archive_write_close(disk.get()) < ARCHIVE_WARN && st.ok()) st = disk_error(disk.get(), "");
  if (!st.ok()) empty_directory(*real);
  return st;
}

}  // namespace

Status unpack_archive(const std::string& archive_bytes, const fs::path& dest,
                      const ArchiveLimits& limits) {
  auto in = open_memory(archive_bytes);
  if (!in.ok()) return in.error();
  return unpack_from(in->get(), dest, limits);
}

Status unpack_archive_file(const fs::path& archive_path, const fs::path& dest,
                           const ArchiveLimits& limits) {
  auto in = open_file(archive_path);
  if (!in.ok()) return in.error();
  return unpack_from(in->get(), dest, limits);
}

namespace {

Result<std::string> checked_prefix(const std::string& prefix) {
  auto name = normalize_entry_name(prefix);
  if (!name.ok()) return make_error(ErrorCode::invalid_argument, name.error().message);
  if (name->empty()) return make_error(ErrorCode::invalid_argument, "empty archive prefix");
  return name;
}

}  // namespace

Status unpack_archive_subtree(const std::string& archive_bytes, const std::string& prefix,
                              const fs::path& dest, const ArchiveLimits& limits) {
  auto p = checked_prefix(prefix);
  if (!p.ok()) return p.error();
  auto in = open_memory(archive_bytes);
  if (!in.ok()) return in.error();
  return unpack_from(in->get(), dest, limits, *p);
}

Status unpack_archive_file_subtree(const fs::path& archive_path, const std::string& prefix,
                                   const fs::path& dest, const ArchiveLimits& limits) {
  auto p = checked_prefix(prefix);
  if (!p.ok()) return p.error();
  auto in = open_file(archive_path);
  if (!in.ok()) return in.error();
  return unpack_from(in->get(), dest, limits, *p);
}

Result<ArchiveListing> list_archive(const std::string& archive_bytes, const ArchiveLimits& limits) {
  auto in = open_memory(archive_bytes);
  if (!in.ok()) return in.error();
  ArchiveListing listing;
  DROVER_TRY(for_each_entry(in->get(), limits, [&](archive_entry*, const CheckedEntry& c) {
    if (c.regular) {
      listing.files.push_back(c.name);
      listing.sizes[c.name] = c.size;
      listing.total_bytes += c.size;
    }
    return ok_status();
  }));
  std::sort(listing.files.begin(), listing.files.end());
  return listing;
}

Result<std::string> read_archive_member(const std::string& archive_bytes, const std::string& name,
                                        std::uint64_t max_bytes) {
  auto want = normalize_entry_name(name);
  if (!want.ok()) return make_error(ErrorCode::invalid_argument, want.error().message);
  auto in = open_memory(archive_bytes);
  if (!in.ok()) return in.error();
  std::optional<std::string> content;
  DROVER_TRY(for_each_entry(in->get(), ArchiveLimits{}, [&](archive_entry*, const CheckedEntry& c) {
    if (!c.regular || c.name != *want) return ok_status();
    if (c.size > max_bytes) {
      return Status(too_large(fmt::format("\"{}\" is larger than {} bytes", name, max_bytes)));
    }
    std::string data(c.size, '\0');
    std::size_t got = 0;
    while (got < data.size()) {
      la_ssize_t n = archive_read_data(in->get(), data.data() + got, data.size() - got);
      if (n <= 0) return Status(reader_error(in->get()));
      got += static_cast<std::size_t>(n);
    }
    content = std::move(data);
    return ok_status();
  }));
  if (!content) {
    return make_error(ErrorCode::not_found, fmt::format("\"{}\" is not in the archive", name));
  }
  return std::move(*content);
}

}  // namespace drover
