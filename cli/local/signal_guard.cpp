#include "cli/local/signal_guard.hpp"

#include <pthread.h>

#include <ctime>

namespace drover::cli {

SignalGuard::SignalGuard(std::initializer_list<int> signals) {
  sigemptyset(&set_);
  for (int sig : signals) sigaddset(&set_, sig);
  pthread_sigmask(SIG_BLOCK, &set_, &previous_);
}

SignalGuard::~SignalGuard() {
  pending();
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

bool SignalGuard::pending() {
  const timespec no_wait{0, 0};
  while (sigtimedwait(&set_, nullptr, &no_wait) > 0) seen_ = true;
  return seen_;
}

}  // namespace drover::cli
