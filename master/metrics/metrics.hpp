#pragma once
// The master's Prometheus metrics (GET /metrics, text format 0.0.4). Gauges are
// read from the Model when scraped; counters and histograms are recorded by the
// coordinator (on its strand) and by the router's observer (any thread).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/base/clock.hpp"
#include "master/model/model.hpp"

namespace drover::master {

// Cumulative buckets with the given upper bounds (seconds), plus +Inf.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  void render(std::string& out, std::string_view name, std::string_view help) const;
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> buckets_;  // per bound, not cumulative; +Inf is count_
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class MasterMetrics {
 public:
  // Coordinator strand only:
  Histogram attempt_seconds{{0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600}};
  Histogram scheduling_seconds{{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300}};
  Histogram commit_seconds{{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}};
  std::uint64_t heartbeats = 0;

  // Any thread:
  void count_request(const std::string& route, const std::string& method, int status);

  // Counted outside the coordinator (by the HTTP server and the event loop).
  struct ServerCounters {
    std::uint64_t bytes_received = 0;
    std::uint64_t loop_pauses = 0;
  };

  // The whole exposition. `model` and the fields above are read on the strand.
  std::string render(const Model& model, const ServerCounters& server) const;

 private:
  mutable std::mutex mu_;
  // Route, method, status; looked up by views, so that count_request copies
  // a key only the first time it sees it.
  using RequestKey = std::tuple<std::string_view, std::string_view, int>;
  struct ByView {
    using is_transparent = void;
    template <class S>
    static RequestKey view(const std::tuple<S, S, int>& k) {
      return {std::get<0>(k), std::get<1>(k), std::get<2>(k)};
    }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return view(a) < view(b);
    }
  };
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t, ByView> requests_;
};

// A label value escaped for the text format (backslash, double quote, newline).
std::string escape_label(std::string_view value);

}  // namespace drover::master
