#pragma once
// Uploading blobs (outputs, logs, checkpoints) to the master with retries.
// Free functions; called on attempt threads and checkpoint threads.
#include <string>

#include "common/base/result.hpp"
#include "worker/agent/master_api.hpp"
#include "worker/agent/stop_signal.hpp"

namespace drover::worker {

// Transport failures and 5xx are worth retrying; other statuses are answers.
bool is_retryable(const Error& e);

// 404 or 409 from the master: the attempt is fenced or unknown; final.
bool is_final_rejection(const Error& e);

// PUTs `content` under its sha256 and returns the digest. While the master is
// unreachable it retries with backoff until `stop` is requested; other
// retryable failures (5xx) get up to 4 tries.
[[nodiscard]] Result<std::string> upload_blob_retrying(MasterApi& master, const StopSignal& stop,
                                                       std::string content);

}  // namespace drover::worker
