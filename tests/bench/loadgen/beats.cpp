#include "tests/bench/loadgen/beats.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <latch>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/http/http.hpp"

namespace drover::loadgen {

namespace {

using Clock = std::chrono::steady_clock;

// Replies wait at most this long to be read (wait_replies); at 1 Hz a thread
// driving 5,000 workers wakes every 0.2 ms anyway, to send the next heartbeat.
constexpr auto kHarvestEvery = std::chrono::microseconds(500);

struct Peer {
  sockaddr_in addr{};
  std::string host_header;
};

Result<Peer> peer_of(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    return make_error(ErrorCode::invalid_argument, "heartbeats need a plain http:// master URL: " + url);
  }
  std::string rest = url.substr(scheme.size());
  rest = rest.substr(0, rest.find('/'));
  const auto colon = rest.rfind(':');
  Peer p;
  p.host_header = rest;
  p.addr.sin_family = AF_INET;
  const std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  const int port = colon == std::string::npos ? 80 : std::atoi(rest.c_str() + colon + 1);
  p.addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &p.addr.sin_addr) != 1) {
    return make_error(ErrorCode::invalid_argument, "heartbeats need an IPv4 address in the URL: " + url);
  }
  return p;
}

struct Beat {
  int fd = -1;
  std::string request;  // the whole heartbeat, rendered once
  std::string in;       // reply bytes read so far
  Clock::time_point sent_at;
  bool waiting = false;  // a heartbeat is unanswered
  bool closed = false;
};

// A complete reply at the front of `in`: its length, or 0 while incomplete.
// `ok` says whether it was a 200 whose body does not ask to re-register.
std::size_t take_reply(const std::string& in, bool& ok) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::size_t length = 0;
  std::string_view head(in.data(), end);
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
    std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - (at + 2));
    constexpr std::string_view name = "content-length:";
    if (line.size() > name.size() &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
      length = static_cast<std::size_t>(std::strtoull(std::string(line.substr(name.size())).c_str(), nullptr, 10));
    }
  }
  const std::size_t total = end + 4 + length;
  if (in.size() < total) return 0;
  ok = head.starts_with("HTTP/1.1 200");
  if (ok) {
    auto body = nlohmann::json::parse(in.begin() + static_cast<std::ptrdiff_t>(end + 4),
                                      in.begin() + static_cast<std::ptrdiff_t>(total), nullptr, false);
    ok = body.is_object() && !body.value("reregister", true);
  }
  return total;
}

class BeatThread {
 public:
  BeatThread(const BeatPlan& plan, const Peer& peer, std::vector<std::size_t> workers)
      : plan_(plan), workers_(std::move(workers)), beats_(workers_.size()) {
    for (std::size_t k = 0; k < workers_.size(); ++k) {
      const std::string body = R"({"log_token":"","running":[]})";
      beats_[k].request = fmt::format(
          "POST /internal/v1/workers/{}/heartbeat HTTP/1.1\r\nHost: {}\r\n{}Content-Type: "
          "application/json\r\nContent-Length: {}\r\n\r\n{}",
          http::url_encode(plan.ids[workers_[k]]), peer.host_header,
          plan.token.empty() ? std::string{} : "Authorization: Bearer " + plan.token + "\r\n", body.size(), body);
    }
  }
  ~BeatThread() {
    for (auto& b : beats_) {
      if (b.fd >= 0) ::close(b.fd);
    }
    if (epoll_ >= 0) ::close(epoll_);
  }

