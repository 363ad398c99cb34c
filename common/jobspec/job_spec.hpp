#pragma once
// The job.yaml of SPEC §2 as a validated value. Parsing never throws: every
// problem comes back as an Error whose `field` is the path of the offending
// key ("stages[1].after") and whose code is invalid_spec.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/base/result.hpp"
#include "common/base/units.hpp"

namespace drover {

struct Resources {
  double cpus = 1;           // > 0
  std::uint64_t memory = 0;  // bytes; 0 = unchecked
};

struct StageInputs {
  enum class Kind { none, files, range, items };
  Kind kind = Kind::none;
  std::vector<std::string> files;  // globs as written (kind == files)
  std::int64_t range = 0;          // task count (kind == range), >= 1
  std::vector<std::string> items;  // (kind == items), non-empty
  std::uint64_t group_bytes = 0;   // files only: pack consecutive files into tasks of ~this size
};

// A stage with every job-level default already applied: the values here are
// the effective ones for its tasks.
struct StageSpec {
  std::string name;
  std::vector<std::string> command;  // argv, non-empty
  std::vector<std::string> after;    // names of earlier-or-later stages; the graph is acyclic
  StageInputs inputs;
  Resources resources;
  std::map<std::string, std::string> env;  // job env merged with the stage's own
  int max_attempts = 4;
  Duration retry_backoff = std::chrono::seconds(1);
  Duration timeout{0};  // 0 = none
  Duration checkpoint_interval = std::chrono::seconds(30);
  std::vector<int> no_retry_exit_codes;  // these exit codes fail the task at once
  std::int64_t partitions = 0;   // > 0: N tasks, task r reads partition r of every upstream output
  bool cache = false;            // reuse a committed output with the same cache key
  bool speculation = false;      // second attempt for stragglers near the stage's end
  std::int64_t max_running = 0;  // cap on this stage's running tasks; 0 = none
};

struct JobSpec {
  std::string name;
  std::int64_t priority = 0;
  int max_attempts = 4;  // >= 1
  Duration retry_backoff = std::chrono::seconds(1);
  Duration timeout{0};
  Duration checkpoint_interval = std::chrono::seconds(30);
  std::vector<int> no_retry_exit_codes;
  std::map<std::string, std::string> env;
  Resources resources;
  std::int64_t max_failed_tasks = 0;  // tasks that may fail for good; the job then ends partial
  std::int64_t max_running = 0;       // cap on this job's running tasks; 0 = none
  bool speculation = false;           // default for stages
  std::vector<StageSpec> stages;  // in file order; non-empty

  // Index of the stage named `name`, or -1.
  int stage_index(std::string_view name) const;
};

// Parses and validates job.yaml text.
Result<JobSpec> parse_job_spec(std::string_view yaml_text);

// Stage indices in an order where every stage comes after its `after` stages.
std::vector<int> topological_order(const JobSpec& spec);

// Lossless JSON mapping (what the master stores and the API shows).
void to_json(nlohmann::json& j, const JobSpec& spec);
void from_json(const nlohmann::json& j, JobSpec& spec);

bool is_valid_job_name(std::string_view name);    // [a-z0-9][a-z0-9._-]{0,62}
bool is_valid_stage_name(std::string_view name);  // [a-z0-9][a-z0-9_-]{0,62}

}  // namespace drover
