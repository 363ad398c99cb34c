// group_bytes packing at bundle intake (SPEC §2): consecutive files, about N bytes a task.
#include <catch2/catch.hpp>

#include <map>

#include "master/api/bundle_intake.hpp"

using namespace drover;
using namespace drover::master;

TEST_CASE("group_by_bytes packs consecutive files up to the limit", "[intake]") {
  const std::map<std::string, std::uint64_t> sizes = {
      {"a", 40}, {"b", 40}, {"c", 40}, {"d", 150}, {"e", 10}, {"f", 0}};
  auto size_of = [&](const std::string& f) { return sizes.at(f); };
  using Groups = std::vector<std::vector<std::string>>;
  CHECK(group_by_bytes({"a", "b", "c", "d", "e", "f"}, size_of, 100) ==
        Groups{{"a", "b"}, {"c"}, {"d"}, {"e", "f"}});  // a file over the limit goes alone
  CHECK(group_by_bytes({"a", "b", "c"}, size_of, 1000) == Groups{{"a", "b", "c"}});
  CHECK(group_by_bytes({"a", "b"}, size_of, 1) == Groups{{"a"}, {"b"}});
  CHECK(group_by_bytes({}, size_of, 100).empty());
}
