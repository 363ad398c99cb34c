#include "master/api/worker_fetch.hpp"

#include <thread>

#include "common/http/client.hpp"

namespace drover::master {

WorkerFetch make_thread_worker_fetch(Duration timeout) {
  return [timeout](const std::string& address, const std::string& token, const std::string& target,
                   std::function<void(Result<http::Response>)> done) {
    if (address.empty()) {
      done(make_error(ErrorCode::unavailable, "worker address unknown"));
      return;
    }
    std::thread([address, target, timeout, token, done = std::move(done)] {
      http::ClientOptions opts;
      opts.timeout = timeout;
      opts.bearer_token = token;
      http::Client client("http://" + address, opts);
      done(client.get(target));
    }).detach();
  };
}

}  // namespace drover::master
