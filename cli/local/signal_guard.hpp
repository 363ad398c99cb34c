#pragma once
// SignalGuard: while alive, the given signals (SIGINT, SIGTERM) do not kill
// this process; they stay pending and pending() reports them, so `drover
// local` can stop its children and clean up instead of dying. Children
// started with spawn_process get an empty signal mask, so they are not
// affected. Used from the thread that created it.
#include <signal.h>

#include <initializer_list>

namespace drover::cli {

class SignalGuard {
 public:
  explicit SignalGuard(std::initializer_list<int> signals);
  ~SignalGuard();  // consumes pending ones, then restores the previous mask
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // True once one of the signals has arrived (it is consumed; the answer stays true).
  bool pending();

 private:
  sigset_t set_{};
  sigset_t previous_{};
  bool seen_ = false;
};

}  // namespace drover::cli
