#pragma once
// A committed output (or an attempt's uncommitted one) is named by a ref:
//   - "<64 hex>": the sha256 of a tar.gz blob in the blob store (output_store: master);
//   - "shared:<relative path>": a directory under the shared output_store root
//     (output_store: shared:/path). Attempts write "shared:attempts/a-<id>"; the
//     master commits one by renaming it to "shared:outputs/<job>/<stage>/<index>".
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace drover {

inline constexpr std::string_view kSharedRefPrefix = "shared:";
inline constexpr std::string_view kSharedStorePrefix = "shared:";  // of the output_store setting

inline bool is_shared_ref(std::string_view ref) { return ref.starts_with(kSharedRefPrefix); }

// The path relative to the store root; "" when `ref` is not a shared ref.
inline std::string shared_ref_path(std::string_view ref) {
  return is_shared_ref(ref) ? std::string(ref.substr(kSharedRefPrefix.size())) : std::string();
}

inline std::string attempt_output_ref(std::int64_t attempt_id) {
  return fmt::format("shared:attempts/a-{}", attempt_id);
}

inline std::string committed_output_ref(std::string_view job, std::string_view stage,
                                        std::int64_t index, std::int64_t attempt_id) {
  return fmt::format("shared:outputs/{}/{}/{}.a{}", job, stage, index, attempt_id);
}

// The shared root of an output_store setting ("shared:/mnt/x" -> "/mnt/x"); "" for "master".
inline std::string shared_store_root(std::string_view output_store) {
  return output_store.starts_with(kSharedStorePrefix)
             ? std::string(output_store.substr(kSharedStorePrefix.size()))
             : std::string();
}

}  // namespace drover
