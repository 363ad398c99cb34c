// Deterministic packing of directories into gzip'd tars with libarchive:
// sorted entries, fixed owners and times, and links checked like unpacking
// checks them. Untrusted trees (task outputs) are read without following links.
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

#include "common/fs/unique_fd.hpp"

namespace drover {

namespace fs = std::filesystem;
using namespace archive_internal;

namespace {

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
  UniqueFd f(open_below(root_fd, name));
  if (f.get() < 0) {
    if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT || errno == ENXIO) return changed();
    return make_error(ErrorCode::io,
                      fmt::format("cannot read \"{}\": {}", name, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return changed();
  std::vector<char> buf(kBlock);
  std::uint64_t left = e.size;
  while (left > 0) {
    ssize_t n = ::read(f.get(), buf.data(), std::min<std::uint64_t>(left, kBlock));
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
  UniqueFd root(::open(dir.c_str(), flags));
  if (root.get() < 0) {
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
  if (fs::path pinned = fmt::format("/proc/self/fd/{}", root.get()); untrusted && fs::is_directory(pinned, ec)) {
    walk = pinned;
  }
  PackPlan plan;
  DROVER_TRY(plan_directory(walk, plan));
  DROVER_TRY(plan_extra_files(extra, plan));
  return write_plan(plan, sink, root.get());
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

const std::string& empty_archive() {
  static const std::string bytes = [] {
    std::string out;
    Sink sink{&out, nullptr};
    Status st = write_plan(PackPlan{}, sink, -1);
    if (!st.ok()) out.clear();  // cannot happen: libarchive set up in memory
    return out;
  }();
  return bytes;
}

}  // namespace drover
