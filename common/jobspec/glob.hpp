#pragma once
// Glob matching of `inputs.files` patterns (fnmatch semantics, `*` does not
// cross '/', plus `**` for any number of directories).
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.hpp"

namespace drover {

bool glob_match(std::string_view pattern, std::string_view path);

// Relative pattern against a list of relative file paths (a bundle's
// listing): matching paths, sorted. No match is an error naming the pattern.
Result<std::vector<std::string>> expand_glob_in_list(std::string_view pattern,
                                                     const std::vector<std::string>& files);

// Absolute pattern against the local file system: regular files, sorted.
Result<std::vector<std::string>> expand_glob_on_disk(std::string_view pattern);

bool has_glob_chars(std::string_view s);

}  // namespace drover
