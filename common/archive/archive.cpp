// Packing (deterministic) and safe unpacking of gzip'd tars with libarchive.
// Entry names from an archive are untrusted: they are validated and
// normalised by normalize_entry_name before any use as a path.
#include "common/archive/archive.hpp"

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

namespace {

constexpr std::size_t kBlock = 64 * 1024;

using ReaderPtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WriterPtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

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

// ---- packing ---------------------------------------------------------------

struct PackEntry {
  enum class Kind { dir, file, symlink, memory };
  Kind kind = Kind::file;
  fs::path source;                       // file: where to read it
  std::string link_target;               // symlink
  const std::string* content = nullptr;  // memory
  std::uint64_t size = 0;
  bool executable = false;
};

using PackPlan = std::map<std::string, PackEntry>;  // sorted by archive path

std::optional<PackEntry> plan_disk_entry(const fs::directory_entry& de, const std::string& rel) {
  std::error_code ec;
  fs::file_status st = de.symlink_status(ec);
  if (ec) return std::nullopt;
  PackEntry e;
  e.source = de.path();
  if (fs::is_directory(st)) {
    e.kind = PackEntry::Kind::dir;
  } else if (fs::is_regular_file(st)) {
    e.kind = PackEntry::Kind::file;
    e.size = de.file_size(ec);
    if (ec) return std::nullopt;
    e.executable = (st.permissions() & fs::perms::owner_exec) != fs::perms::none;
  } else if (fs::is_symlink(st)) {
    e.kind = PackEntry::Kind::symlink;
    e.link_target = fs::read_symlink(de.path(), ec).string();
    if (ec || !check_symlink_target(rel, e.link_target).ok()) return std::nullopt;
  } else {
    return std::nullopt;  // fifos, sockets, devices are not bundle content
  }
  return e;
}

Status plan_directory(const fs::path& dir, PackPlan& plan) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} is not a directory", dir.string()));
  }
  fs::recursive_directory_iterator it(dir, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = it->path().lexically_relative(dir).generic_string();
    if (auto e = plan_disk_entry(*it, rel)) plan[rel] = std::move(*e);
  }
  if (ec) {
    return make_error(ErrorCode::io, fmt::format("cannot read {}: {}", dir.string(), ec.message()));
  }
  return ok_status();
}

Status plan_extra_files(const std::map<std::string, std::string>& extra, PackPlan& plan) {
  for (const auto& [raw, content] : extra) {
    auto name = normalize_entry_name(raw);
    if (!name.ok()) return make_error(ErrorCode::invalid_argument, name.error().message);
    if (name->empty()) return make_error(ErrorCode::invalid_argument, "extra file without a name");
    auto below = plan.lower_bound(*name + "/");
    if (below != plan.end() && below->first.rfind(*name + "/", 0) == 0) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("extra file \"{}\" would replace a directory", *name));
    }
    PackEntry e;
    e.kind = PackEntry::Kind::memory;
    e.content = &content;
    e.size = content.size();
    plan[*name] = e;
    std::vector<std::string> parts = split(*name);
    std::string parent;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      parent += (i ? "/" : "") + parts[i];
      PackEntry& d = plan[parent];
      d = PackEntry{};  // a same-named file or link is replaced by the directory
      d.kind = PackEntry::Kind::dir;
    }
  }
  return ok_status();
}

// Where packed bytes go: memory or an open file.
struct Sink {
  std::string* memory = nullptr;
  std::FILE* file = nullptr;
};

la_ssize_t sink_write(archive*, void* client, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(client);
  if (sink->memory != nullptr) {
    sink->memory->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  }
  if (std::fwrite(buf, 1, n, sink->file) != n) return -1;
  return static_cast<la_ssize_t>(n);
}

Error writer_error(archive* a, std::string_view what) {
  const char* msg = archive_error_string(a);
  return make_error(ErrorCode::io, fmt::format("{}: {}", what, msg ? msg : "unknown error"));
}

// An fd closed at scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Opens the regular file `rel` ("a/b/c") below the directory `root_fd`, one
// component at a time, following no link: a directory or file that was
// swapped for a link (or a fifo) after planning fails instead of leading the
// packer (maybe root) outside the tree. -1 with errno set on failure.
int open_below(int root_fd, const std::string& rel) {
  std::vector<std::string> parts = split(rel);
  int dir = root_fd;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir != root_fd) ::close(dir);
    if (next < 0) return -1;
    dir = next;
  }
  int fd = ::openat(dir, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  int saved = errno;
  if (dir != root_fd) ::close(dir);
  errno = saved;
  return fd;
}

