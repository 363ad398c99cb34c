#include "master/backup.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "common/fs/blob_dir.hpp"
#include "common/fs/fs.hpp"
#include "common/proto/output_ref.hpp"
#include "master/config.hpp"
#include "master/store/statement.hpp"

namespace drover::master {

namespace fs = std::filesystem;

namespace {

constexpr const char* kStateDb = "state.db";

// Every column of the state database that names a blob (or a shared ref).
struct RefColumn {
  const char* table;
  const char* column;
};
constexpr RefColumn kRefColumns[] = {
    {"jobs", "bundle_digest"},      {"tasks", "output_digest"},    {"tasks", "checkpoint_digest"},
    {"attempts", "output_digest"},  {"attempts", "stdout_digest"}, {"attempts", "stderr_digest"},
    {"cache", "output_ref"},
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

Result<Db> open_db(const fs::path& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::io, fmt::format("cannot open {}: {}", path.string(),
                                                 raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  return db;
}

Status exec(sqlite3* db, const char* sql, const fs::path& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return make_error(ErrorCode::io, fmt::format("{}: {}", what.string(), msg));
  }
  return ok_status();
}

// "ok", or an error naming the file and SQLite's first complaint.
Status check_integrity(sqlite3* db, const fs::path& what) {
  Statement st(db, "PRAGMA integrity_check");
  std::string first = st.step() ? st.text(0) : std::string();
  DROVER_TRY(st.status());
  if (first != "ok") {
    return make_error(ErrorCode::io, fmt::format("{} is damaged: {}", what.string(),
                                                 first.empty() ? "no integrity result" : first));
  }
  return ok_status();
}

Status fsync_path(const fs::path& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io, fmt::format("cannot open {} to sync it", path.string()));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return make_error(ErrorCode::io, fmt::format("cannot sync {}", path.string()));
  return ok_status();
}

// Copies `src` to `dst` durably: a temp file beside `dst`, fsync, rename, fsync the dir.
Status copy_durably(const fs::path& src, const fs::path& dst) {
  fs::path tmp = dst.parent_path() / ("." + dst.filename().string() + ".restore-tmp");
  std::error_code ec;
  fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    return make_error(ErrorCode::io, fmt::format("cannot copy {} to {}: {}", src.string(),
                                                 tmp.string(), ec.message()));
  }
  DROVER_TRY(fsync_path(tmp, O_RDONLY));
  fs::rename(tmp, dst, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return make_error(ErrorCode::io, fmt::format("cannot install {}: {}", dst.string(), ec.message()));
  }
  return fsync_path(dst.parent_path(), O_RDONLY | O_DIRECTORY);
}

std::string list_some(const std::vector<std::string>& items, std::size_t max = 10) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += fmt::format(" and {} more", items.size() - max);
  return out;
}

fs::path manifest_path(const fs::path& db_copy) { return fs::path(db_copy.string() + ".blobs"); }

// --config / --data-dir / --output-store through the master's own config loader,
// so a backup finds data_dir and the blob dir exactly as the master does.
Status resolve_dirs(const std::vector<std::string>& config_args, fs::path& data_dir,
                    fs::path& blob_dir) {
  auto loaded = load_master_config(config_args);
  if (!loaded.ok()) return loaded.error();
  data_dir = loaded->config.data_dir;
  std::string shared = shared_store_root(loaded->config.output_store);
  blob_dir = shared.empty() ? data_dir / "blobs" : fs::path(shared) / "blobs";
  return ok_status();
}

// Splits the common flags off: --config, --data-dir and --output-store go to
// `config_args`; the command's own flags are matched by `own`.
template <typename Own>
Status parse_flags(const std::vector<std::string>& args, const char* command,
                   std::vector<std::string>& config_args, Own own) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> Result<std::string> {
      if (i + 1 >= args.size() || args[i + 1].empty()) {
        return make_error(ErrorCode::invalid_argument, "needs a value", a.substr(2));
      }
      return args[++i];
    };
    if (a == "--config" || a == "--data-dir" || a == "--output-store") {
      auto v = value();
      if (!v.ok()) return v.error();
      config_args.push_back(a);
      config_args.push_back(*v);
      continue;
    }
    auto handled = own(a, value);
    if (!handled.ok()) return handled.error();
    if (!*handled) {
      return make_error(ErrorCode::invalid_argument, fmt::format("unknown argument {}", a), command);
    }
  }
  return ok_status();
}

