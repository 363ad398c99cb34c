#pragma once
// Builders shared by the Model's unit tests.
#include <catch2/catch.hpp>

#include "master/model/model.hpp"
#include "master/scheduler/scheduler.hpp"

namespace drover::master::testing {

// A NewJob with one task per range index (or one task) per stage.
inline NewJob new_job(JobSpec spec) {
  NewJob nj;
  for (const StageSpec& s : spec.stages) {
    std::vector<std::pair<std::string, std::string>> inputs;
    std::int64_t n = s.inputs.kind == StageInputs::Kind::range ? s.inputs.range : 1;
    for (std::int64_t i = 0; i < n; ++i) inputs.emplace_back("index", std::to_string(i));
    nj.stage_inputs.push_back(inputs);
  }
  nj.spec = std::move(spec);
  nj.bundle_digest = std::string(64, 'a');
  return nj;
}

inline NewJob job_of(const std::string& yaml) {
  auto spec = parse_job_spec(yaml);
  INFO(yaml);
  REQUIRE(spec.ok());
  return new_job(std::move(*spec));
}

inline WorkerRegistration reg(const std::string& id, double cpus = 2) {
  WorkerRegistration r;
  r.id = id;
  r.address = "127.0.0.1:1";
  r.cpus = cpus;
  return r;
}

inline AttemptReport report(AttemptState state, int exit_code = 0) {
  AttemptReport r;
  r.state = state;
  r.exit_code = exit_code;
  if (state == AttemptState::succeeded) r.output_digest = std::string(64, 'b');
  if (state == AttemptState::failed) {
    r.reason = FailureReason::exit_code;
    r.message = "exit code " + std::to_string(exit_code);
  }
  return r;
}

// Assigns everything the scheduler proposes now; returns the attempts.
inline std::vector<AttemptId> schedule(Model& m, TimePoint now) {
  std::vector<AttemptId> out;
  for (const auto& [key, w] : plan(build_view(m, now, 1000), now).assignments) {
    out.push_back(m.assign(key, w, now).id);
  }
  return out;
}

}  // namespace drover::master::testing