Status write_file_data(archive* a, const std::string& name, const PackEntry& e, int root_fd) {
  if (e.kind == PackEntry::Kind::memory) {
    if (archive_write_data(a, e.content->data(), e.content->size()) < 0) {
      return writer_error(a, "cannot pack " + name);
    }
    return ok_status();
  }
  auto changed = [&] {
    return make_error(ErrorCode::io, fmt::format("\"{}\" changed while packing", name));
  };
  Fd f(open_below(root_fd, name));
  if (f.fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT || errno == ENXIO) return changed();
    return make_error(ErrorCode::io,
                      fmt::format("cannot read \"{}\": {}", name, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) return changed();
  std::vector<char> buf(kBlock);
  std::uint64_t left = e.size;
  while (left > 0) {
    ssize_t n = ::read(f.fd, buf.data(), std::min<std::uint64_t>(left, kBlock));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return changed();
    if (archive_write_data(a, buf.data(), static_cast<std::size_t>(n)) < 0) {
      return writer_error(a, "cannot pack " + name);
    }
    left -= static_cast<std::uint64_t>(n);
  }
  return ok_status();
}

Status write_pack_entry(archive* a, const std::string& name, const PackEntry& e, int root_fd) {
  EntryPtr entry(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_mtime(entry.get(), 0, 0);
  archive_entry_set_uid(entry.get(), 0);
  archive_entry_set_gid(entry.get(), 0);
  switch (e.kind) {
    case PackEntry::Kind::dir:
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
      break;
    case PackEntry::Kind::symlink:
      archive_entry_set_filetype(entry.get(), AE_IFLNK);
      archive_entry_set_perm(entry.get(), 0777);
      archive_entry_set_symlink(entry.get(), e.link_target.c_str());
      break;
    case PackEntry::Kind::file:
    case PackEntry::Kind::memory:
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), e.executable ? 0755 : 0644);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.size));
      break;
  }
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK)
    return writer_error(a, "cannot pack " + name);
  bool has_data = e.kind == PackEntry::Kind::file || e.kind == PackEntry::Kind::memory;
  return has_data ? write_file_data(a, name, e, root_fd) : ok_status();
}

Status write_plan(const PackPlan& plan, Sink& sink, int root_fd) {
  WriterPtr a(archive_write_new(), &archive_write_free);
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_write_set_options(a.get(), "gzip:!timestamp") != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK) {  // no 10 KiB padding
    return writer_error(a.get(), "cannot set up the archive writer");
  }
  if (archive_write_open(a.get(), &sink, nullptr, sink_write, nullptr) != ARCHIVE_OK) {
    return writer_error(a.get(), "cannot open the archive writer");
  }
  for (const auto& [name, e] : plan) DROVER_TRY(write_pack_entry(a.get(), name, e, root_fd));
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    return writer_error(a.get(), "cannot finish archive");
  return ok_status();
}

// `untrusted`: `dir` itself must not be a link either, and the walk goes
// through the directory opened once (/proc/self/fd/N), not its path.
Status pack_to_sink(const fs::path& dir, const std::map<std::string, std::string>& extra,
                    Sink& sink, bool untrusted = false) {
  int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (untrusted ? O_NOFOLLOW : 0);
  Fd root(::open(dir.c_str(), flags));
  if (root.fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) {
      std::error_code ec;  // O_NOFOLLOW | O_DIRECTORY on a link: ENOTDIR or ELOOP
      bool link = fs::is_symlink(fs::symlink_status(dir, ec));
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("{} is {}", dir.string(),
                                    link ? "a symlink" : "not a directory"));
    }
    return make_error(ErrorCode::io,
                      fmt::format("cannot read {}: {}", dir.string(), std::strerror(errno)));
  }
  fs::path walk = dir;
  std::error_code ec;
  if (fs::path pinned = fmt::format("/proc/self/fd/{}", root.fd); untrusted && fs::is_directory(pinned, ec)) {
    walk = pinned;
  }
  PackPlan plan;
  DROVER_TRY(plan_directory(walk, plan));
  DROVER_TRY(plan_extra_files(extra, plan));
  return write_plan(plan, sink, root.fd);
}

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

Result<std::string> pack_directory(const fs::path& dir,
                                   const std::map<std::string, std::string>& extra_files) {
  std::string out;
  Sink sink{&out, nullptr};
  DROVER_TRY(pack_to_sink(dir, extra_files, sink));
  return out;
}

Result<std::string> pack_untrusted_directory(const fs::path& dir) {
  std::string out;
  Sink sink{&out, nullptr};
  DROVER_TRY(pack_to_sink(dir, {}, sink, /*untrusted=*/true));
  return out;
}

Status pack_directory_to_file(const fs::path& dir, const fs::path& out) {
  std::FILE* f = std::fopen(out.c_str(), "wb");
  if (f == nullptr) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot write {}: {}", out.string(), std::strerror(errno)));
  }
  Sink sink{nullptr, f};
  Status st = pack_to_sink(dir, {}, sink);
  if (std::fclose(f) != 0 && st.ok()) {
    st = make_error(ErrorCode::io, fmt::format("cannot write {}", out.string()));
  }
  if (!st.ok()) {
    std::error_code ec;
    fs::remove(out, ec);
  }
  return st;
}

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
