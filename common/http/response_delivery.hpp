#pragma once
// How a route's response reaches the session that waits for it, from any
// thread and even after the Server is gone. Included by server.cpp only.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/http/disconnect.hpp"
#include "common/http/http.hpp"

namespace drover::http::detail {

namespace asio = boost::asio;

// Lets a Respond that outlives the Server (or is called from another thread)
// reach the io_context safely; the Server clears `context` when destroyed.
struct Gate {
  std::mutex mutex;
  asio::io_context* context;
};

// Where one request's response lands. Loop thread only.
struct Slot {
  std::optional<Response> response;
  asio::steady_timer* wake = nullptr;  // the session waiting for `response`

  void fill(Response r) {
    if (response) return;
    response = std::move(r);
    if (wake) wake->cancel();
  }
};

// Shared by every copy of one request's Respond. Delivers the first response
// to the Slot on the loop thread; if the last copy goes away unanswered, a
// 500 is delivered instead, so that the connection never hangs.
class Completion {
 public:
  Completion(std::shared_ptr<Gate> gate, std::shared_ptr<Slot> slot)
      : gate_(std::move(gate)), slot_(std::move(slot)) {}
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;
  ~Completion() {
    if (!done_.exchange(true)) {
      deliver(Response::error(make_error(ErrorCode::internal, "the request was dropped unanswered")));
    }
  }

  void complete(Response response) {
    if (!done_.exchange(true)) deliver(std::move(response));
  }

 private:
  void deliver(Response response) {
    std::lock_guard lock(gate_->mutex);
    if (gate_->context == nullptr) return;  // the server is gone
    if (gate_->context->get_executor().running_in_this_thread()) {
      slot_->fill(std::move(response));
      return;
    }
    asio::post(*gate_->context, [slot = slot_, r = std::move(response)]() mutable {
      slot->fill(std::move(r));
    });
  }

  std::shared_ptr<Gate> gate_;
  std::shared_ptr<Slot> slot_;
  std::atomic<bool> done_{false};
};

// Posts a function on the loop (a disconnect callback), unless the server is gone.
DisconnectSignal::Post poster(std::shared_ptr<Gate> gate) {
  return [gate = std::move(gate)](std::function<void()> fn) {
    std::lock_guard lock(gate->mutex);
    if (gate->context == nullptr) return;
    asio::post(*gate->context, [fn = std::move(fn)] {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("http: disconnect callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("http: disconnect callback threw an unknown exception");
      }
    });
  };
}

}  // namespace drover::http::detail
