#include "cli/bundle/bundle_packer.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/archive/archive.hpp"
#include "common/fs/fs.hpp"
#include "common/jobspec/glob.hpp"

namespace drover::cli {

namespace fs = std::filesystem;

namespace {

Error input_error(std::size_t stage, std::size_t file, const Error& cause,
                  const std::string& pattern) {
  std::string message =
      cause.message.empty() ? fmt::format("no file matches \"{}\"", pattern) : cause.message;
  return make_error(ErrorCode::invalid_spec, std::move(message),
                    fmt::format("stages[{}].inputs.files[{}]", stage, file));
}

// {"size": <bytes>, "mtime_ns": <ns since epoch>} of a matched input file.
// stat(2) rather than std::filesystem: its mtime is exact and on the Unix epoch.
Result<nlohmann::json> file_metadata(const std::string& path, std::size_t stage, std::size_t file) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(ErrorCode::invalid_spec,
                      fmt::format("cannot stat \"{}\": {}", path, std::strerror(errno)),
                      fmt::format("stages[{}].inputs.files[{}]", stage, file));
  }
  const std::int64_t mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return nlohmann::json{{"size", static_cast<std::uint64_t>(st.st_size)}, {"mtime_ns", mtime_ns}};
}

Result<PackedBundle> read_bundle_archive(const fs::path& file) {
  auto bytes = read_file(file);
  if (!bytes) return make_error(bytes.error().code, bytes.error().message, file.string());
  PackedBundle packed;
  packed.archive = std::move(*bytes);
  return packed;
}

Result<JobSpec> read_job_spec(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / "job.yaml", ec)) {
    return make_error(ErrorCode::invalid_spec, "not found in bundle " + dir.string(), "job.yaml");
  }
  auto text = read_file(dir / "job.yaml");
  if (!text) return make_error(text.error().code, text.error().message, "job.yaml");
  return parse_job_spec(*text);
}

Result<PackedBundle> pack_bundle_directory(const fs::path& dir) {
  auto spec = read_job_spec(dir);
  if (!spec) return spec.error();
  auto files = list_bundle_files(dir);
  if (!files) return files.error();
  auto manifest = expand_stage_inputs(*spec, *files);
  if (!manifest) return manifest.error();
  std::map<std::string, std::string> extra;
  if (!manifest->is_null()) extra[kInputsManifestPath] = manifest->dump(2);
  auto archive = pack_directory(dir, extra);
  if (!archive) return archive.error();
  PackedBundle packed;
  packed.archive = std::move(*archive);
  packed.spec = std::move(*spec);
  packed.inputs_manifest = std::move(*manifest);
  return packed;
}

}  // namespace

Result<PackedBundle> pack_bundle(const fs::path& bundle) {
  std::error_code ec;
  if (fs::is_directory(bundle, ec)) return pack_bundle_directory(bundle);
  if (fs::is_regular_file(bundle, ec)) return read_bundle_archive(bundle);
  return make_error(ErrorCode::invalid_argument,
                    "not a bundle directory or .tar.gz file: " + bundle.string(), "BUNDLE");
}

Result<std::vector<std::string>> list_bundle_files(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    files.push_back(it->path().lexically_relative(dir).generic_string());
  }
  if (ec)
    return make_error(ErrorCode::io, "cannot list " + dir.string() + ": " + ec.message(), "BUNDLE");
  std::sort(files.begin(), files.end());
  return files;
}

Result<nlohmann::json> expand_stage_inputs(const JobSpec& spec,
                                           const std::vector<std::string>& bundle_files) {
  nlohmann::json stages = nlohmann::json::object();
  nlohmann::json files = nlohmann::json::object();
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    const StageSpec& stage = spec.stages[i];
    if (stage.inputs.kind != StageInputs::Kind::files) continue;
    for (std::size_t j = 0; j < stage.inputs.files.size(); ++j) {
      const std::string& pattern = stage.inputs.files[j];
      const bool absolute = !pattern.empty() && pattern.front() == '/';
      auto matches =
          absolute ? expand_glob_on_disk(pattern) : expand_glob_in_list(pattern, bundle_files);
      if (!matches) return input_error(i, j, matches.error(), pattern);
      if (matches->empty()) return input_error(i, j, Error{}, pattern);
      if (!absolute) continue;
      for (const std::string& path : *matches) {
        if (files.contains(path)) continue;
        auto meta = file_metadata(path, i, j);
        if (!meta) return meta.error();
        files[path] = std::move(*meta);
      }
      stages[stage.name][pattern] = *matches;
    }
  }
  if (stages.empty()) return nlohmann::json();
  return nlohmann::json{{"stages", std::move(stages)}, {"files", std::move(files)}};
}

}  // namespace drover::cli
