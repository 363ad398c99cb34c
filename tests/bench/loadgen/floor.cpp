// The floor of part d: what answering heartbeats costs the cheapest HTTP
// server this machine can run. One thread, one epoll set, every request
// answered with the same canned heartbeat reply, no parsing beyond finding
// where each request ends. Whatever the master spends above this is HTTP,
// JSON and bookkeeping; what this spends is the kernel's share (loopback TCP,
// wake-ups), which no server avoids.
#include "tests/bench/loadgen/floor.hpp"
#include "tests/bench/loadgen/protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

namespace drover::loadgen {

namespace {

constexpr std::string_view kReply =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n"
    R"({"kill":[],"reregister":false})";

// Length of the complete request at the front of `in`, or 0 while incomplete.
std::size_t request_length(const std::string& in) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  std::size_t body = 0;
  const auto at = in.find("Content-Length:");
  if (at != std::string::npos && at < end) body = std::strtoull(in.c_str() + at + 15, nullptr, 10);
  return in.size() >= end + 4 + body ? end + 4 + body : 0;
}

int fail(const char* what) {
  std::fprintf(stderr, "drover-loadgen floor: %s: %s\n", what, std::strerror(errno));
  return 1;
}

}  // namespace

int run_floor(int port) {
  raise_open_file_limit();
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) return fail("socket");
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  if (::listen(listener, 4096) != 0) return fail("listen");
  if (::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return fail("getsockname");
  std::printf("{\"listen\":\"127.0.0.1:%d\"}\n", ntohs(addr.sin_port));
  std::fflush(stdout);

  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return fail("epoll_create1");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::unordered_map<int, std::string> pending;  // request bytes read so far, per connection
  epoll_event events[256];
  char buf[16384];
  for (;;) {  // until killed: the benchmark stops it by PID
    const int n = ::epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno != EINTR) return fail("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (int c; (c = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got < 0 && errno == EAGAIN) continue;
      if (got <= 0) {
        pending.erase(fd);
        ::close(fd);
        continue;
      }
      std::string& in = pending[fd];
      in.append(buf, static_cast<std::size_t>(got));
      for (std::size_t used; (used = request_length(in)) > 0;) {
        in.erase(0, used);
        (void)::send(fd, kReply.data(), kReply.size(), MSG_NOSIGNAL);  // small: fits the socket buffer
      }
    }
  }
}

}  // namespace drover::loadgen
