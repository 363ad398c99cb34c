// JobSpec helpers and its JSON mapping. The YAML parser is in job_spec_yaml.cpp.
#include "common/jobspec/job_spec.hpp"

#include <nlohmann/json.hpp>

namespace drover {

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9][a-z0-9<extra>]{0,62}
bool is_valid_name(std::string_view name, std::string_view extra) {
  if (name.empty() || name.size() > 63 || !is_lower_alnum(name[0])) return false;
  for (char c : name.substr(1)) {
    if (!is_lower_alnum(c) && extra.find(c) == std::string_view::npos) return false;
  }
  return true;
}

Duration duration_from_json(const nlohmann::json& j, const char* key, Duration fallback) {
  if (!j.contains(key)) return fallback;
  const nlohmann::json& v = j.at(key);
  if (v.is_number_integer()) return Duration{v.get<std::int64_t>()};
  auto parsed = parse_duration(v.get<std::string>());
  if (!parsed.ok()) {
    throw nlohmann::json::type_error::create(302, parsed.error().message, &j);
  }
  return *parsed;
}

nlohmann::json inputs_to_json(const StageInputs& in) {
  nlohmann::json j = nlohmann::json::object();
  switch (in.kind) {
    case StageInputs::Kind::none:
      break;
    case StageInputs::Kind::files:
      j["files"] = in.files;
      if (in.group_bytes != 0) j["group_bytes"] = in.group_bytes;
      break;
    case StageInputs::Kind::range:
      j["range"] = in.range;
      break;
    case StageInputs::Kind::items:
      j["items"] = in.items;
      break;
  }
  return j;
}

StageInputs inputs_from_json(const nlohmann::json& j) {
  StageInputs in;
  if (j.is_null()) return in;
  if (j.contains("files")) {
    in.kind = StageInputs::Kind::files;
    in.files = j.at("files").get<std::vector<std::string>>();
    in.group_bytes = j.value("group_bytes", std::uint64_t{0});
  } else if (j.contains("range")) {
    in.kind = StageInputs::Kind::range;
    in.range = j.at("range").get<std::int64_t>();
  } else if (j.contains("items")) {
    in.kind = StageInputs::Kind::items;
    in.items = j.at("items").get<std::vector<std::string>>();
  }
  return in;
}

nlohmann::json resources_to_json(const Resources& r) {
  return nlohmann::json{{"cpus", r.cpus}, {"memory", r.memory}};
}

Resources resources_from_json(const nlohmann::json& j) {
  Resources r;
  r.cpus = j.value("cpus", r.cpus);
  r.memory = j.value("memory", r.memory);
  return r;
}

nlohmann::json stage_to_json(const StageSpec& s) {
  return nlohmann::json{
      {"name", s.name},
      {"command", s.command},
      {"after", s.after},
      {"inputs", inputs_to_json(s.inputs)},
      {"resources", resources_to_json(s.resources)},
      {"env", s.env},
      {"max_attempts", s.max_attempts},
      {"retry_backoff", format_duration(s.retry_backoff)},
      {"timeout", format_duration(s.timeout)},
      {"checkpoint_interval", format_duration(s.checkpoint_interval)},
      {"no_retry_exit_codes", s.no_retry_exit_codes},
      {"partitions", s.partitions},
      {"cache", s.cache},
      {"speculation", s.speculation},
      {"max_running", s.max_running},
  };
}

StageSpec stage_from_json(const nlohmann::json& j) {
  StageSpec s;
  s.name = j.at("name").get<std::string>();
  s.command = j.at("command").get<std::vector<std::string>>();
  s.after = j.value("after", std::vector<std::string>{});
  s.inputs = inputs_from_json(j.value("inputs", nlohmann::json()));
  s.resources = resources_from_json(j.value("resources", nlohmann::json::object()));
  s.env = j.value("env", std::map<std::string, std::string>{});
  s.max_attempts = j.value("max_attempts", s.max_attempts);
  s.retry_backoff = duration_from_json(j, "retry_backoff", s.retry_backoff);
  s.timeout = duration_from_json(j, "timeout", s.timeout);
  s.checkpoint_interval = duration_from_json(j, "checkpoint_interval", s.checkpoint_interval);
  s.no_retry_exit_codes = j.value("no_retry_exit_codes", std::vector<int>{});
  s.partitions = j.value("partitions", s.partitions);
  s.cache = j.value("cache", s.cache);
  s.speculation = j.value("speculation", s.speculation);
  s.max_running = j.value("max_running", s.max_running);
  return s;
}

}  // namespace

