#pragma once
// Garbage collection of the blob store and the shared output store: deletes
// what no remaining job names. Runs off the coordinator's strand (it walks
// directories) on a copy of what the model references, taken on the strand
// after the retention deletions were committed.
//
// Safety: a blob or output directory is deleted only when (1) its ref is not
// in `keep` and (2) it was last modified before `cutoff` — so an upload in
// flight (on disk before any job names it) is never taken. BlobStore::put
// refreshes the modification time of a blob uploaded again, so re-using an old
// unreferenced blob restarts its grace period.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/base/clock.hpp"
#include "common/fs/blob_dir.hpp"

namespace drover::master {

struct GarbageRules {
  std::set<std::string> keep;  // blob digests and shared: refs still named
  TimePoint cutoff{};          // anything modified at or after this is kept
  // output_store: shared:/path only (empty otherwise): committed outputs
  // (outputs/<job>/...) of jobs that are gone and attempt directories
  // (attempts/a-<id>) of attempts that are gone.
  std::filesystem::path shared_root;
  std::int64_t next_job_seq = 0;      // job ids at or past it are not ours to judge
  std::set<std::string> live_jobs;
  std::int64_t next_attempt_id = 0;   // likewise for attempt ids
  std::set<std::int64_t> live_attempts;
};

struct GarbageReport {
  std::int64_t blobs = 0;          // blob files deleted (abandoned temp files included)
  std::uint64_t blob_bytes = 0;
  std::int64_t outputs = 0;        // shared output directories deleted
  std::int64_t attempt_dirs = 0;   // shared attempt directories deleted
  std::vector<std::string> errors; // what could not be deleted (logged; retried next pass)
};

// `lock`, when given, is held around each blob's last check and deletion
// (BlobStore holds it while it refreshes a re-uploaded blob).
GarbageReport collect_garbage(const BlobDir& blobs, const GarbageRules& rules,
                              std::mutex* lock = nullptr);

// Last modification time of a file or directory (not following links); nullopt-like
// TimePoint{} when it cannot be read.
TimePoint modified_at(const std::filesystem::path& path);

}  // namespace drover::master
