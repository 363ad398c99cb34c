#pragma once
// Turns an uploaded bundle (tar.gz bytes) into a NewJob: reads and validates
// job.yaml, applies submit-time overrides, and expands each stage's inputs into
// tasks. Pure: no state is touched; nothing is stored when it fails.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/archive/archive.hpp"
#include "common/base/result.hpp"
#include "master/model/model.hpp"

namespace drover::master {

struct SubmitOverrides {
  std::optional<std::string> name;
  std::optional<std::int64_t> priority;
};

// `.drover/inputs.json` in the bundle carries the CLI's expansion of absolute
// globs: {"stages": {"<stage>": {"<pattern>": ["/abs/path", ...]}}}, and their
// sizes and modification times: {"files": {"/abs/path": {"size": N, "mtime_ns": T}}}
// (group_bytes packing and cache keys).
inline constexpr const char* kInputsManifest = ".drover/inputs.json";

// group_bytes: consecutive files (in the given order) packed into groups of
// about `group_bytes`; a group closes before the file that would overflow it,
// so only a single file larger than the limit makes a group exceed it.
std::vector<std::vector<std::string>> group_by_bytes(
    const std::vector<std::string>& files,
    const std::function<std::uint64_t(const std::string&)>& size_of, std::uint64_t group_bytes);

Result<NewJob> resolve_bundle(const std::string& bundle, const SubmitOverrides& overrides,
                              const ArchiveLimits& limits);

}  // namespace drover::master
