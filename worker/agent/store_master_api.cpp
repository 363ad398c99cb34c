#include "worker/agent/store_master_api.hpp"

namespace drover::worker {

Result<RegistrationReply> StoreMasterApi::register_worker(const WorkerRegistration& r) {
  auto reply = inner_.register_worker(r);
  if (reply.ok()) (void)store_.adopt(reply->output_store);
  return reply;
}

Result<std::string> StoreMasterApi::fetch_blob(const std::string& digest) {
  if (auto blobs = store_.shared_blobs()) return blobs->get(digest);
  return inner_.fetch_blob(digest);
}

Status StoreMasterApi::upload_blob(const std::string& digest, std::string content) {
  if (auto blobs = store_.shared_blobs()) return blobs->put(digest, content);
  return inner_.upload_blob(digest, std::move(content));
}

}  // namespace drover::worker