  Status connect_all(const Peer& peer) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return make_error(ErrorCode::io, std::string("epoll_create1: ") + std::strerror(errno));
    for (std::size_t k = 0; k < beats_.size(); ++k) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return make_error(ErrorCode::io, std::string("socket: ") + std::strerror(errno));
      beats_[k].fd = fd;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&peer.addr), sizeof peer.addr) != 0) {
        return make_error(ErrorCode::unavailable, std::string("connect: ") + std::strerror(errno));
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = k;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return make_error(ErrorCode::io, std::string("epoll_ctl: ") + std::strerror(errno));
      }
    }
    return Ok{};
  }

  // Worker w beats at start + r * period + period * w / N, for every round r.
  void run(Clock::time_point start) {
    const auto period = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / plan_.rate_hz));
    const auto rounds = static_cast<std::int64_t>(plan_.seconds * plan_.rate_hz);
    const auto n = static_cast<std::int64_t>(plan_.ids.size());
    for (std::int64_t r = 0; r < rounds; ++r) {
      for (std::size_t k = 0; k < beats_.size(); ++k) {
        const auto due = start + r * period + period * static_cast<std::int64_t>(workers_[k]) / n;
        while (Clock::now() < due) wait_replies(due);
        send(beats_[k], due);
      }
    }
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    while (outstanding() > 0 && Clock::now() < give_up) wait_replies(give_up);
    result.errors += outstanding();
    last_reply = Clock::now();
  }

  BeatResult result;
  Clock::time_point last_reply;

 private:
  void send(Beat& b, Clock::time_point due) {
    const auto now = Clock::now();
    result.lag.add(std::chrono::duration<double, std::milli>(now - due).count());
    if (b.closed) {
      ++result.errors;
      return;
    }
    if (b.waiting) {
      ++result.skipped;
      return;
    }
    const ssize_t n = ::send(b.fd, b.request.data(), b.request.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(b.request.size())) {  // a fresh request always fits the socket buffer
      close(b);
      ++result.errors;
      return;
    }
    b.sent_at = now;
    b.waiting = true;
    ++result.sent;
  }

  // Sleeps on the clock, never on the sockets, then reads every reply that
  // arrived. On loopback the sender of a packet runs its receiver's wake-up:
  // a thread asleep in epoll_wait would make the master pay, with each reply,
  // for waking this process (an inter-processor interrupt, on a VM an exit),
  // a cost that a remote worker's own machine bears. Asleep on a timer, this
  // thread is woken by nobody, and a reply waits here at most kHarvestEvery.
  // With wake_on_reply it waits in epoll_wait until `until` instead.
  void wait_replies(Clock::time_point until) {
    timespec timeout{0, 0};
    if (plan_.wake_on_reply) {
      const auto left = std::max(until - Clock::now(), Clock::duration::zero());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timeout = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    } else {
      std::this_thread::sleep_until(std::min(until, Clock::now() + kHarvestEvery));
    }
    epoll_event events[256];
    int n = 0;
    do {
      n = ::epoll_pwait2(epoll_, events, 256, &timeout, nullptr);
      for (int i = 0; i < n; ++i) read_reply(beats_[events[i].data.u64]);
      timeout = {0, 0};
    } while (n == 256);
  }

  void read_reply(Beat& b) {
    char buf[4096];
    const ssize_t n = ::recv(b.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      if (b.waiting) ++result.errors;
      close(b);
      return;
    }
    b.in.append(buf, static_cast<std::size_t>(n));
    bool ok = false;
    const std::size_t used = take_reply(b.in, ok);
    if (used == 0) return;
    b.in.erase(0, used);
    if (!b.waiting) return;  // a reply nobody asked for: ignored
    b.waiting = false;
    result.latency.add(std::chrono::duration<double, std::milli>(Clock::now() - b.sent_at).count());
    if (!ok) ++result.errors;
  }

  void close(Beat& b) {
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, b.fd, nullptr);
    ::close(b.fd);
    b.fd = -1;
    b.closed = true;
    b.waiting = false;
  }

  std::uint64_t outstanding() const {
    return static_cast<std::uint64_t>(std::count_if(beats_.begin(), beats_.end(), [](const Beat& b) { return b.waiting; }));
  }

  const BeatPlan& plan_;
  std::vector<std::size_t> workers_;  // indexes into plan_.ids, ascending
  std::vector<Beat> beats_;
  int epoll_ = -1;
};

}  // namespace

Result<BeatResult> run_beats(const BeatPlan& plan) {
  auto peer = peer_of(plan.master);
  if (!peer.ok()) return peer.error();
  raise_open_file_limit();
  const auto threads = static_cast<std::size_t>(std::clamp<std::size_t>(plan.threads, 1, plan.ids.size()));
  const auto opening = Clock::now();
  std::vector<std::unique_ptr<BeatThread>> parts;
  for (std::size_t t = 0; t < threads; ++t) {
    std::vector<std::size_t> mine;
    for (std::size_t w = t; w < plan.ids.size(); w += threads) mine.push_back(w);
    parts.push_back(std::make_unique<BeatThread>(plan, *peer, std::move(mine)));
    if (auto s = parts.back()->connect_all(*peer); !s.ok()) return s.error();
  }
  // Opening 10,000 connections takes the master a while (an accept and a
  // session each): whoever measures the heartbeats alone waits for this line.
  std::fprintf(stderr, "drover-loadgen: %zu connections open in %.2f s; heartbeats start\n", plan.ids.size(),
               std::chrono::duration<double>(Clock::now() - opening).count());
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  std::vector<std::thread> running;
  for (auto& p : parts) running.emplace_back([&p, start] { p->run(start); });
  for (auto& t : running) t.join();
  BeatResult out;
  Clock::time_point last = start;
  for (auto& p : parts) {
    out.sent += p->result.sent;
    out.errors += p->result.errors;
    out.skipped += p->result.skipped;
    out.latency.merge(p->result.latency);
    out.lag.merge(p->result.lag);
    last = std::max(last, p->last_reply);
  }
  out.seconds = std::chrono::duration<double>(last - start).count();
  return out;
}

}  // namespace drover::loadgen
