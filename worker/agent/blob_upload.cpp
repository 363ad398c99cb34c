#include "worker/agent/blob_upload.hpp"

#include "common/fs/fs.hpp"

namespace drover::worker {

bool is_retryable(const Error& e) {
  return e.code == ErrorCode::unavailable || e.code == ErrorCode::internal ||
         e.code == ErrorCode::io;
}

bool is_final_rejection(const Error& e) {
  return e.code == ErrorCode::conflict || e.code == ErrorCode::not_found;
}

Result<std::string> upload_blob_retrying(MasterApi& master, const StopSignal& stop,
                                         std::string content) {
  std::string digest = sha256_hex(content);
  Backoff backoff;
  for (int tries = 1;; ++tries) {
    Status uploaded = master.upload_blob(digest, content);
    if (uploaded.ok()) return digest;
    // An unreachable master (restarting) is waited for as long as the worker runs;
    // a master that answers with an error gets a few more tries.
    bool unreachable = uploaded.error().code == ErrorCode::unavailable;
    if (!is_retryable(uploaded.error()) || (!unreachable && tries >= 4) || stop.stopping()) {
      return uploaded.error();
    }
    stop.sleep_for(backoff.next());
  }
}

}  // namespace drover::worker
