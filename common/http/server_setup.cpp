#include "common/http/server_setup.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>

#include <boost/asio/ip/tcp.hpp>
#include <spdlog/spdlog.h>

namespace drover::http {

namespace {
constexpr rlim_t kSpareDescriptors = 256;  // files, the store, clients
}  // namespace

// Go does the same at start-up: the soft limit is often 1024, too few for a
// server, while the hard limit is far higher.
std::size_t raise_descriptor_limit(std::size_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return max_connections;
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kSpareDescriptors;
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return max_connections;
  const rlim_t old = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  if (limit.rlim_cur > old && ::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::info("http: raised the open-file limit from {} to {}", old, limit.rlim_cur);
  } else {
    limit.rlim_cur = old;
  }
  if (limit.rlim_cur >= wanted) return max_connections;
  const rlim_t reserve = limit.rlim_cur > 2 * kSpareDescriptors ? kSpareDescriptors : limit.rlim_cur / 2;
  const auto fit = static_cast<std::size_t>(limit.rlim_cur - reserve);
  spdlog::warn("http: the open-file limit {} leaves room for {} connections, not {} (raise LimitNOFILE)",
               limit.rlim_cur, fit, max_connections);
  return fit;
}

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Result<boost::asio::ip::tcp::endpoint> parse_listen(boost::asio::io_context& context, const std::string& listen) {
  auto bad = [&](std::string why) {
    return make_error(ErrorCode::invalid_argument, "bad listen address '" + listen + "': " + why);
  };
  std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return bad("expected host:port");
  std::string host = listen.substr(0, colon);
  std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  unsigned port = 0;
  auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (err != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    return bad("bad port");
  }
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(address, static_cast<unsigned short>(port));
  tcp::resolver resolver(context);
  auto results = resolver.resolve(host, port_text, ec);
  if (ec || results.empty()) return bad("cannot resolve host: " + ec.message());
  return results.begin()->endpoint();
}

}  // namespace drover::http
