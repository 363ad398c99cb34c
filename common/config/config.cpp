// Config loading: defaults < YAML file < flags. CLI11 and yaml-cpp exceptions
// stop in this file.
#include "common/config/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/fs/fs.hpp"

namespace drover {

namespace {

using StringMap = std::map<std::string, std::string>;

Error config_error(std::string field, std::string message) {
  return make_error(ErrorCode::invalid_argument, std::move(message), std::move(field));
}

// "auth.tokens_file" -> "--auth-tokens-file"
std::string flag_for(const std::string& name) {
  std::string out = "--" + name;
  std::replace(out.begin(), out.end(), '.', '-');
  std::replace(out.begin(), out.end(), '_', '-');
  return out;
}

const ConfigKey* find_key(const std::vector<ConfigKey>& keys, const std::string& name) {
  for (const ConfigKey& k : keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool is_prefix_of_key(const std::vector<ConfigKey>& keys, const std::string& prefix) {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const ConfigKey& k) { return k.name.rfind(prefix + ".", 0) == 0; });
}

std::optional<bool> parse_bool(std::string_view s) {
  if (s == "true" || s == "yes" || s == "1") return true;
  if (s == "false" || s == "no" || s == "0") return false;
  return std::nullopt;
}

// "zone=a,rack=3" -> {zone: a, rack: 3}; "" and "{}" are the empty map.
Result<StringMap> parse_map_text(const std::string& name, std::string_view text) {
  StringMap out;
  if (text == "{}") return out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return config_error(name, fmt::format("bad entry \"{}\" (expected key=value)", item));
    }
    out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
  }
  return out;
}

// Checks that `text` is a valid value of `key`'s type.
Status check_value(const ConfigKey& key, const std::string& text) {
  auto bad = [&](std::string_view what) {
    return config_error(key.name, fmt::format("bad {} \"{}\"", what, text));
  };
  switch (key.type) {
    case ConfigKey::Type::string:
    case ConfigKey::Type::string_map:
      return ok_status();
    case ConfigKey::Type::duration: {
      auto d = parse_duration(text);
      return d.ok() ? ok_status() : Status(config_error(key.name, d.error().message));
    }
    case ConfigKey::Type::size: {
      auto n = parse_size(text);
      return n.ok() ? ok_status() : Status(config_error(key.name, n.error().message));
    }
    case ConfigKey::Type::integer: {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || end != text.data() + text.size()) return bad("integer");
      return ok_status();
    }
    case ConfigKey::Type::number: {
      double v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v)) {
        return bad("number");
      }
      return ok_status();
    }
    case ConfigKey::Type::boolean:
      return parse_bool(text) ? ok_status() : bad("boolean (true or false)");
  }
  return ok_status();
}

Status set_defaults(const std::vector<ConfigKey>& keys, ConfigValues& values) {
  for (const ConfigKey& k : keys) {
    if (k.type == ConfigKey::Type::string_map) {
      auto m = parse_map_text(k.name, k.default_value);
      if (!m.ok()) return m.error();
      values.maps[k.name] = std::move(*m);
    } else if (!k.default_value.empty()) {
      values.scalars[k.name] = k.default_value;
    }
  }
  return ok_status();
}

// ---- the YAML file ---------------------------------------------------------

Result<StringMap> yaml_map_value(const YAML::Node& node, const std::string& name) {
  if (node.IsNull()) return StringMap{};
  if (node.IsScalar()) return parse_map_text(name, node.Scalar());
  if (!node.IsMap()) return config_error(name, "must be a map of keys to values");
  StringMap out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar() || !it->second.IsScalar()) {
      return config_error(name, "must be a map of keys to single values");
    }
    out[it->first.Scalar()] = it->second.Scalar();
  }
  return out;
}

