#include "master/metrics/metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace drover::master {

namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// A number as the text format wants it (no exponent surprises for integers).
std::string number(double v) { return fmt::format("{}", v); }

template <typename Map>
void by_label(std::string& out, std::string_view name, std::string_view type, std::string_view help,
              std::string_view label, const Map& values) {
  header(out, name, type, help);
  for (const auto& [key, v] : values) {
    out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, escape_label(key), v);
  }
}

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size(), 0) {}

void Histogram::observe(double value) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  if (it != bounds_.end()) ++buckets_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view help) const {
  header(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(sum_), name, count_);
}

void MasterMetrics::count_request(const std::string& route, const std::string& method, int status) {
  std::lock_guard lock(mu_);
  const RequestKey key{route.empty() ? std::string_view("unmatched") : std::string_view(route), method,
                       status};
  auto it = requests_.find(key);
  if (it == requests_.end()) {
    it = requests_.emplace(std::tuple<std::string, std::string, int>(key), 0).first;
  }
  ++it->second;
}

std::string MasterMetrics::render(const Model& model, const ServerCounters& server) const {
  std::string out;
  std::map<std::string, std::int64_t> workers, jobs, tasks;
  for (WorkerState s : {WorkerState::alive, WorkerState::draining, WorkerState::excluded,
                        WorkerState::dead}) {
    workers[std::string(to_string(s))] = 0;
  }
  double cpus = 0, cpus_used = 0;
  for (const auto& [id, w] : model.workers()) {
    ++workers[std::string(to_string(w.state))];
    if (w.state == WorkerState::dead) continue;
    cpus += w.cpus;
    cpus_used += slots_used(w);
  }
  for (const auto& [id, job] : model.jobs()) {
    ++jobs[std::string(to_string(job.state))];
    if (is_terminal(job.state)) continue;
    for (const Stage& s : job.stages) {
      for (const auto& [state, n] : s.counts) tasks[std::string(to_string(state))] += n;
    }
  }
  by_label(out, "drover_workers", "gauge", "Workers known to the master, by state.", "state", workers);
  header(out, "drover_cpus", "gauge", "Cpus (task slots) of the workers that are not dead.");
  out += fmt::format("drover_cpus {}\n", number(cpus));
  header(out, "drover_cpus_used", "gauge", "Cpus taken by assigned and running attempts.");
  out += fmt::format("drover_cpus_used {}\n", number(cpus_used));
  by_label(out, "drover_jobs", "gauge", "Jobs in the master's state, by state.", "state", jobs);
  by_label(out, "drover_tasks", "gauge", "Tasks of unfinished jobs, by state.", "state", tasks);
  header(out, "drover_heartbeats_total", "counter", "Worker heartbeats received.");
  out += fmt::format("drover_heartbeats_total {}\n", heartbeats);
  header(out, "drover_http_request_bytes_total", "counter",
         "HTTP request bytes (headers and bodies) the master has read.");
  out += fmt::format("drover_http_request_bytes_total {}\n", server.bytes_received);
  header(out, "drover_event_loop_pauses_total", "counter",
         "Pauses of the master's event loop under load, each letting work gather for 2 ms.");
  out += fmt::format("drover_event_loop_pauses_total {}\n", server.loop_pauses);
  header(out, "drover_http_requests_total", "counter", "HTTP requests answered, by route, method and status.");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      const auto& [route, method, status] = key;
      out += fmt::format("drover_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}\n",
                         escape_label(route), escape_label(method), status, n);
    }
  }
  attempt_seconds.render(out, "drover_attempt_duration_seconds",
                         "Run time of attempts that ended (start to end on the worker).");
  scheduling_seconds.render(out, "drover_scheduling_latency_seconds",
                            "From a task becoming runnable to its assignment.");
  commit_seconds.render(out, "drover_store_commit_seconds",
                        "From handing a batch of changes to the store to its commit.");
  return out;
}

}  // namespace drover::master
