#pragma once
// `drover-loadgen floor`: the cheapest HTTP server this machine can run,
// answering every request with a canned heartbeat reply (floor.cpp). Part d's
// baseline: the same heartbeats sent here cost this much cpu whatever a
// server does in user space.
namespace drover::loadgen {

// Listens on 127.0.0.1:port (0: any), prints {"listen":"127.0.0.1:N"} on
// stdout, then serves until killed. Returns 1 when it cannot listen.
int run_floor(int port);

}  // namespace drover::loadgen