// Flattens nested maps into dotted names and stores them in `values`.
Status read_yaml_map(const YAML::Node& node, const std::string& prefix,
                     const std::vector<ConfigKey>& keys, ConfigValues& values) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) return config_error(prefix, "keys must be strings");
    std::string name = prefix.empty() ? it->first.Scalar() : prefix + "." + it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: `it->second` is a temporary
    const ConfigKey* key = find_key(keys, name);
    if (key != nullptr && key->type == ConfigKey::Type::string_map) {
      auto m = yaml_map_value(value, name);
      if (!m.ok()) return m.error();
      values.maps[name] = std::move(*m);
    } else if (key == nullptr && value.IsMap() && is_prefix_of_key(keys, name)) {
      DROVER_TRY(read_yaml_map(value, name, keys, values));
    } else if (key == nullptr) {
      return config_error(name, fmt::format("unknown key \"{}\"", name));
    } else if (value.IsNull()) {
      values.scalars.erase(name);  // "key:" with no value: unset
    } else if (!value.IsScalar()) {
      return config_error(name, "must be a single value");
    } else {
      values.scalars[name] = value.Scalar();
    }
  }
  return ok_status();
}

Status read_config_file(const std::string& path, const std::vector<ConfigKey>& keys,
                        ConfigValues& values) {
  auto text = read_file(path);
  if (!text.ok()) {
    return config_error("config",
                        fmt::format("cannot read config file {}: {}", path, text.error().message));
  }
  try {
    YAML::Node root = YAML::Load(*text);
    if (!root.IsDefined() || root.IsNull()) return ok_status();
    if (!root.IsMap()) {
      return config_error("config", fmt::format("{}: must be a map of keys to values", path));
    }
    return read_yaml_map(root, "", keys, values);
  } catch (const YAML::ParserException& e) {
    return config_error("config", fmt::format("{}: YAML syntax error at line {}, column {}: {}",
                                              path, e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    return config_error("config", fmt::format("{}: {}", path, e.what()));
  }
}

// ---- flags -----------------------------------------------------------------

std::string type_hint(ConfigKey::Type t) {
  switch (t) {
    case ConfigKey::Type::string:
      return "TEXT";
    case ConfigKey::Type::duration:
      return "DURATION";
    case ConfigKey::Type::size:
      return "SIZE";
    case ConfigKey::Type::integer:
      return "INT";
    case ConfigKey::Type::number:
      return "NUMBER";
    case ConfigKey::Type::boolean:
      return "BOOL";
    case ConfigKey::Type::string_map:
      return "K=V,...";
  }
  return "VALUE";
}

std::string help_text(const std::string& program, const std::vector<ConfigKey>& keys,
                      const std::vector<std::string>& extra_flags) {
  std::string out = fmt::format(
      "Usage: {} [--config FILE] [--KEY VALUE ...]\n\n"
      "Every setting can be given in the YAML config file as `key: value` or as a flag;\n"
      "flags win over the file.\n\nOptions:\n"
      "  {:<34} {}\n  {:<34} {}\n",
      program, "--config FILE", "read settings from this YAML file", "-h, --help",
      "show this help and exit");
  for (const std::string& f : extra_flags) out += fmt::format("  {:<34}\n", "--" + f);
  out += "\nSettings (config key, flag, default):\n";
  for (const ConfigKey& k : keys) {
    std::string flag = flag_for(k.name) + " " + type_hint(k.type);
    std::string def = k.default_value.empty() ? "none" : k.default_value;
    out += fmt::format("  {:<34} {} (key `{}`, default: {})\n", flag, k.help, k.name, def);
  }
  return out;
}

// What the command line said.
struct FlagValues {
  std::optional<std::string> config_file;
  StringMap scalars;
  std::map<std::string, StringMap> maps;
  std::vector<std::string> flags_set;
  bool help = false;
};

struct Bound {
  const ConfigKey* key;
  CLI::Option* option;
};

Status collect_flags(const std::vector<Bound>& bound, FlagValues& out) {
  for (const Bound& b : bound) {
    if (b.option->count() == 0) continue;
    const auto& results = b.option->results();
    if (b.key->type == ConfigKey::Type::string_map) {
      StringMap merged;
      for (const std::string& r : results) {
        auto m = parse_map_text(b.key->name, r);
        if (!m.ok()) return m.error();
        for (auto& [k, v] : *m) merged[k] = v;
      }
      out.maps[b.key->name] = std::move(merged);
      continue;
    }
    std::string value = results.empty() ? "" : results.back();
    if (b.key->type == ConfigKey::Type::boolean && value.empty()) value = "true";
    out.scalars[b.key->name] = value;
  }
  return ok_status();
}

Status check_remaining(const CLI::App& app) {
  for (const std::string& arg : app.remaining()) {
    if (arg.rfind("-", 0) == 0) {
      std::string name = arg.substr(0, arg.find('='));
      std::string field = name.substr(name.find_first_not_of('-'));
      std::replace(field.begin(), field.end(), '-', '_');
      return config_error(field, fmt::format("unknown flag \"{}\"", name));
    }
    return config_error("", fmt::format("unexpected argument \"{}\"", arg));
  }
  return ok_status();
}

std::vector<Bound> bind_keys(CLI::App& app, const std::vector<ConfigKey>& keys) {
  std::vector<Bound> bound;
  for (const ConfigKey& k : keys) {
    CLI::Option* opt = app.add_option(flag_for(k.name))->description(k.help);
    if (k.type == ConfigKey::Type::string_map) {
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else {
      opt->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
    if (k.type == ConfigKey::Type::boolean) opt->expected(0, 1);
    bound.push_back({&k, opt});
  }
  return bound;
}

Result<FlagValues> parse_flags(const std::string& program, const std::vector<ConfigKey>& keys,
                               std::vector<std::string> args,
                               const std::vector<std::string>& extra_flags) {
  CLI::App app{"", program};
  app.set_help_flag("-h,--help");
  app.allow_extras();
  CLI::Option* config_opt = app.add_option("--config");
  std::vector<Bound> bound = bind_keys(app, keys);
  std::vector<std::pair<std::string, CLI::Option*>> extras;
  for (const std::string& f : extra_flags) extras.emplace_back(f, app.add_flag("--" + f));
  if (!args.empty() && args.front().rfind("-", 0) != 0) args.erase(args.begin());  // program
  std::reverse(args.begin(), args.end());
  FlagValues out;
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out.help = true;
    return out;
  } catch (const CLI::ParseError& e) {
    return config_error("", e.what());
  }
  DROVER_TRY(check_remaining(app));
  if (config_opt->count() > 0) out.config_file = config_opt->results().back();
  for (const auto& [name, opt] : extras) {
    if (opt->count() > 0) out.flags_set.push_back(name);
  }
  DROVER_TRY(collect_flags(bound, out));
  return out;
}

}  // namespace

Result<ConfigLoad> load_config(const std::string& program, const std::vector<ConfigKey>& keys,
                               const std::vector<std::string>& args,
                               const std::vector<std::string>& extra_flags) {
  auto flags = parse_flags(program, keys, args, extra_flags);
  if (!flags.ok()) return flags.error();
  ConfigLoad load;
  if (flags->help) {
    load.help_requested = true;
    load.help_text = help_text(program, keys, extra_flags);
    return load;
  }
  DROVER_TRY(set_defaults(keys, load.values));
  if (flags->config_file) DROVER_TRY(read_config_file(*flags->config_file, keys, load.values));
  for (auto& [name, value] : flags->scalars) load.values.scalars[name] = value;
  for (auto& [name, value] : flags->maps) load.values.maps[name] = value;
  for (const auto& [name, value] : load.values.scalars) {
    const ConfigKey* key = find_key(keys, name);
    if (key != nullptr) DROVER_TRY(check_value(*key, value));
  }
  load.flags_set = std::move(flags->flags_set);
  return load;
}

bool ConfigValues::has(const std::string& name) const {
  return scalars.count(name) > 0 || maps.count(name) > 0;
}

std::string ConfigValues::get_string(const std::string& name) const {
  auto it = scalars.find(name);
  return it == scalars.end() ? std::string() : it->second;
}

Duration ConfigValues::get_duration(const std::string& name) const {
  auto d = parse_duration(get_string(name));
  return d.ok() ? *d : Duration{0};
}

std::uint64_t ConfigValues::get_size(const std::string& name) const {
  auto n = parse_size(get_string(name));
  return n.ok() ? *n : 0;
}

std::int64_t ConfigValues::get_integer(const std::string& name) const {
  std::string s = get_string(name);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

double ConfigValues::get_number(const std::string& name) const {
  std::string s = get_string(name);
  double v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool ConfigValues::get_bool(const std::string& name) const {
  return parse_bool(get_string(name)).value_or(false);
}

std::map<std::string, std::string> ConfigValues::get_map(const std::string& name) const {
  auto it = maps.find(name);
  return it == maps.end() ? StringMap{} : it->second;
}

}  // namespace drover
