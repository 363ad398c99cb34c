// parse_job_spec: job.yaml (SPEC §2) -> JobSpec. yaml-cpp exceptions stop here.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>
#include <cmath>
#include <ranges>
#include <span>

#include "common/jobspec/job_spec.hpp"

namespace drover {

namespace {

using Fields = std::map<std::string, YAML::Node>;
using Keys = std::span<const std::string_view>;

constexpr std::array<std::string_view, 13> kJobKeys = {
    "name",      "priority", "max_attempts",        "retry_backoff",    "timeout",
    "checkpoint_interval",   "env",                 "resources",        "stages",
    "no_retry_exit_codes",   "max_failed_tasks",    "max_running",      "speculation"};
constexpr std::array<std::string_view, 15> kStageKeys = {
    "name",      "command",      "after",         "inputs",  "env",
    "resources", "max_attempts", "retry_backoff", "timeout", "checkpoint_interval",
    "no_retry_exit_codes", "partitions", "cache", "speculation", "max_running"};
constexpr std::array<std::string_view, 4> kInputKeys = {"files", "range", "items", "group_bytes"};
constexpr std::int64_t kMaxPartitions = 100'000;
constexpr std::array<std::string_view, 2> kResourceKeys = {"cpus", "memory"};
constexpr std::int64_t kMaxRange = 1'000'000;

Error spec_error(std::string field, std::string message) {
  return make_error(ErrorCode::invalid_spec, std::move(message), std::move(field));
}

std::string key_path(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}

std::string index_path(std::string_view parent, std::size_t i) {
  return fmt::format("{}[{}]", parent, i);
}

bool contains(Keys keys, std::string_view k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// A YAML map's entries by key, refusing unknown and duplicate keys.
Result<Fields> read_map(const YAML::Node& node, const std::string& path, Keys known) {
  if (!node.IsMap()) return spec_error(path, "must be a map");
  Fields out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) return spec_error(path, "keys must be strings");
    const std::string key = it->first.Scalar();
    std::string field = key_path(path, key);
    if (!contains(known, key)) return spec_error(field, "unknown key");
    if (!out.emplace(key, it->second).second) return spec_error(field, "duplicate key");
  }
  return out;
}

Result<std::string> read_scalar(const YAML::Node& node, const std::string& field,
                                std::string_view what) {
  if (!node.IsScalar()) return spec_error(field, fmt::format("must be {}", what));
  return node.Scalar();
}

Result<std::int64_t> read_int(const YAML::Node& node, const std::string& field, std::int64_t min,
                              std::int64_t max) {
  auto text = read_scalar(node, field, "an integer");
  if (!text.ok()) return text.error();
  const std::string& s = *text;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return spec_error(field, fmt::format("must be an integer, got \"{}\"", s));
  }
  if (v < min) return spec_error(field, fmt::format("must be at least {}, got {}", min, v));
  if (v > max) return spec_error(field, fmt::format("must be at most {}, got {}", max, v));
  return v;
}

Result<double> read_positive_number(const YAML::Node& node, const std::string& field) {
  auto text = read_scalar(node, field, "a number");
  if (!text.ok()) return text.error();
  const std::string& s = *text;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v)) {
    return spec_error(field, fmt::format("must be a number, got \"{}\"", s));
  }
  if (v <= 0) return spec_error(field, fmt::format("must be a positive number, got {}", s));
  return v;
}

Result<bool> read_bool(const YAML::Node& node, const std::string& field) {
  auto text = read_scalar(node, field, "true or false");
  if (!text.ok()) return text.error();
  if (*text == "true") return true;
  if (*text == "false") return false;
  return spec_error(field, fmt::format("must be true or false, got \"{}\"", *text));
}

Result<Duration> read_duration(const YAML::Node& node, const std::string& field) {
  auto text = read_scalar(node, field, "a duration such as 10s");
  if (!text.ok()) return text.error();
  auto d = parse_duration(*text);
  if (!d.ok()) return spec_error(field, d.error().message);
  return *d;
}

