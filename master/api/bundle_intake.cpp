#include "master/api/bundle_intake.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/jobspec/glob.hpp"

namespace drover::master {

namespace {

using Inputs = std::vector<std::pair<std::string, std::string>>;

// SPEC §8: a bundle whose body was accepted but that unpacks past the size or
// entry-count limit (or holds an oversized job.yaml) is an invalid bundle
// (400); 413 is for bodies over max_bundle_size, which never get this far.
Error invalid_bundle(Error e, const std::string& field) {
  if (e.code == ErrorCode::too_large) e.code = ErrorCode::invalid_spec;
  if (e.field.empty()) e.field = field;
  return e;
}

Result<nlohmann::json> read_manifest(const std::string& bundle, const ArchiveListing& listing) {
  if (!std::binary_search(listing.files.begin(), listing.files.end(), kInputsManifest)) {
    return nlohmann::json::object();
  }
  auto text = read_archive_member(bundle, kInputsManifest);
  if (!text.ok()) return invalid_bundle(text.error(), kInputsManifest);
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object()) {
    return make_error(ErrorCode::invalid_spec, "not a JSON object", kInputsManifest);
  }
  return j;
}

Result<std::vector<std::string>> manifest_files(const nlohmann::json& manifest,
                                                const std::string& stage,
                                                const std::string& pattern,
                                                const std::string& field) {
  auto missing = make_error(ErrorCode::invalid_spec,
                            fmt::format("absolute pattern \"{}\" was not expanded by the client "
                                        "(submit with `drover submit`)", pattern), field);
  auto stages = manifest.find("stages");
  if (stages == manifest.end() || !stages->is_object()) return missing;
  auto st = stages->find(stage);
  if (st == stages->end() || !st->is_object()) return missing;
  auto files = st->find(pattern);
  if (files == st->end() || !files->is_array() || files->empty()) return missing;
  std::vector<std::string> out;
  for (const auto& f : *files) {
    if (!f.is_string() || f.get<std::string>().empty() || f.get<std::string>()[0] != '/') {
      return make_error(ErrorCode::invalid_spec, "manifest entries must be absolute paths", field);
    }
    out.push_back(f.get<std::string>());
  }
  return out;
}

// Sizes and modification times of absolute input files, as the CLI saw them
// at submit: {"files": {"/path": {"size": N, "mtime_ns": T}}}.
struct FileMeta {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

std::map<std::string, FileMeta> manifest_file_meta(const nlohmann::json& manifest) {
  std::map<std::string, FileMeta> out;
  auto files = manifest.find("files");
  if (files == manifest.end() || !files->is_object()) return out;
  for (const auto& [path, meta] : files->items()) {
    if (!meta.is_object()) continue;
    FileMeta m;
    if (auto it = meta.find("size"); it != meta.end() && it->is_number_unsigned()) {
      m.size = it->get<std::uint64_t>();
    }
    if (auto it = meta.find("mtime_ns"); it != meta.end() && it->is_number_integer()) {
      m.mtime_ns = it->get<std::int64_t>();
    }
    out[path] = m;
  }
  return out;
}

Result<Inputs> expand_files(const StageSpec& stage, std::size_t s, const ArchiveListing& listing,
                            const nlohmann::json& manifest) {
  std::vector<std::string> bundle_files;
  for (const std::string& f : listing.files) {
    if (f.rfind(".drover/", 0) != 0) bundle_files.push_back(f);
  }
  std::vector<std::string> all;
  for (std::size_t i = 0; i < stage.inputs.files.size(); ++i) {
    const std::string& pattern = stage.inputs.files[i];
    std::string field = fmt::format("stages[{}].inputs.files[{}]", s, i);
    auto files = pattern[0] == '/' ? manifest_files(manifest, stage.name, pattern, field)
                                   : expand_glob_in_list(pattern, bundle_files);
    if (!files.ok()) {
      Error e = files.error();
      e.code = ErrorCode::invalid_spec;
      if (e.field.empty()) e.field = field;
      return e;
    }
    all.insert(all.end(), files->begin(), files->end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  Inputs out;
  if (stage.inputs.group_bytes == 0) {
    for (auto& f : all) out.emplace_back("file", std::move(f));
    return out;
  }
  const auto meta = manifest_file_meta(manifest);
  auto size_of = [&](const std::string& f) -> std::uint64_t {
    if (auto it = listing.sizes.find(f); it != listing.sizes.end()) return it->second;
    if (auto it = meta.find(f); it != meta.end()) return it->second.size;
    return 0;
  };
  for (const auto& group : group_by_bytes(all, size_of, stage.inputs.group_bytes)) {
    std::string joined;
    for (const std::string& f : group) {
      if (!joined.empty()) joined += '\n';
      joined += f;
    }
    out.emplace_back("files", std::move(joined));
  }
  return out;
}

Result<Inputs> expand_inputs(const StageSpec& stage, std::size_t s, const ArchiveListing& listing,
                             const nlohmann::json& manifest) {
  Inputs out;
  switch (stage.inputs.kind) {
    case StageInputs::Kind::none:
      if (stage.partitions > 0) {
        for (std::int64_t r = 0; r < stage.partitions; ++r) out.emplace_back("partition", std::to_string(r));
      } else {
        out.emplace_back("none", "");
      }
      break;
    case StageInputs::Kind::range:
      for (std::int64_t i = 0; i < stage.inputs.range; ++i) out.emplace_back("index", std::to_string(i));
      break;
    case StageInputs::Kind::items:
      for (const auto& item : stage.inputs.items) out.emplace_back("item", item);
      break;
    case StageInputs::Kind::files:
      return expand_files(stage, s, listing, manifest);
  }
  return out;
}

}  // namespace

std::vector<std::vector<std::string>> group_by_bytes(
    const std::vector<std::string>& files, const std::function<std::uint64_t(const std::string&)>& size_of,
    std::uint64_t group_bytes) {
  std::vector<std::vector<std::string>> groups;
  std::uint64_t in_group = 0;
  for (const std::string& f : files) {
    const std::uint64_t size = size_of(f);
    // Close the group when this file would overflow it, unless it is empty (a
    // file larger than group_bytes gets a task of its own).
    if (groups.empty() || (!groups.back().empty() && in_group + size > group_bytes)) {
      groups.emplace_back();
      in_group = 0;
    }
    groups.back().push_back(f);
    in_group += size;
  }
  return groups;
}

Result<NewJob> resolve_bundle(const std::string& bundle, const SubmitOverrides& overrides,
                              const ArchiveLimits& limits) {
  auto listing = list_archive(bundle, limits);
  if (!listing.ok()) return invalid_bundle(listing.error(), "");
  if (!std::binary_search(listing->files.begin(), listing->files.end(), "job.yaml")) {
    return make_error(ErrorCode::invalid_spec, "the bundle has no job.yaml at its root", "job.yaml");
  }
  auto text = read_archive_member(bundle, "job.yaml");
  if (!text.ok()) return invalid_bundle(text.error(), "job.yaml");
  auto spec = parse_job_spec(*text);
  if (!spec.ok()) return spec.error();
  if (overrides.name) {
    if (!is_valid_job_name(*overrides.name)) {
      return make_error(ErrorCode::invalid_spec,
                        fmt::format("\"{}\" does not match [a-z0-9][a-z0-9._-]{{0,62}}", *overrides.name),
                        "name");
    }
    spec->name = *overrides.name;
  }
  if (overrides.priority) spec->priority = *overrides.priority;
  auto manifest = read_manifest(bundle, *listing);
  if (!manifest.ok()) return manifest.error();
  NewJob job;
  for (const auto& [path, meta] : manifest_file_meta(*manifest)) {
    job.file_meta[path] = fmt::format("{}:{}", meta.size, meta.mtime_ns);
  }
  for (std::size_t s = 0; s < spec->stages.size(); ++s) {
    auto inputs = expand_inputs(spec->stages[s], s, *listing, *manifest);
    if (!inputs.ok()) return inputs.error();
    job.stage_inputs.push_back(std::move(*inputs));
  }
  job.spec = std::move(*spec);
  return job;
}

}  // namespace drover::master
