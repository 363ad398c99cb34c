#pragma once
// Config loading shared by the daemons: a table of keys, read from a YAML file
// (--config FILE) and overridden by flags. Every key `a.b_c` is also the flag
// `--a-b-c VALUE`. Unknown keys, bad values and unreadable files are errors
// naming the key; main() turns them into exit code 2.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.hpp"
#include "common/base/units.hpp"

namespace drover {

struct ConfigKey {
  enum class Type { string, duration, size, integer, number, boolean, string_map };
  std::string name;           // dotted: "auth.tokens_file"
  Type type = Type::string;
  std::string default_value;  // as a user would write it; "" = unset
  std::string help;
};

// Raw values after file + flags, checked against each key's type.
class ConfigValues {
 public:
  bool has(const std::string& name) const;  // set by default, file or flag
  std::string get_string(const std::string& name) const;
  Duration get_duration(const std::string& name) const;
  std::uint64_t get_size(const std::string& name) const;
  std::int64_t get_integer(const std::string& name) const;
  double get_number(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::map<std::string, std::string> get_map(const std::string& name) const;

  std::map<std::string, std::string> scalars;  // name -> text
  std::map<std::string, std::map<std::string, std::string>> maps;
};

// `args` are the command-line words after the program name. Accepts
// --config FILE, one flag per key, and --help (then help_requested is set and
// help_text holds every key with its default). `extra_flags` names value-less
// boolean flags that are not config keys (e.g. "insecure"); the ones given are
// listed in `flags_set`.
struct ConfigLoad {
  ConfigValues values;
  std::vector<std::string> flags_set;
  bool help_requested = false;
  std::string help_text;
};
Result<ConfigLoad> load_config(const std::string& program, const std::vector<ConfigKey>& keys,
                               const std::vector<std::string>& args,
                               const std::vector<std::string>& extra_flags = {});

}  // namespace drover
