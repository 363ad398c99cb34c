#pragma once
// Placeholder expansion in a task's argv ({input}, {index}, ... of SPEC §2).
#include <map>
#include <string>
#include <vector>

namespace drover {

// `values` maps placeholder names without braces ("input", "job", ...) to their
// values. An argv word that is exactly "{inputs}" expands to one word per entry
// of `input_list`. Unknown placeholders and lone braces are left as written.
std::vector<std::string> expand_placeholders(const std::vector<std::string>& argv,
                                             const std::map<std::string, std::string>& values,
                                             const std::vector<std::string>& input_list = {});

}  // namespace drover
