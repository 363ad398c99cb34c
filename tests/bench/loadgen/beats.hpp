#pragma once
// Heartbeats of many simulated workers, as they reach a master in a real
// cluster: every worker on a keep-alive connection of its own, beating at its
// own moment of the period. A few threads drive all the connections with
// epoll (no thread, no sleep per heartbeat), so that the load generator costs
// the shared machine far less than the master it measures. They sleep on the
// clock, not on the sockets: a reply wakes nobody, as it would not on a real
// network, where the worker's machine pays for its own wake-up (beats.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "tests/bench/loadgen/protocol.hpp"

namespace drover::loadgen {

struct BeatPlan {
  std::string master;            // http://host:port (plain HTTP)
  std::string token;             // the workers' bearer token, if the master has auth
  std::vector<std::string> ids;  // worker i beats at i/N of each period
  double rate_hz = 1;            // heartbeats per worker per second
  double seconds = 20;
  int threads = 2;
  // Wait for replies in epoll_wait instead of on the clock: each reply then
  // wakes a thread, and on loopback the master pays for that wake-up (the
  // method before 2026-11-29, kept for comparison).
  bool wake_on_reply = false;
};

struct BeatResult {
  std::uint64_t sent = 0;
  std::uint64_t errors = 0;   // not 200, a reply that says re-register, a closed connection
  std::uint64_t skipped = 0;  // due while the worker's previous heartbeat was unanswered
  double seconds = 0;         // from the first due moment to the last reply
  Samples latency;            // request sent -> reply read (read within 0.5 ms of arriving)
  Samples lag;                // how late each heartbeat left against its schedule
};

// Opens one connection per worker, then runs the schedule. Fails only when
// the connections cannot be opened.
Result<BeatResult> run_beats(const BeatPlan& plan);

}  // namespace drover::loadgen
