#pragma once
#include "master/api/routes.hpp"

namespace drover::master {

// A WorkerFetch that runs each request on a short-lived thread with a blocking
// client, so the event loop never waits on a worker.
WorkerFetch make_thread_worker_fetch(Duration timeout);

}  // namespace drover::master
