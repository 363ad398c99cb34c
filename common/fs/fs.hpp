#pragma once
// Small file helpers that report errors as values.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/base/result.hpp"

namespace drover {

Result<std::string> read_file(const std::filesystem::path& path);
// Writes to a temp file in the same directory, fsyncs it, renames over `path`
// and fsyncs the directory: after it returns the content survives a crash.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);
Status make_dirs(const std::filesystem::path& path);
Status remove_all(const std::filesystem::path& path);
// Whether `dir` is a directory (not a link to one) with nothing in it; false
// when it cannot be read. One open and one or two reads of it.
bool empty_dir(const std::filesystem::path& dir);

// Lower-case hex SHA-256 (OpenSSL).
std::string sha256_hex(std::string_view data);
Result<std::string> sha256_file(const std::filesystem::path& path);
bool is_sha256_hex(std::string_view s);
// 32 bytes from OpenSSL's random generator as 64 hex digits (a secret token).
Result<std::string> random_token();

// A fresh private directory under `parent` (default: $TMPDIR or /tmp).
Result<std::filesystem::path> make_temp_dir(std::string_view prefix,
                                            const std::filesystem::path& parent = {});

}  // namespace drover
