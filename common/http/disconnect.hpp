#pragma once
// Internal to common/http: the state behind Request::on_disconnect, shared by
// the Server's session and every copy of one request.
#include <functional>
#include <mutex>
#include <utility>

namespace drover::http {

class DisconnectSignal {
 public:
  // Runs a function on the server's loop thread (or drops it when the server
  // is gone). Safe from any thread.
  using Post = std::function<void(std::function<void()>)>;

  explicit DisconnectSignal(Post post) : post_(std::move(post)) {}
  DisconnectSignal(const DisconnectSignal&) = delete;
  DisconnectSignal& operator=(const DisconnectSignal&) = delete;

  // Handler side, any thread. Replaces an earlier callback. When the peer is
  // already known to be gone, `fn` is posted at once; once the response is
  // ready it is dropped.
  void set(std::function<void()> fn) {
    std::unique_lock lock(mutex_);
    if (phase_ == Phase::finished) return;
    if (phase_ == Phase::disconnected) {
      lock.unlock();
      post_(std::move(fn));
      return;
    }
    callback_ = std::move(fn);
  }

  // Server side: the peer closed (or the connection failed) before the
  // response was ready. Posts the callback, at most once.
  void fire() {
    std::function<void()> fn;
    {
      std::lock_guard lock(mutex_);
      if (phase_ != Phase::pending) return;
      phase_ = Phase::disconnected;
      fn = std::exchange(callback_, nullptr);
    }
    if (fn) post_(std::move(fn));
  }

  // Server side: the response is ready; the callback will never run.
  void finish() {
    std::function<void()> fn;  // destroyed outside the lock
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::pending) phase_ = Phase::finished;
    fn = std::exchange(callback_, nullptr);
  }

 private:
  enum class Phase { pending, disconnected, finished };
  std::mutex mutex_;
  Phase phase_ = Phase::pending;
  std::function<void()> callback_;
  Post post_;
};

}  // namespace drover::http
