#include "common/jobspec/glob.hpp"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <system_error>

namespace drover {

namespace {

std::vector<std::string> split_components(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

bool component_match(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME) == 0;
}

// Matches pattern components [pi..] against path components [si..]. A "**"
// component stands for zero or more whole components; a trailing one for at
// least one (everything below a directory).
bool match_from(const std::vector<std::string>& pat, std::size_t pi,
                const std::vector<std::string>& path, std::size_t si) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      if (pi + 1 == pat.size()) return si < path.size();
      for (std::size_t skip = si; skip <= path.size(); ++skip) {
        if (match_from(pat, pi + 1, path, skip)) return true;
      }
      return false;
    }
    if (si >= path.size() || !component_match(pat[pi], path[si])) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

Error no_match(std::string_view pattern) {
  return make_error(ErrorCode::invalid_spec,
                    fmt::format("pattern \"{}\" matches no file", pattern));
}

// The part of a split pattern before its first component with glob characters.
std::size_t literal_prefix_length(const std::vector<std::string>& comps) {
  std::size_t n = 0;
  while (n < comps.size() && !has_glob_chars(comps[n])) ++n;
  return n;
}

std::string join_components(const std::vector<std::string>& comps, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) out += '/';
    out += comps[i];
  }
  return out;
}

// Regular files below `root` whose path, written as `candidate_prefix` plus
// the path relative to `root`, matches `pattern`. Descends at most
// `max_depth` levels; follows directory symlinks only when that is bounded.
std::vector<std::string> walk_and_match(std::string_view pattern, const std::filesystem::path& root,
                                        const std::string& candidate_prefix,
                                        std::size_t max_depth) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  auto opts = fs::directory_options::skip_permission_denied;
  if (max_depth != SIZE_MAX) opts |= fs::directory_options::follow_directory_symlink;
  fs::recursive_directory_iterator it(root, opts, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (static_cast<std::size_t>(it.depth()) + 1 >= max_depth) it.disable_recursion_pending();
    std::error_code st_ec;
    if (!it->is_regular_file(st_ec)) continue;
    std::string candidate = candidate_prefix + it->path().lexically_relative(root).generic_string();
    if (glob_match(pattern, candidate)) out.push_back(std::move(candidate));
  }
  return out;
}

}  // namespace

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_from(split_components(pattern), 0, split_components(path), 0);
}

Result<std::vector<std::string>> expand_glob_in_list(std::string_view pattern,
                                                     const std::vector<std::string>& files) {
  std::vector<std::string> out;
  for (const std::string& f : files) {
    if (glob_match(pattern, f)) out.push_back(f);
  }
  if (out.empty()) return no_match(pattern);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<std::string>> expand_glob_on_disk(std::string_view pattern) {
  std::vector<std::string> comps = split_components(pattern);
  std::size_t prefix = literal_prefix_length(comps);
  if (prefix == comps.size()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(std::string(pattern), ec)) return no_match(pattern);
    return std::vector<std::string>{std::string(pattern)};
  }
  // Walk from the longest directory prefix without glob characters.
  std::string root_text = join_components(comps, prefix);
  std::filesystem::path root = prefix == 0 ? "." : (root_text.empty() ? "/" : root_text);
  std::string candidate_prefix = prefix == 0 ? "" : root_text + "/";
  auto glob_begin = comps.begin() + static_cast<std::ptrdiff_t>(prefix);
  bool recursive = std::find(glob_begin, comps.end(), "**") != comps.end();
  std::size_t max_depth = recursive ? SIZE_MAX : comps.size() - prefix;
  std::vector<std::string> out = walk_and_match(pattern, root, candidate_prefix, max_depth);
  if (out.empty()) return no_match(pattern);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace drover