Result<std::uint64_t> read_size(const YAML::Node& node, const std::string& field) {
  auto text = read_scalar(node, field, "a size such as 512Mi");
  if (!text.ok()) return text.error();
  auto n = parse_size(*text);
  if (!n.ok()) return spec_error(field, n.error().message);
  return *n;
}

// A list of scalars; `non_empty` refuses an empty list, `no_empty_strings`
// refuses "" elements.
Result<std::vector<std::string>> read_list(const YAML::Node& node, const std::string& field,
                                           bool non_empty, bool no_empty_strings) {
  std::string_view what = non_empty ? "a non-empty list" : "a list";
  if (!node.IsSequence()) return spec_error(field, fmt::format("must be {}", what));
  if (non_empty && node.size() == 0) return spec_error(field, fmt::format("must be {}", what));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) {
    std::string elem = index_path(field, i);
    auto s = read_scalar(node[i], elem, "a string");
    if (!s.ok()) return s.error();
    if (no_empty_strings && s->empty()) return spec_error(elem, "must not be empty");
    out.push_back(std::move(*s));
  }
  return out;
}

// Merges the env map at `node` into `env` (keys in the map win).
Status merge_env(const YAML::Node& node, const std::string& field,
                 std::map<std::string, std::string>& env) {
  if (!node.IsMap()) return spec_error(field, "must be a map of variable names to strings");
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) return spec_error(field, "variable names must be strings");
    const std::string name = it->first.Scalar();
    std::string entry = key_path(field, name);
    if (name.empty() || name.find('=') != std::string::npos) {
      return spec_error(entry, "invalid variable name");
    }
    auto value = read_scalar(it->second, entry, "a string");
    if (!value.ok()) return value.error();
    env[name] = *value;
  }
  return ok_status();
}

Status merge_resources(const YAML::Node& node, const std::string& field, Resources& res) {
  auto fields = read_map(node, field, kResourceKeys);
  if (!fields.ok()) return fields.error();
  if (auto it = fields->find("cpus"); it != fields->end()) {
    auto cpus = read_positive_number(it->second, key_path(field, "cpus"));
    if (!cpus.ok()) return cpus.error();
    res.cpus = *cpus;
  }
  if (auto it = fields->find("memory"); it != fields->end()) {
    auto memory = read_size(it->second, key_path(field, "memory"));
    if (!memory.ok()) return memory.error();
    res.memory = *memory;
  }
  return ok_status();
}

// The settings a stage inherits from the job and may override.
struct Defaults {
  int max_attempts = 4;
  Duration retry_backoff = std::chrono::seconds(1);
  Duration timeout{0};
  Duration checkpoint_interval = std::chrono::seconds(30);
  std::vector<int> no_retry_exit_codes;
  std::map<std::string, std::string> env;
  Resources resources;
  bool speculation = false;
};

Status apply_exit_codes(const Fields& f, const std::string& path, std::vector<int>& out) {
  auto it = f.find("no_retry_exit_codes");
  if (it == f.end()) return ok_status();
  std::string field = key_path(path, "no_retry_exit_codes");
  if (!it->second.IsSequence()) return spec_error(field, "must be a list of exit codes");
  out.clear();
  for (std::size_t i = 0; i < it->second.size(); ++i) {
    auto code = read_int(it->second[i], index_path(field, i), 1, 255);
    if (!code.ok()) return code.error();
    out.push_back(static_cast<int>(*code));
  }
  return ok_status();
}

Status apply_duration(const Fields& f, const std::string& path, const char* key, Duration& out) {
  auto it = f.find(key);
  if (it == f.end()) return ok_status();
  auto d = read_duration(it->second, key_path(path, key));
  if (!d.ok()) return d.error();
  out = *d;
  return ok_status();
}

