// libFuzzer target: job.yaml text -> parse_job_spec (YAML parsing and every
// validation rule), then, for a spec that parsed, the invariants its header
// promises, the JSON round trip the master stores, the topological order, the
// stages' input globs against a small listing and placeholder expansion.
// Any input may be rejected; none may crash, hang or break an invariant.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/jobspec/glob.hpp"
#include "common/jobspec/job_spec.hpp"
#include "common/jobspec/placeholders.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_jobspec: invariant broken: %s\n", what);
  std::abort();
}

void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

// What parse_job_spec promises about a spec it accepts (job_spec.hpp).
void check_invariants(const drover::JobSpec& spec) {
  check(drover::is_valid_job_name(spec.name), "job name is valid");
  check(spec.max_attempts >= 1, "max_attempts >= 1");
  check(!spec.stages.empty(), "stages non-empty");
  std::set<std::string> names;
  for (const drover::StageSpec& s : spec.stages) {
    check(drover::is_valid_stage_name(s.name), "stage name is valid");
    check(names.insert(s.name).second, "stage names are unique");
    check(!s.command.empty(), "command non-empty");
    check(s.resources.cpus > 0, "cpus > 0");
    if (s.inputs.kind == drover::StageInputs::Kind::range) check(s.inputs.range >= 1, "range >= 1");
    if (s.inputs.kind == drover::StageInputs::Kind::items) {
      check(!s.inputs.items.empty(), "items non-empty");
    }
    for (const std::string& a : s.after) check(spec.stage_index(a) >= 0, "after names a stage");
  }
}

// Every stage once, each after the stages it waits for.
void check_order(const drover::JobSpec& spec) {
  std::vector<int> order = drover::topological_order(spec);
  check(order.size() == spec.stages.size(), "topological order covers every stage");
  std::vector<int> position(spec.stages.size(), -1);
  for (std::size_t i = 0; i < order.size(); ++i) {
    check(order[i] >= 0 && static_cast<std::size_t>(order[i]) < spec.stages.size(), "order index in range");
    check(position[order[i]] < 0, "order names each stage once");
    position[order[i]] = static_cast<int>(i);
  }
  for (std::size_t i = 0; i < spec.stages.size(); ++i) {
    for (const std::string& a : spec.stages[i].after) {
      check(position[spec.stage_index(a)] < position[i], "a stage comes after its `after` stages");
    }
  }
}

// The master stores the JSON form and reads it back: it must be lossless.
void check_json_round_trip(const drover::JobSpec& spec) {
  nlohmann::json first = spec;
  drover::JobSpec back = first.get<drover::JobSpec>();
  nlohmann::json second = back;
  check(first == second, "JSON round trip is lossless");
}

void exercise_globs_and_placeholders(const drover::JobSpec& spec) {
  static const std::vector<std::string> kListing = {
      "job.yaml", "data/a.txt", "data/b.txt", "data/sub/c.txt", "x/y/z/w.bin", ".hidden", "a b/c d"};
  const std::map<std::string, std::string> values = {
      {"input", "data/a.txt"}, {"index", "3"}, {"job", spec.name}, {"stage", "s"},
      {"attempt", "1"},        {"output", "/out"}, {"partition", "0"}};
  for (const drover::StageSpec& s : spec.stages) {
    for (const std::string& pattern : s.inputs.files) {
      auto matched = drover::expand_glob_in_list(pattern, kListing);
      if (matched.ok()) {
        for (const std::string& m : *matched) check(drover::glob_match(pattern, m), "expanded path matches");
      }
    }
    std::vector<std::string> argv = drover::expand_placeholders(s.command, values, s.inputs.items);
    (void)argv;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::JobSpec> spec = drover::parse_job_spec(text);
  if (!spec.ok()) {
    check(!spec.error().message.empty(), "a rejection says why");
    return 0;
  }
  check_invariants(*spec);
  check_order(*spec);
  check_json_round_trip(*spec);
  exercise_globs_and_placeholders(*spec);
  return 0;
}
