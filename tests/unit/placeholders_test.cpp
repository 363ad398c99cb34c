#include "common/jobspec/placeholders.hpp"

#include <catch2/catch.hpp>

using namespace drover;

using Argv = std::vector<std::string>;

TEST_CASE("placeholders expand inside words", "[placeholders]") {
  std::map<std::string, std::string> values = {
      {"input", "/data/a.txt"}, {"index", "3"}, {"job", "j-1"}, {"stage", "count"}};
  CHECK(expand_placeholders({"python3", "count.py", "{input}"}, values) ==
        Argv{"python3", "count.py", "/data/a.txt"});
  CHECK(expand_placeholders({"--out=/tmp/{job}/{stage}-{index}.txt"}, values) ==
        Argv{"--out=/tmp/j-1/count-3.txt"});
  CHECK(expand_placeholders({"{index}{index}"}, values) == Argv{"33"});
}

TEST_CASE("unknown placeholders and lone braces stay as written", "[placeholders]") {
  std::map<std::string, std::string> values = {{"input", "x"}};
  CHECK(expand_placeholders({"{nope}", "{", "}", "a{b", "{{input}", "{input}}", "{}"}, values) ==
        Argv{"{nope}", "{", "}", "a{b", "{x", "x}", "{}"});
  CHECK(expand_placeholders({"awk", "{print $1}"}, values) == Argv{"awk", "{print $1}"});
}

TEST_CASE("values are not expanded again", "[placeholders]") {
  std::map<std::string, std::string> values = {{"input", "{index}"}, {"index", "7"}};
  CHECK(expand_placeholders({"{input}"}, values) == Argv{"{index}"});
}

TEST_CASE("{inputs} becomes one word per input", "[placeholders]") {
  std::map<std::string, std::string> values = {{"index", "0"}};
  CHECK(expand_placeholders({"cat", "{inputs}", "{index}"}, values, {"a", "b c"}) ==
        Argv{"cat", "a", "b c", "0"});
  CHECK(expand_placeholders({"cat", "{inputs}"}, values) == Argv{"cat"});
  // Only a whole word expands to a list.
  CHECK(expand_placeholders({"x{inputs}"}, values, {"a"}) == Argv{"x{inputs}"});
}
