#include "master/store/garbage.hpp"

#include <sys/stat.h>

#include <charconv>

#include <fmt/format.h>

#include "common/fs/fs.hpp"

namespace drover::master {

namespace fs = std::filesystem;

namespace {

// "j-000042" -> 42; -1 when the name is not a job id.
std::int64_t job_seq(const std::string& name) {
  if (name.size() < 3 || name.rfind("j-", 0) != 0) return -1;
  std::int64_t seq = -1;
  auto [p, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), seq);
  return ec == std::errc{} && p == name.data() + name.size() ? seq : -1;
}

// "a-17" -> 17; -1 otherwise.
std::int64_t attempt_number(const std::string& name) {
  if (name.size() < 3 || name.rfind("a-", 0) != 0) return -1;
  std::int64_t id = -1;
  auto [p, ec] = std::from_chars(name.data() + 2, name.data() + name.size(), id);
  return ec == std::errc{} && p == name.data() + name.size() ? id : -1;
}

bool old_enough(const fs::path& path, const GarbageRules& rules) {
  TimePoint t = modified_at(path);
  return t != TimePoint{} && t < rules.cutoff;
}

// An abandoned write_file_atomic temp file: ".<digest>.tmp-XXXXXX".
bool is_temp_name(const std::string& name) {
  return name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string::npos;
}

void collect_blobs(const BlobDir& blobs, const GarbageRules& rules, std::mutex* lock,
                   GarbageReport& out) {
  std::error_code ec;
  for (fs::directory_iterator prefix(blobs.root(), ec), end; !ec && prefix != end;
       prefix.increment(ec)) {
    std::error_code st;
    if (prefix->is_symlink(st) || !prefix->is_directory(st)) continue;
    std::error_code ec2;
    for (fs::directory_iterator it(prefix->path(), ec2), e2; !ec2 && it != e2; it.increment(ec2)) {
      const std::string name = it->path().filename().string();
      const bool blob = is_sha256_hex(name);
      if (!blob && !is_temp_name(name)) continue;  // e.g. <digest>.corrupt: kept to look at
      if (blob && rules.keep.count(name)) continue;
      std::unique_lock guard = lock ? std::unique_lock(*lock) : std::unique_lock<std::mutex>();
      if (!old_enough(it->path(), rules)) continue;  // an upload in flight, or just reused
      std::error_code rm;
      const auto bytes = fs::file_size(it->path(), rm);
      if (fs::remove(it->path(), rm)) {
        ++out.blobs;
        out.blob_bytes += bytes == static_cast<std::uintmax_t>(-1) ? 0 : bytes;
      } else if (rm) {
        out.errors.push_back(fmt::format("{}: {}", it->path().string(), rm.message()));
      }
    }
  }
  if (ec && ec != std::errc::no_such_file_or_directory) {
    out.errors.push_back(fmt::format("{}: {}", blobs.root().string(), ec.message()));
  }
}

void remove_dir(const fs::path& path, std::int64_t& count, GarbageReport& out) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) {
    out.errors.push_back(fmt::format("{}: {}", path.string(), ec.message()));
  } else {
    ++count;
  }
}

// outputs/<job>/<stage>/<index>.a<attempt> of jobs that are gone, unless a
// remaining job reuses them.
void collect_outputs(const GarbageRules& rules, GarbageReport& out) {
  const fs::path root = rules.shared_root / "outputs";
  std::error_code ec;
  for (fs::directory_iterator job(root, ec), end; !ec && job != end; job.increment(ec)) {
    const std::string job_id = job->path().filename().string();
    const std::int64_t seq = job_seq(job_id);
    if (seq < 0 || seq >= rules.next_job_seq || rules.live_jobs.count(job_id)) continue;
    std::error_code st;
    if (job->is_symlink(st) || !job->is_directory(st)) continue;
    std::error_code ec2;
    for (fs::directory_iterator stage(job->path(), ec2), e2; !ec2 && stage != e2;
         stage.increment(ec2)) {
      std::error_code st2;
      if (stage->is_symlink(st2) || !stage->is_directory(st2)) continue;
      std::error_code ec3;
      for (fs::directory_iterator entry(stage->path(), ec3), e3; !ec3 && entry != e3;
           entry.increment(ec3)) {
        std::string ref = fmt::format("shared:outputs/{}/{}/{}", job_id,
                                      stage->path().filename().string(),
                                      entry->path().filename().string());
        if (rules.keep.count(ref) || !old_enough(entry->path(), rules)) continue;
        remove_dir(entry->path(), out.outputs, out);
      }
      std::error_code ignore;  // still holds a kept output: stays
      fs::remove(stage->path(), ignore);
    }
    std::error_code ignore;
    fs::remove(job->path(), ignore);
  }
}

// attempts/a-<id> of attempts that are gone (uncommitted outputs of deleted jobs).
void collect_attempt_dirs(const GarbageRules& rules, GarbageReport& out) {
  std::error_code ec;
  for (fs::directory_iterator it(rules.shared_root / "attempts", ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::int64_t id = attempt_number(it->path().filename().string());
    if (id < 0 || id >= rules.next_attempt_id || rules.live_attempts.count(id)) continue;
    if (!old_enough(it->path(), rules)) continue;
    remove_dir(it->path(), out.attempt_dirs, out);
  }
}

}  // namespace

TimePoint modified_at(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return TimePoint{};
  return from_millis(static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 +
                     st.st_mtim.tv_nsec / 1'000'000);
}

GarbageReport collect_garbage(const BlobDir& blobs, const GarbageRules& rules, std::mutex* lock) {
  GarbageReport out;
  collect_blobs(blobs, rules, lock, out);
  if (!rules.shared_root.empty()) {
    collect_outputs(rules, out);
    collect_attempt_dirs(rules, out);
  }
  return out;
}

}  // namespace drover::master
