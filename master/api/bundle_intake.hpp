#pragma once
// Turns an uploaded bundle (tar.gz bytes) into a NewJob: reads and validates
// job.yaml, applies submit-time overrides, and expands each stage's inputs into
// tasks. Pure: no state is touched; nothing is stored when it fails.
#include <optional>
#include <string>

#include "common/archive/archive.hpp"
#include "common/base/result.hpp"
#include "master/model/model.hpp"

namespace drover::master {

struct SubmitOverrides {
  std::optional<std::string> name;
  std::optional<std::int64_t> priority;
};

// `.drover/inputs.json` in the bundle carries the CLI's expansion of absolute
// globs: {"stages": {"<stage>": {"<pattern>": ["/abs/path", ...]}}}.
inline constexpr const char* kInputsManifest = ".drover/inputs.json";

Result<NewJob> resolve_bundle(const std::string& bundle, const SubmitOverrides& overrides,
                              const ArchiveLimits& limits);

}  // namespace drover::master