Result<bool> set_path(fs::path& into, const std::function<Result<std::string>()>& value) {
  auto v = value();
  if (!v.ok()) return v.error();
  into = *v;
  return true;
}

}  // namespace

// ------------------------------------------------------------------ arguments

std::string backup_usage() {
  return "usage: drover-master backup --to FILE [--config FILE | --data-dir DIR]\n"
         "  Copies the running (or stopped) master's state.db to FILE as one consistent\n"
         "  snapshot and writes FILE.blobs, the blobs it references (\"<sha256> <bytes>\").\n"
         "  Copy those blobs (data_dir/blobs/<2 hex>/<sha256>) alongside FILE.\n"
         "  Exit 0: done; 1: failed (e.g. listed blobs missing); 2: bad usage.\n";
}

std::string restore_usage() {
  return "usage: drover-master restore --from FILE (--data-dir DIR | --config FILE)\n"
         "                             [--blobs-from DIR] [--force]\n"
         "  With the master stopped: checks that every blob in FILE.blobs is in the blob dir\n"
         "  (copying it from --blobs-from, a blob dir such as the old data_dir/blobs, and\n"
         "  checking its SHA-256), then installs FILE as state.db. --force replaces an\n"
         "  existing state.db. Exit 0: done; 1: failed (master running, blobs missing); 2: bad usage.\n";
}

Result<BackupOptions> parse_backup_args(const std::vector<std::string>& args) {
  BackupOptions o;
  std::vector<std::string> config_args;
  DROVER_TRY(parse_flags(args, "backup", config_args,
                         [&](const std::string& a, const auto& value) -> Result<bool> {
                           if (a == "--to") return set_path(o.to, value);
                           return false;
                         }));
  if (o.to.empty()) return make_error(ErrorCode::invalid_argument, "is required", "to");
  DROVER_TRY(resolve_dirs(config_args, o.data_dir, o.blob_dir));
  return o;
}

Result<RestoreOptions> parse_restore_args(const std::vector<std::string>& args) {
  RestoreOptions o;
  std::vector<std::string> config_args;
  DROVER_TRY(parse_flags(args, "restore", config_args,
                         [&](const std::string& a, const auto& value) -> Result<bool> {
                           if (a == "--from") return set_path(o.from, value);
                           if (a == "--blobs-from") return set_path(o.blobs_from, value);
                           if (a == "--force") return o.force = true;
                           return false;
                         }));
  if (o.from.empty()) return make_error(ErrorCode::invalid_argument, "is required", "from");
  if (config_args.empty()) {
    // Restoring into the default /var/lib/drover/master by accident would be bad.
    return make_error(ErrorCode::invalid_argument, "--data-dir or --config is required", "data-dir");
  }
  DROVER_TRY(resolve_dirs(config_args, o.data_dir, o.blob_dir));
  return o;
}

// ------------------------------------------------------------------ manifest

Result<BlobManifest> referenced_blobs(const fs::path& db_path) {
  auto db = open_db(db_path, SQLITE_OPEN_READONLY);
  if (!db.ok()) return db.error();
  std::set<std::string> digests, shared;
  for (const RefColumn& c : kRefColumns) {
    std::string sql = fmt::format("SELECT DISTINCT {} FROM {}", c.column, c.table);
    Statement st(db->get(), sql.c_str());
    while (st.step()) {
      std::string ref = st.text(0);
      if (ref.empty()) continue;
      if (is_sha256_hex(ref)) {
        digests.insert(ref);
      } else if (is_shared_ref(ref)) {
        shared.insert(ref);
      } else {
        return make_error(ErrorCode::io, fmt::format("{}: {}.{} holds \"{}\", neither a sha256 "
                                                     "digest nor a shared: ref",
                                                     db_path.string(), c.table, c.column, ref));
      }
    }
    Status s = st.status();
    if (!s.ok()) return make_error(ErrorCode::io, fmt::format("{}: {}", db_path.string(), s.error().message));
  }
  BlobManifest m;
  for (const auto& d : digests) m.blobs.push_back({d, 0});
  m.shared_refs.assign(shared.begin(), shared.end());
  return m;
}

