#include "worker/sandbox/blob_cache.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "worker/sandbox/attempt_sandbox.hpp"

namespace drover::worker {

namespace fs = std::filesystem;

BlobCache::BlobCache(fs::path work_dir, BlobFetcher fetch)
    : work_dir_(std::move(work_dir)), fetch_(std::move(fetch)) {
  scan();
}

void BlobCache::scan() {
  struct Found {
    fs::file_time_type mtime;
    CacheEntry entry;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (const char* kind : {"bundle", "blob"}) {
    fs::path dir = work_dir_ / (std::string(kind) + "s");
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.rfind(".evicted-", 0) == 0) {  // an eviction cut short by a crash
        (void)drover::remove_all(it->path());
        continue;
      }
      if (!is_sha256_hex(name)) continue;  // temp files and unpack dirs start with '.'
      std::error_code e2;
      std::uint64_t bytes = 0;
      if (std::string(kind) == "bundle") {
        if (!it->is_directory(e2)) continue;
        auto size = tree_bytes(it->path());
        bytes = size.ok() ? *size : 0;
      } else {
        if (!it->is_regular_file(e2)) continue;
        bytes = it->file_size(e2);
      }
      found.push_back({it->last_write_time(e2), {std::string(kind) + ":" + name, it->path(), bytes, 0}});
    }
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) { return a.mtime < b.mtime; });
  for (Found& f : found) {
    f.entry.last_use = ++uses_;
    index_.emplace(f.entry.key, std::move(f.entry));
  }
}

std::uint64_t BlobCache::note_use(const std::string& key) {
  std::lock_guard lock(mu_);
  std::uint64_t use = ++uses_;
  auto it = index_.find(key);
  if (it != index_.end()) it->second.last_use = use;
  return use;
}

void BlobCache::note_present(const std::string& key, const fs::path& path, std::uint64_t use) {
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second.last_use = std::max(it->second.last_use, use);
      return;
    }
  }
  std::uint64_t bytes = 0;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto size = tree_bytes(path);
    bytes = size.ok() ? *size : 0;
  } else {
    bytes = fs::file_size(path, ec);
    if (ec) bytes = 0;
  }
  std::lock_guard lock(mu_);
  auto [it, added] = index_.emplace(key, CacheEntry{key, path, bytes, use});
  if (!added) it->second.last_use = std::max(it->second.last_use, use);
}

std::uint64_t BlobCache::bytes() const {
  std::lock_guard lock(mu_);
  std::uint64_t total = 0;
  for (const auto& [key, e] : index_) total += e.bytes;
  return total;
}

std::vector<CacheEntry> BlobCache::entries() const {
  std::lock_guard lock(mu_);
  std::vector<CacheEntry> out;
  for (const auto& [key, e] : index_) out.push_back(e);
  return out;
}

int BlobCache::evict(const Chooser& choose) {
  std::vector<fs::path> trash;
  {
    std::lock_guard lock(mu_);
    std::vector<CacheEntry> all;
    for (const auto& [key, e] : index_) {
      if (!in_flight_.count(key)) all.push_back(e);  // being produced right now: not a candidate
    }
    for (std::size_t i : choose(all, uses_)) {
      if (i >= all.size()) continue;
      const CacheEntry& e = all[i];
      // Out of sight at once (rename is atomic); the slow delete happens unlocked.
      fs::path gone = e.path.parent_path() / fmt::format(".evicted-{}-{}", ++evictions_, e.path.filename().string());
      std::error_code ec;
      fs::rename(e.path, gone, ec);
      if (ec && fs::exists(e.path, ec)) {
        spdlog::warn("cache: cannot evict {}: {}", e.path.string(), ec.message());
        continue;
      }
      trash.push_back(gone);
      index_.erase(e.key);
    }
  }
  for (const fs::path& p : trash) {
    Status removed = drover::remove_all(p);
    if (!removed.ok()) spdlog::warn("cache: cannot remove {}: {}", p.string(), removed.error().describe());
  }
  return static_cast<int>(trash.size());
}

