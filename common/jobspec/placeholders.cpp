#include "common/jobspec/placeholders.hpp"

namespace drover {

namespace {

// Replaces every known "{name}" in `word` in one left-to-right pass; values
// are inserted as they are, never expanded again.
std::string expand_word(const std::string& word, const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(word.size());
  std::size_t i = 0;
  while (i < word.size()) {
    if (word[i] == '{') {
      std::size_t close = word.find('}', i + 1);
      if (close != std::string::npos) {
        std::string name = word.substr(i + 1, close - i - 1);
        auto it = name.find('{') == std::string::npos ? values.find(name) : values.end();
        if (it != values.end()) {
          out += it->second;
          i = close + 1;
          continue;
        }
      }
    }
    out.push_back(word[i]);
    ++i;
  }
  return out;
}

}  // namespace

std::vector<std::string> expand_placeholders(const std::vector<std::string>& argv,
                                             const std::map<std::string, std::string>& values,
                                             const std::vector<std::string>& input_list) {
  std::vector<std::string> out;
  out.reserve(argv.size());
  for (const std::string& word : argv) {
    if (word == "{inputs}") {
      out.insert(out.end(), input_list.begin(), input_list.end());
    } else {
      out.push_back(expand_word(word, values));
    }
  }
  return out;
}

}  // namespace drover