std::string format_manifest(const BlobManifest& m) {
  std::uint64_t total = 0;
  for (const auto& e : m.blobs) total += e.bytes;
  std::string out = fmt::format("# drover blob manifest: {} blobs, {} bytes\n", m.blobs.size(), total);
  out += "# each blob is <blob dir>/<first 2 hex>/<sha256>\n";
  for (const auto& ref : m.shared_refs) out += fmt::format("# on the shared output store: {}\n", ref);
  for (const auto& e : m.blobs) out += fmt::format("{} {}\n", e.digest, e.bytes);
  return out;
}

Result<BlobManifest> parse_manifest(const std::string& text) {
  BlobManifest m;
  std::istringstream in(text);
  std::string line;
  const std::string shared_prefix = "# on the shared output store: ";
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    if (line.rfind(shared_prefix, 0) == 0) {
      m.shared_refs.push_back(line.substr(shared_prefix.size()));
      continue;
    }
    if (line[0] == '#') continue;
    auto space = line.find(' ');
    std::string digest = line.substr(0, space);
    std::string bytes = space == std::string::npos ? std::string() : line.substr(space + 1);
    if (!is_sha256_hex(digest) || bytes.empty() ||
        bytes.find_first_not_of("0123456789") != std::string::npos || bytes.size() > 19) {
      return make_error(ErrorCode::invalid_argument,
                        fmt::format("line {}: expected \"<sha256> <bytes>\", got \"{}\"", n, line));
    }
    m.blobs.push_back({digest, std::stoull(bytes)});
  }
  std::sort(m.blobs.begin(), m.blobs.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.digest < b.digest; });
  m.blobs.erase(std::unique(m.blobs.begin(), m.blobs.end(),
                            [](const auto& a, const auto& b) { return a.digest == b.digest; }),
                m.blobs.end());
  return m;
}

// ------------------------------------------------------------------ lock check

Result<bool> database_in_use(const fs::path& db_path) {
  std::error_code ec;
  if (!fs::exists(db_path, ec)) return false;
  auto db = open_db(db_path, SQLITE_OPEN_READWRITE);
  if (!db.ok()) return db.error();
  // A running master holds a SHARED lock on state.db for as long as it has it
  // open (WAL mode keeps it), so an exclusive lock fails at once with BUSY.
  sqlite3_busy_timeout(db->get(), 0);
  DROVER_TRY(exec(db->get(), "PRAGMA locking_mode=EXCLUSIVE", db_path));
  int rc = sqlite3_exec(db->get(), "BEGIN EXCLUSIVE; COMMIT", nullptr, nullptr, nullptr);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return true;
  if (rc != SQLITE_OK) {
    return make_error(ErrorCode::io, fmt::format("{}: {}", db_path.string(), sqlite3_errmsg(db->get())));
  }
  return false;
}

// ------------------------------------------------------------------ backup