// Overrides `d` with the defaults-kind keys present in `f`.
Status apply_defaults(const Fields& f, const std::string& path, Defaults& d) {
  if (auto it = f.find("max_attempts"); it != f.end()) {
    auto n = read_int(it->second, key_path(path, "max_attempts"), 1, INT_MAX);
    if (!n.ok()) return n.error();
    d.max_attempts = static_cast<int>(*n);
  }
  DROVER_TRY(apply_duration(f, path, "retry_backoff", d.retry_backoff));
  DROVER_TRY(apply_duration(f, path, "timeout", d.timeout));
  DROVER_TRY(apply_duration(f, path, "checkpoint_interval", d.checkpoint_interval));
  DROVER_TRY(apply_exit_codes(f, path, d.no_retry_exit_codes));
  if (auto it = f.find("env"); it != f.end()) {
    DROVER_TRY(merge_env(it->second, key_path(path, "env"), d.env));
  }
  if (auto it = f.find("resources"); it != f.end()) {
    DROVER_TRY(merge_resources(it->second, key_path(path, "resources"), d.resources));
  }
  return ok_status();
}

Result<StageInputs> parse_inputs(const YAML::Node& node, const std::string& path) {
  auto fields = read_map(node, path, kInputKeys);
  if (!fields.ok()) return fields.error();
  StageInputs in;
  if (auto it = fields->find("group_bytes"); it != fields->end()) {
    std::string field = key_path(path, "group_bytes");
    if (!fields->count("files")) return spec_error(field, "is only allowed with files");
    auto n = read_size(it->second, field);
    if (!n.ok()) return n.error();
    if (*n == 0) return spec_error(field, "must be a positive size such as 256Mi");
    in.group_bytes = *n;
    fields->erase(it);
  }
  if (fields->empty()) return spec_error(path, "needs one of files, range or items");
  if (fields->size() > 1) {
    // A plain loop, not std::views::keys: clang 14 cannot use libstdc++ 12's ranges.
    std::vector<std::string> keys;
    for (const auto& entry : *fields) keys.push_back(entry.first);
    return spec_error(path, fmt::format("exactly one of files, range or items is allowed, got {}",
                                        fmt::join(keys, ", ")));
  }
  const auto& [key, value] = *fields->begin();
  std::string field = key_path(path, key);
  if (key == "range") {
    auto n = read_int(value, field, 1, kMaxRange);
    if (!n.ok()) return n.error();
    in.kind = StageInputs::Kind::range;
    in.range = *n;
    return in;
  }
  auto list = read_list(value, field, true, key == "files");
  if (!list.ok()) return list.error();
  in.kind = key == "files" ? StageInputs::Kind::files : StageInputs::Kind::items;
  (key == "files" ? in.files : in.items) = std::move(*list);
  return in;
}

Result<std::vector<std::string>> parse_command(const Fields& f, const std::string& path) {
  auto it = f.find("command");
  std::string field = key_path(path, "command");
  if (it == f.end()) return spec_error(field, "is required");
  auto argv = read_list(it->second, field, true, false);
  if (!argv.ok()) return argv.error();
  if (argv->front().empty()) return spec_error(index_path(field, 0), "program must not be empty");
  return argv;
}

Result<std::string> parse_name(const Fields& f, const std::string& path, bool stage) {
  auto it = f.find("name");
  std::string field = key_path(path, "name");
  if (it == f.end()) return spec_error(field, "is required");
  auto name = read_scalar(it->second, field, "a string");
  if (!name.ok()) return name.error();
  bool valid = stage ? is_valid_stage_name(*name) : is_valid_job_name(*name);
  if (!valid) {
    std::string_view pattern = stage ? "[a-z0-9][a-z0-9_-]{0,62}" : "[a-z0-9][a-z0-9._-]{0,62}";
    return spec_error(field, fmt::format("\"{}\" does not match {}", *name, pattern));
  }
  return name;
}

