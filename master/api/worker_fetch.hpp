#pragma once
#include "master/api/routes.hpp"

namespace drover::master {

// A WorkerFetch that runs each request on a short-lived thread with a blocking
// client, so the event loop never waits on a worker. It presents the token the
// worker at that address gave (`log_tokens`, which outlives it; none without auth).
WorkerFetch make_thread_worker_fetch(Duration timeout, const WorkerLogTokens* log_tokens = nullptr);

}  // namespace drover::master
