#include "master/api/bundle_intake.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/jobspec/glob.hpp"

namespace drover::master {

namespace {

using Inputs = std::vector<std::pair<std::string, std::string>>;

Result<nlohmann::json> read_manifest(const std::string& bundle, const ArchiveListing& listing) {
  if (!std::binary_search(listing.files.begin(), listing.files.end(), kInputsManifest)) {
    return nlohmann::json::object();
  }
  auto text = read_archive_member(bundle, kInputsManifest);
  if (!text.ok()) return text.error();
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
  for (auto& f : all) out.emplace_back("file", std::move(f));
  return out;
}

Result<Inputs> expand_inputs(const StageSpec& stage, std::size_t s, const ArchiveListing& listing,
                             const nlohmann::json& manifest) {
  Inputs out;
  switch (stage.inputs.kind) {
    case StageInputs::Kind::none:
      out.emplace_back("none", "");
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

Result<NewJob> resolve_bundle(const std::string& bundle, const SubmitOverrides& overrides,
                              const ArchiveLimits& limits) {
  auto listing = list_archive(bundle, limits);
  if (!listing.ok()) return listing.error();
  if (!std::binary_search(listing->files.begin(), listing->files.end(), "job.yaml")) {
    return make_error(ErrorCode::invalid_spec, "the bundle has no job.yaml at its root", "job.yaml");
  }
  auto text = read_archive_member(bundle, "job.yaml");
  if (!text.ok()) return text.error();
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
  for (std::size_t s = 0; s < spec->stages.size(); ++s) {
    auto inputs = expand_inputs(spec->stages[s], s, *listing, *manifest);
    if (!inputs.ok()) return inputs.error();
    job.stage_inputs.push_back(std::move(*inputs));
  }
  job.spec = std::move(*spec);
  return job;
}

}  // namespace drover::master
