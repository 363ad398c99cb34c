#pragma once
// Composes the master: store, blob store, coordinator, routes and the HTTP
// server on one event loop. run() blocks until SIGTERM/SIGINT, then shuts down
// in order (stop accepting, let in-flight requests finish, flush, return).
#include <memory>

#include "common/base/result.hpp"
#include "master/config.hpp"

namespace drover::master {

class MasterServer {
 public:
  explicit MasterServer(MasterConfig config);
  ~MasterServer();
  // Returns 0 after a clean shutdown; an Error when it cannot start.
  Result<int> run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace drover::master
