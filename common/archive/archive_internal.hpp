#pragma once
// What archive.cpp (unpacking) and archive_pack.cpp (packing) share: the
// entry name rules and libarchive handle types. Not for use outside common/archive.
#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.hpp"

namespace drover::archive_internal {

inline constexpr std::size_t kBlock = 64 * 1024;

using ReaderPtr = std::unique_ptr<archive, decltype(&archive_read_free)>;
using WriterPtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

// invalid_spec naming the entry and why it is refused.
Error refuse(std::string_view name, std::string_view why);
// "a/b/c" -> {"a", "b", "c"}; empty components kept.
std::vector<std::string> split(std::string_view s);
// A relative name without "", "." components; "" for the root itself.
// Absolute names and ".." components are refused.
Result<std::string> normalize_entry_name(std::string_view raw);
// Whether a symlink at `name` pointing at `target` stays inside the root.
Status check_symlink_target(const std::string& name, std::string_view target);

}  // namespace drover::archive_internal
