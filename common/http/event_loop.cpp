// EventLoop: an asio::io_context run by one thread. Timers and signal sets are
// owned here so that domain code never sees Asio.
#include "common/http/event_loop.hpp"

#include <atomic>
#include <map>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/base/clock.hpp"
#include "common/http/loop_pacer.hpp"

namespace drover::http {

namespace asio = boost::asio;

struct EventLoop::Impl {
  // Declared first so that it is destroyed last: timers and signal sets
  // below must go before their io_context.
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
  std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers;  // loop thread only
  TimerId next_timer = 1;
  std::vector<std::unique_ptr<asio::signal_set>> signal_sets;
  std::atomic<std::uint64_t> pauses{0};

  void wait_signal(asio::signal_set& set, std::shared_ptr<std::function<void(int)>> fn) {
    set.async_wait([this, &set, fn](const boost::system::error_code& ec, int signal) {
      if (ec) return;  // cancelled: the loop is going away
      (*fn)(signal);
      wait_signal(set, fn);
    });
  }
};

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() = default;

void EventLoop::post(std::function<void()> fn) { asio::post(impl_->context, std::move(fn)); }

EventLoop::TimerId EventLoop::call_after(Duration delay, std::function<void()> fn) {
  TimerId id = impl_->next_timer++;
  auto timer = std::make_unique<asio::steady_timer>(impl_->context, delay);
  timer->async_wait([impl = impl_.get(), id, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (ec) return;  // cancel() already removed the timer
    impl->timers.erase(id);
    fn();
  });
  impl_->timers.emplace(id, std::move(timer));
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return;
  it->second->cancel();
  impl_->timers.erase(it);
}

void EventLoop::on_signals(std::vector<int> signals, std::function<void(int)> fn) {
  auto set = std::make_unique<asio::signal_set>(impl_->context);
  for (int signal : signals) {
    boost::system::error_code ec;
    set->add(signal, ec);
    if (ec) spdlog::warn("event loop: cannot handle signal {}: {}", signal, ec.message());
  }
  impl_->wait_signal(*set, std::make_shared<std::function<void(int)>>(std::move(fn)));
  impl_->signal_sets.push_back(std::move(set));
}

void EventLoop::run() {
  // Lightly loaded, one handler at a time, as io_context::run() would. Under
  // load (LoopPacer), all that is ready (poll() ends with a non-blocking
  // epoll_wait), then a pause; whatever arrived meanwhile is ready after it,
  // so the next run_one() does not sleep.
  asio::io_context& context = impl_->context;
  const SystemClock clock;
  LoopPacer pacer;
  for (std::size_t ran; (ran = context.run_one()) > 0;) {
    if (pacer.busy()) ran += context.poll();
    if (const auto pause = pacer.after_batch(clock.steady_now(), ran); pause.count() > 0) {
      impl_->pauses.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(pause);
    }
  }
}

void EventLoop::stop() { impl_->context.stop(); }

std::uint64_t EventLoop::pauses() const { return impl_->pauses.load(std::memory_order_relaxed); }

void* EventLoop::native() { return &impl_->context; }

}  // namespace drover::http
