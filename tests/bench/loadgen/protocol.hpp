#pragma once
// The worker protocol as drover-loadgen speaks it: the same requests and
// bodies as worker/agent/http_master_api.cpp, on one caller-owned keep-alive
// http::Client (one per thread), plus latency samples per request kind.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/http/client.hpp"
#include "common/proto/assignment.hpp"
#include "common/proto/worker.hpp"

namespace drover::loadgen {

// Latencies in milliseconds; percentiles by sorting at the end.
struct Samples {
  std::vector<float> ms;
  void add(double v) { ms.push_back(static_cast<float>(v)); }
  void merge(const Samples& o) { ms.insert(ms.end(), o.ms.begin(), o.ms.end()); }
  double percentile(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    auto i = static_cast<std::size_t>(p / 100 * static_cast<double>(ms.size() - 1) + 0.5);
    return ms[std::min(i, ms.size() - 1)];
  }
  double max() { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// Request counters and latencies of one thread; summed at the end.
struct Tally {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  Samples poll, reports, upload, heartbeat, other;
  void merge(const Tally& o);
};

// The bytes a real worker uploads for a task that wrote no output: the
// deterministic tar.gz of an empty directory, and its sha256.
struct EmptyOutput {
  std::string bytes;
  std::string digest;
};
Result<EmptyOutput> make_empty_output();

class Connection {
 public:
  Connection(std::string url, std::string token);

  // Each call counts one request (and one error on failure) in `tally` and
  // records its latency under its kind. Transport errors reopen the client.
  Result<RegistrationReply> register_worker(const WorkerRegistration& r, Tally& tally);
  Result<HeartbeatReply> heartbeat(const std::string& id, const Heartbeat& hb, Tally& tally,
                                   double* latency_ms = nullptr);
  Result<WorkReply> poll_work(const std::string& id, std::int64_t wait_ms, Tally& tally);
  // Started and finished reports of several attempts in one request, as the
  // worker's ReportBatcher sends them.
  Result<ReportBatchReply> reports(const ReportBatch& batch, Tally& tally);
  Status upload(const EmptyOutput& blob, Tally& tally);
  Status get(const std::string& target, Tally& tally);

 private:
  Result<http::Response> send(std::string_view method, const std::string& target,
                              std::string body, const char* type, Samples& samples,
                              Tally& tally, double* latency_ms = nullptr);
  Result<nlohmann::json> call_json(std::string_view method, const std::string& target,
                                   const nlohmann::json* body, Samples& samples, Tally& tally,
                                   double* latency_ms = nullptr);
  std::string url_;
  std::string token_;
  std::unique_ptr<http::Client> client_;
};

std::int64_t now_ms();  // wall clock, ms since epoch (as the worker stamps reports)

// Raises the soft open-file limit to the hard one: one descriptor per
// simulated worker's connection (heartbeats) or per client (floor).
void raise_open_file_limit();

}  // namespace drover::loadgen