namespace {

// Copies the live database into `dest` in one read transaction: a consistent
// snapshot even while the master commits. The copy is a single file (no WAL).
Status snapshot_db(const fs::path& live, const fs::path& dest) {
  auto src = open_db(live, SQLITE_OPEN_READWRITE);  // read-write: may recover a WAL left by a crash
  if (!src.ok()) return src.error();
  sqlite3_busy_timeout(src->get(), 5000);
  std::error_code ec;
  fs::remove(dest, ec);
  auto dst = open_db(dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!dst.ok()) return dst.error();
  sqlite3_backup* b = sqlite3_backup_init(dst->get(), "main", src->get(), "main");
  if (b == nullptr) {
    return make_error(ErrorCode::io, fmt::format("cannot back up {}: {}", live.string(),
                                                 sqlite3_errmsg(dst->get())));
  }
  int rc = SQLITE_OK;
  for (int tries = 0; tries < 100; ++tries) {
    rc = sqlite3_backup_step(b, -1);  // all pages in one step: one read transaction
    if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
    sqlite3_sleep(50);
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    return make_error(ErrorCode::io, fmt::format("backup of {} failed: {}", live.string(),
                                                 sqlite3_errstr(rc)));
  }
  DROVER_TRY(exec(dst->get(), "PRAGMA journal_mode=DELETE", dest));
  return check_integrity(dst->get(), dest);
}

}  // namespace

Result<std::string> run_backup(const BackupOptions& o) {
  std::error_code ec;
  if (!fs::is_directory(o.data_dir, ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} does not exist or is not a directory", o.data_dir.string()),
                      "data-dir");
  }
  const fs::path live = o.data_dir / kStateDb;
  if (!fs::is_regular_file(live, ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} has no {}: not a master data dir", o.data_dir.string(), kStateDb),
                      "data-dir");
  }
  if (fs::exists(o.to, ec) && fs::equivalent(o.to, live, ec)) {
    return make_error(ErrorCode::invalid_argument, "must not be the live state.db", "to");
  }
  const fs::path to = fs::absolute(o.to, ec);
  if (!to.has_parent_path() || !fs::is_directory(to.parent_path(), ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("directory {} does not exist", to.parent_path().string()), "to");
  }
  const fs::path tmp = to.parent_path() / ("." + to.filename().string() + ".tmp");
  Status copied = snapshot_db(live, tmp);
  if (!copied.ok()) {
    fs::remove(tmp, ec);
    return copied.error();
  }
  auto manifest = referenced_blobs(tmp);
  if (!manifest.ok()) {
    fs::remove(tmp, ec);
    return manifest.error();
  }
  BlobDir blobs(o.blob_dir);
  std::vector<std::string> missing;
  std::uint64_t total = 0;
  for (ManifestEntry& e : manifest->blobs) {
    auto size = fs::file_size(blobs.path_of(e.digest), ec);
    if (ec) {
      missing.push_back(e.digest);
    } else {
      e.bytes = size;
      total += size;
    }
  }
  DROVER_TRY(fsync_path(tmp, O_RDONLY));
  fs::rename(tmp, to, ec);
  if (ec) return make_error(ErrorCode::io, fmt::format("cannot write {}: {}", to.string(), ec.message()));
  DROVER_TRY(write_file_atomic(manifest_path(to), format_manifest(*manifest)));
  if (!missing.empty()) {
    return make_error(ErrorCode::not_found,
                      fmt::format("{} written, but {} of the blobs it references are missing from {}: {}",
                                  to.string(), missing.size(), o.blob_dir.string(), list_some(missing)));
  }
  std::string out = fmt::format("backup {} written: snapshot of {}\n", to.string(), live.string());
  out += fmt::format("manifest {}: {} blobs, {} bytes in {}\n", manifest_path(to).string(),
                     manifest->blobs.size(), total, o.blob_dir.string());
  if (!manifest->shared_refs.empty()) {
    out += fmt::format("{} outputs live on the shared output store; back it up separately\n",
                       manifest->shared_refs.size());
  }
  return out;
}

// ------------------------------------------------------------------ restore