int BlobCache::fetch_count() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<fs::path> BlobCache::bundle(const std::string& digest) {
  if (!is_sha256_hex(digest)) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad bundle digest \"{}\"", digest));
  }
  const std::string key = "bundle:" + digest;
  std::uint64_t use = note_use(key);
  auto dir = single_flight(key, [&] { return produce_bundle(digest); });
  if (dir.ok()) note_present(key, *dir, use);
  return dir;
}

Result<fs::path> BlobCache::blob(const std::string& digest) {
  if (!is_sha256_hex(digest)) {
    return make_error(ErrorCode::invalid_argument, fmt::format("bad blob digest \"{}\"", digest));
  }
  const std::string key = "blob:" + digest;
  std::uint64_t use = note_use(key);
  auto file = single_flight(key, [&] { return produce_blob(digest); });
  if (file.ok()) note_present(key, *file, use);
  return file;
}

Result<fs::path> BlobCache::single_flight(const std::string& key, const Producer& produce) {
  std::promise<Result<fs::path>> promise;
  std::shared_future<Result<fs::path>> shared;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      shared = it->second;
    } else {
      in_flight_.emplace(key, promise.get_future().share());
    }
  }
  if (shared.valid()) return shared.get();
  Result<fs::path> result = produce();
  promise.set_value(result);
  std::lock_guard lock(mu_);
  in_flight_.erase(key);
  return result;
}

Result<std::string> BlobCache::fetch_verified(const std::string& digest) {
  {
    std::lock_guard lock(mu_);
    ++fetches_;
  }
  auto bytes = fetch_(digest);
  if (!bytes.ok()) {
    return make_error(bytes.error().code,
                      fmt::format("download of {} failed: {}", digest, bytes.error().describe()));
  }
  std::string actual = sha256_hex(*bytes);
  if (actual != digest) {
    return make_error(ErrorCode::invalid_spec,
                      fmt::format("download of {} failed: content has digest {}", digest, actual));
  }
  return bytes;
}

Result<fs::path> BlobCache::produce_bundle(const std::string& digest) {
  fs::path dir = work_dir_ / "bundles" / digest;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return dir;  // cached by an earlier attempt or run
  DROVER_TRY(make_dirs(dir.parent_path()));
  auto bytes = fetch_verified(digest);
  if (!bytes.ok()) return bytes.error();
  auto tmp = make_temp_dir(".unpack-" + digest.substr(0, 12) + "-", dir.parent_path());
  if (!tmp.ok()) return tmp.error();
  Status unpacked = unpacked_without_loss(unpack_archive(*bytes, *tmp), *tmp);
  if (!unpacked.ok()) {
    (void)drover::remove_all(*tmp);
    return make_error(unpacked.error().code, fmt::format("unpack of bundle {} failed: {}", digest,
                                                         unpacked.error().describe()));
  }
  // Sandboxes hard-link these files: nobody may change them in place.
  for (fs::recursive_directory_iterator it(*tmp, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) {
      fs::permissions(it->path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write,
                      fs::perm_options::remove, ec);
    }
  }
  fs::rename(*tmp, dir, ec);
  if (ec) {
    (void)drover::remove_all(*tmp);
    if (fs::is_directory(dir, ec)) return dir;  // another worker process won the race
    return make_error(ErrorCode::io,
                      fmt::format("cannot store bundle {}: {}", digest, ec.message()));
  }
  spdlog::info("bundle {} cached", digest);
  return dir;
}

Result<fs::path> BlobCache::produce_blob(const std::string& digest) {
  fs::path file = work_dir_ / "blobs" / digest;
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return file;
  DROVER_TRY(make_dirs(file.parent_path()));
  auto bytes = fetch_verified(digest);
  if (!bytes.ok()) return bytes.error();
  Status written = write_file_atomic(file, *bytes);
  if (!written.ok()) {
    return make_error(ErrorCode::io,
                      fmt::format("cannot store blob {}: {}", digest, written.error().describe()));
  }
  return file;
}

}  // namespace drover::worker