Result<StageSpec> parse_stage(const YAML::Node& node, const std::string& path,
                              const Defaults& job) {
  auto f = read_map(node, path, kStageKeys);
  if (!f.ok()) return f.error();
  StageSpec s;
  auto name = parse_name(*f, path, true);
  if (!name.ok()) return name.error();
  s.name = std::move(*name);
  auto command = parse_command(*f, path);
  if (!command.ok()) return command.error();
  s.command = std::move(*command);
  if (auto it = f->find("after"); it != f->end()) {
    auto after = read_list(it->second, key_path(path, "after"), false, true);
    if (!after.ok()) return after.error();
    s.after = std::move(*after);
  }
  if (auto it = f->find("inputs"); it != f->end()) {
    auto inputs = parse_inputs(it->second, key_path(path, "inputs"));
    if (!inputs.ok()) return inputs.error();
    s.inputs = std::move(*inputs);
  }
  if (auto it = f->find("partitions"); it != f->end()) {
    std::string field = key_path(path, "partitions");
    auto n = read_int(it->second, field, 1, kMaxPartitions);
    if (!n.ok()) return n.error();
    if (s.inputs.kind != StageInputs::Kind::none) {
      return spec_error(field, "inputs and partitions together are an error: pick one");
    }
    if (s.after.empty()) {
      return spec_error(field, "needs after: a stage's partitions split its upstream outputs");
    }
    s.partitions = *n;
  }
  if (auto it = f->find("cache"); it != f->end()) {
    auto b = read_bool(it->second, key_path(path, "cache"));
    if (!b.ok()) return b.error();
    s.cache = *b;
  }
  s.speculation = job.speculation;
  if (auto it = f->find("speculation"); it != f->end()) {
    auto b = read_bool(it->second, key_path(path, "speculation"));
    if (!b.ok()) return b.error();
    s.speculation = *b;
  }
  if (auto it = f->find("max_running"); it != f->end()) {
    auto n = read_int(it->second, key_path(path, "max_running"), 0, INT_MAX);
    if (!n.ok()) return n.error();
    s.max_running = *n;
  }
  Defaults d = job;
  DROVER_TRY(apply_defaults(*f, path, d));
  s.max_attempts = d.max_attempts;
  s.retry_backoff = d.retry_backoff;
  s.timeout = d.timeout;
  s.checkpoint_interval = d.checkpoint_interval;
  s.no_retry_exit_codes = d.no_retry_exit_codes;
  s.env = std::move(d.env);
  s.resources = d.resources;
  return s;
}

std::string stage_path(std::size_t i) { return index_path("stages", i); }

// Unique names; `after` names known stages, not the stage itself, once each.
Status check_dependencies(const JobSpec& spec) {
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    const StageSpec& s = spec.stages[i];
    if (spec.stage_index(s.name) != static_cast<int>(i)) {
      return spec_error(stage_path(i) + ".name", fmt::format("duplicate stage \"{}\"", s.name));
    }
    std::string field = stage_path(i) + ".after";
    for (std::size_t k = 0; k < s.after.size(); ++k) {
      const std::string& dep = s.after[k];
      if (dep == s.name)
        return spec_error(field, fmt::format("stage \"{}\" depends on itself", dep));
      if (spec.stage_index(dep) < 0)
        return spec_error(field, fmt::format("unknown stage \"{}\"", dep));
      if (std::find(s.after.begin(), s.after.begin() + static_cast<std::ptrdiff_t>(k), dep) !=
          s.after.begin() + static_cast<std::ptrdiff_t>(k)) {
        return spec_error(field, fmt::format("stage \"{}\" listed twice", dep));
      }
    }
  }
  return ok_status();
}

