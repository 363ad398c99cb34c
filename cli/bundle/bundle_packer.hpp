#pragma once
// Turns what the user named on `drover submit` into the bytes to upload.
//
// A `.tar.gz` file is sent as is. A directory is checked first, so mistakes
// fail fast with exit code 2 and a field name: job.yaml must parse, every
// relative `inputs.files` glob must match files inside the bundle, every
// absolute glob must match files on this machine. Absolute globs are expanded
// here (SPEC §2) and travel in `.drover/inputs.json`, with the size and
// modification time of every matched file (the master packs `group_bytes`
// tasks by size and keys `cache: true` tasks by path, size and mtime):
//   {"stages": {"<stage>": {"<pattern>": ["/abs/a", ...]}},
//    "files":  {"/abs/a": {"size": <bytes>, "mtime_ns": <ns since the Unix epoch>}}}
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/jobspec/job_spec.hpp"

namespace drover::cli {

inline constexpr const char* kInputsManifestPath = ".drover/inputs.json";

struct PackedBundle {
  std::string archive;             // gzip'd tar to upload
  std::optional<JobSpec> spec;     // parsed job.yaml (directory bundles only)
  nlohmann::json inputs_manifest;  // null when no absolute glob was expanded
};

// Packs a bundle directory or reads a bundle archive.
[[nodiscard]] Result<PackedBundle> pack_bundle(const std::filesystem::path& bundle);

// Relative paths ('/'-separated, sorted) of the regular files under `dir`.
[[nodiscard]] Result<std::vector<std::string>> list_bundle_files(const std::filesystem::path& dir);

// Checks relative globs against `bundle_files` and expands absolute ones on
// disk. Returns the inputs manifest (null when there are no absolute globs);
// a glob without match, or a matched file that cannot be stat'ed, is
// invalid_spec naming `stages[i].inputs.files[j]`.
[[nodiscard]] Result<nlohmann::json> expand_stage_inputs(
    const JobSpec& spec, const std::vector<std::string>& bundle_files);

}  // namespace drover::cli