namespace {

// Makes sure blob `digest` is intact in `dest`, copying it from `source` (when
// set) if it is absent or damaged. False when it could not be made so.
Result<bool> ensure_blob(const BlobDir& dest, const BlobDir* source, const std::string& digest) {
  std::error_code ec;
  const fs::path have = dest.path_of(digest);
  if (fs::is_regular_file(have, ec)) {
    auto sum = sha256_file(have);
    if (sum.ok() && *sum == digest) return true;
  }
  if (source == nullptr) return false;
  const fs::path from = source->path_of(digest);
  if (!fs::is_regular_file(from, ec)) return false;
  auto sum = sha256_file(from);
  if (!sum.ok() || *sum != digest) return false;
  DROVER_TRY(make_dirs(have.parent_path()));
  DROVER_TRY(copy_durably(from, have));
  return true;
}

}  // namespace

Result<std::string> run_restore(const RestoreOptions& o) {
  std::error_code ec;
  if (!fs::is_regular_file(o.from, ec)) {
    return make_error(ErrorCode::not_found, fmt::format("backup {} does not exist", o.from.string()), "from");
  }
  auto manifest_text = read_file(manifest_path(o.from));
  if (!manifest_text.ok()) {
    return make_error(ErrorCode::not_found,
                      fmt::format("cannot read the blob manifest {}: {}", manifest_path(o.from).string(),
                                  manifest_text.error().describe()));
  }
  auto manifest = parse_manifest(*manifest_text);
  if (!manifest.ok()) {
    return make_error(ErrorCode::io, fmt::format("{}: {}", manifest_path(o.from).string(),
                                                 manifest.error().message));
  }
  {
    auto copy = open_db(o.from, SQLITE_OPEN_READONLY);
    if (!copy.ok()) return copy.error();
    DROVER_TRY(check_integrity(copy->get(), o.from));
  }
  if (!o.blobs_from.empty() && !fs::is_directory(o.blobs_from, ec)) {
    return make_error(ErrorCode::invalid_argument,
                      fmt::format("{} is not a directory", o.blobs_from.string()), "blobs-from");
  }
  DROVER_TRY(make_dirs(o.data_dir));
  const fs::path db = o.data_dir / kStateDb;
  auto in_use = database_in_use(db);
  if (!in_use.ok()) return in_use.error();
  if (*in_use) {
    return make_error(ErrorCode::conflict,
                      fmt::format("{} is open: a master is running on {}; stop it first", db.string(),
                                  o.data_dir.string()));
  }
  if (fs::exists(db, ec) && !o.force) {
    return make_error(ErrorCode::conflict,
                      fmt::format("{} exists; pass --force to replace it", db.string()));
  }
  // Blobs first: a restore that fails here leaves no database behind.
  BlobDir dest(o.blob_dir);
  BlobDir source(o.blobs_from);
  std::vector<std::string> missing;
  std::size_t copied = 0;
  for (const ManifestEntry& e : manifest->blobs) {
    bool present_before = fs::is_regular_file(dest.path_of(e.digest), ec);
    auto ok = ensure_blob(dest, o.blobs_from.empty() ? nullptr : &source, e.digest);
    if (!ok.ok()) return ok.error();
    if (!*ok) missing.push_back(e.digest);
    if (*ok && !present_before) ++copied;
  }
  if (!missing.empty()) {
    return make_error(ErrorCode::not_found,
                      fmt::format("{} of {} blobs listed in {} are missing or damaged in {}{}: {}; "
                                  "state.db not installed",
                                  missing.size(), manifest->blobs.size(), manifest_path(o.from).string(),
                                  o.blob_dir.string(),
                                  o.blobs_from.empty() ? "" : " and " + o.blobs_from.string(),
                                  list_some(missing)));
  }
  // A WAL of the old database must never be replayed onto the restored one.
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(fs::path(db.string() + suffix), ec);
  DROVER_TRY(copy_durably(o.from, db));
  std::string out = fmt::format("restored {} from {}\n", db.string(), o.from.string());
  out += fmt::format("{} blobs checked in {} ({} copied)\n", manifest->blobs.size(),
                     o.blob_dir.string(), copied);
  if (!manifest->shared_refs.empty()) {
    out += fmt::format("{} outputs live on the shared output store; restore it separately\n",
                       manifest->shared_refs.size());
  }
  return out;
}

}  // namespace drover::master