// Removes stages whose dependencies are all removed until none is left; the
// stages that remain each wait on another remaining one, so following those
// edges from any of them must come back to a stage: that is the cycle.
Status check_acyclic(const JobSpec& spec) {
  const std::size_t n = spec.stages.size();
  std::vector<bool> ordered(n, false);
  for (int i : topological_order(spec)) {
    bool ready = true;
    for (const std::string& dep : spec.stages[static_cast<std::size_t>(i)].after) {
      if (!ordered[static_cast<std::size_t>(spec.stage_index(dep))]) ready = false;
    }
    ordered[static_cast<std::size_t>(i)] = ready;
  }
  auto left = std::find(ordered.begin(), ordered.end(), false);
  if (left == ordered.end()) return ok_status();
  std::vector<std::size_t> walk{static_cast<std::size_t>(left - ordered.begin())};
  for (;;) {
    const StageSpec& s = spec.stages[walk.back()];
    std::size_t next = 0;
    for (const std::string& dep : s.after) {
      next = static_cast<std::size_t>(spec.stage_index(dep));
      if (!ordered[next]) break;
    }
    auto seen = std::find(walk.begin(), walk.end(), next);
    if (seen != walk.end()) {
      std::vector<std::string> names;
      for (auto it = seen; it != walk.end(); ++it) names.push_back(spec.stages[*it].name);
      names.push_back(spec.stages[next].name);
      return spec_error(stage_path(next) + ".after",
                        fmt::format("dependency cycle: {}", fmt::join(names, " -> ")));
    }
    walk.push_back(next);
  }
}

Status parse_stages(const Fields& f, const Defaults& job, JobSpec& spec) {
  auto it = f.find("stages");
  if (it == f.end()) return spec_error("stages", "is required");
  const YAML::Node& list = it->second;
  if (!list.IsSequence() || list.size() == 0) {
    return spec_error("stages", "must be a non-empty list of stages");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto stage = parse_stage(list[i], stage_path(i), job);
    if (!stage.ok()) return stage.error();
    spec.stages.push_back(std::move(*stage));
  }
  DROVER_TRY(check_dependencies(spec));
  return check_acyclic(spec);
}

Result<JobSpec> parse_document(const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull()) return spec_error("", "job.yaml is empty");
  if (!root.IsMap()) return spec_error("", "job.yaml must be a map of keys to values");
  auto f = read_map(root, "", kJobKeys);
  if (!f.ok()) return f.error();
  JobSpec spec;
  auto name = parse_name(*f, "", false);
  if (!name.ok()) return name.error();
  spec.name = std::move(*name);
  if (auto it = f->find("priority"); it != f->end()) {
    auto p = read_int(it->second, "priority", INT64_MIN, INT64_MAX);
    if (!p.ok()) return p.error();
    spec.priority = *p;
  }
  Defaults job;
  DROVER_TRY(apply_defaults(*f, "", job));
  if (auto it = f->find("max_failed_tasks"); it != f->end()) {
    auto n = read_int(it->second, "max_failed_tasks", 0, INT64_MAX);
    if (!n.ok()) return n.error();
    spec.max_failed_tasks = *n;
  }
  if (auto it = f->find("max_running"); it != f->end()) {
    auto n = read_int(it->second, "max_running", 0, INT_MAX);
    if (!n.ok()) return n.error();
    spec.max_running = *n;
  }
  if (auto it = f->find("speculation"); it != f->end()) {
    auto b = read_bool(it->second, "speculation");
    if (!b.ok()) return b.error();
    spec.speculation = job.speculation = *b;
  }
  spec.max_attempts = job.max_attempts;
  spec.retry_backoff = job.retry_backoff;
  spec.timeout = job.timeout;
  spec.checkpoint_interval = job.checkpoint_interval;
  spec.no_retry_exit_codes = job.no_retry_exit_codes;
  spec.env = job.env;
  spec.resources = job.resources;
  DROVER_TRY(parse_stages(*f, job, spec));
  return spec;
}

}  // namespace

Result<JobSpec> parse_job_spec(std::string_view yaml_text) {
  try {
    return parse_document(YAML::Load(std::string(yaml_text)));
  } catch (const YAML::ParserException& e) {
    return spec_error("", fmt::format("YAML syntax error at line {}, column {}: {}",
                                      e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    return spec_error("", fmt::format("cannot read job.yaml: {}", e.what()));
  } catch (const std::exception& e) {
    return spec_error("", fmt::format("cannot read job.yaml: {}", e.what()));
  }
}

}  // namespace drover
