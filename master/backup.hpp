#pragma once
// `drover-master backup` and `drover-master restore`: an online copy of the
// master's state and its way back.
//
//   backup:  live data_dir/state.db ──sqlite3_backup (one read transaction,
//            so one consistent snapshot, while the master keeps writing)──>
//            FILE (a single-file database, journal_mode DELETE), then
//            FILE.blobs: the blob manifest, one "<sha256> <bytes>" line per
//            blob the snapshot references (bundles, outputs, checkpoints,
//            logs, cached outputs). Every listed blob must exist at backup
//            time, or the backup fails naming the missing ones.
//   restore: refuses while a master has data_dir/state.db open (it cannot
//            take SQLite's exclusive lock); installs FILE as state.db
//            (stale -wal/-shm removed); makes sure every manifest blob is in
//            the blob dir, copying from --blobs-from and checking SHA-256.
//
// Blobs are immutable and content-addressed, so copying the listed blobs after
// the database snapshot is consistent. Run by main() in a separate process;
// nothing here touches a running master's memory.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/base/result.hpp"

namespace drover::master {

// One blob of the manifest.
struct ManifestEntry {
  std::string digest;
  std::uint64_t bytes = 0;
  bool operator==(const ManifestEntry&) const = default;
};

struct BlobManifest {
  std::vector<ManifestEntry> blobs;        // sorted by digest, no duplicates
  std::vector<std::string> shared_refs;    // "shared:..." refs: on the shared output store, not blobs
};

struct BackupOptions {
  std::filesystem::path to;        // the database copy; the manifest is <to>.blobs
  std::filesystem::path data_dir;  // holds state.db
  std::filesystem::path blob_dir;  // data_dir/blobs, or <shared>/blobs (from --config)
};

struct RestoreOptions {
  std::filesystem::path from;        // a backup FILE; its manifest is <from>.blobs
  std::filesystem::path data_dir;    // where state.db goes
  std::filesystem::path blob_dir;    // default data_dir/blobs
  std::filesystem::path blobs_from;  // optional: a blob dir to copy missing blobs from
  bool force = false;                // replace an existing state.db
};

// Parse the flags after "backup" / "restore". Errors are invalid_argument (exit 2).
Result<BackupOptions> parse_backup_args(const std::vector<std::string>& args);
Result<RestoreOptions> parse_restore_args(const std::vector<std::string>& args);
std::string backup_usage();
std::string restore_usage();

// Both return what to print on success. Errors: invalid_argument for bad
// input (exit 2), io / not_found / conflict for failures (exit 1).
Result<std::string> run_backup(const BackupOptions& options);
Result<std::string> run_restore(const RestoreOptions& options);

// The blob refs a state database holds (every digest column), unique and sorted:
// 64-hex digests go to `blobs` (bytes 0), "shared:" refs to `shared_refs`; empty
// values are skipped and anything else is an error naming the table and column.
Result<BlobManifest> referenced_blobs(const std::filesystem::path& db);

// The manifest file's text: "# ..." comment lines, then "<digest> <bytes>" lines.
std::string format_manifest(const BlobManifest& manifest);
// Parses it back; errors name the line.
Result<BlobManifest> parse_manifest(const std::string& text);

// True when another connection holds `db` open (a running master): SQLite's
// exclusive lock cannot be taken. False when nobody does or the file is absent.
Result<bool> database_in_use(const std::filesystem::path& db);

}  // namespace drover::master