bool is_valid_job_name(std::string_view name) { return is_valid_name(name, "._-"); }
bool is_valid_stage_name(std::string_view name) { return is_valid_name(name, "_-"); }

int JobSpec::stage_index(std::string_view stage_name) const {
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].name == stage_name) return static_cast<int>(i);
  }
  return -1;
}

// Kahn's algorithm, always taking the earliest ready stage in file order so
// the result is deterministic. Stages on or behind a cycle (impossible for a
// parsed spec) are appended in file order.
std::vector<int> topological_order(const JobSpec& spec) {
  const std::size_t n = spec.stages.size();
  std::vector<bool> done(n, false);
  std::vector<int> order;
  order.reserve(n);
  bool progressed = true;
  while (order.size() < n && progressed) {
    progressed = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (done[i]) continue;
      bool ready = true;
      for (const std::string& dep : spec.stages[i].after) {
        int d = spec.stage_index(dep);
        if (d >= 0 && !done[static_cast<std::size_t>(d)]) ready = false;
      }
      if (!ready) continue;
      done[i] = true;
      order.push_back(static_cast<int>(i));
      progressed = true;
      break;
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!done[i]) order.push_back(static_cast<int>(i));
  }
  return order;
}

void to_json(nlohmann::json& j, const JobSpec& spec) {
  nlohmann::json stages = nlohmann::json::array();
  for (const StageSpec& s : spec.stages) stages.push_back(stage_to_json(s));
  j = nlohmann::json{
      {"name", spec.name},
      {"priority", spec.priority},
      {"max_attempts", spec.max_attempts},
      {"retry_backoff", format_duration(spec.retry_backoff)},
      {"timeout", format_duration(spec.timeout)},
      {"checkpoint_interval", format_duration(spec.checkpoint_interval)},
      {"no_retry_exit_codes", spec.no_retry_exit_codes},
      {"env", spec.env},
      {"resources", resources_to_json(spec.resources)},
      {"max_failed_tasks", spec.max_failed_tasks},
      {"max_running", spec.max_running},
      {"speculation", spec.speculation},
      {"stages", std::move(stages)},
  };
}

// Throws nlohmann::json exceptions on a malformed document, like every
// from_json; callers catch them at their JSON adapter.
void from_json(const nlohmann::json& j, JobSpec& spec) {
  spec = JobSpec{};
  spec.name = j.at("name").get<std::string>();
  spec.priority = j.value("priority", spec.priority);
  spec.max_attempts = j.value("max_attempts", spec.max_attempts);
  spec.retry_backoff = duration_from_json(j, "retry_backoff", spec.retry_backoff);
  spec.timeout = duration_from_json(j, "timeout", spec.timeout);
  spec.checkpoint_interval = duration_from_json(j, "checkpoint_interval", spec.checkpoint_interval);
  spec.no_retry_exit_codes = j.value("no_retry_exit_codes", std::vector<int>{});
  spec.env = j.value("env", std::map<std::string, std::string>{});
  spec.resources = resources_from_json(j.value("resources", nlohmann::json::object()));
  spec.max_failed_tasks = j.value("max_failed_tasks", spec.max_failed_tasks);
  spec.max_running = j.value("max_running", spec.max_running);
  spec.speculation = j.value("speculation", spec.speculation);
  for (const nlohmann::json& s : j.at("stages")) spec.stages.push_back(stage_from_json(s));
}

}  // namespace drover
