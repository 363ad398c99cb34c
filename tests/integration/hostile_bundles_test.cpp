// Hostile bundles (SPEC §8): crafted archives POSTed to a real master are
// refused with 400 (413 for a body over max_bundle_size) and the error shape,
// and nothing is written: no blob, no job, no file outside. And a task output
// holding links that lead out cannot make a downstream task or the worker
// read or write outside its sandbox.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <catch2/catch.hpp>
#include <set>

#include "common/archive/archive.hpp"
#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// One entry of a hand-made archive.
struct Entry {
  std::string name;
  unsigned type = AE_IFREG;
  std::string content;
  std::string symlink;
  std::string hardlink;
  std::uint64_t declared_size = 0;  // > content.size(): the writer pads with zeros
};

Entry file(std::string name, std::string content) {
  return {std::move(name), AE_IFREG, std::move(content), "", "", 0};
}
Entry dir(std::string name) { return {std::move(name), AE_IFDIR, "", "", "", 0}; }
Entry symlink(std::string name, std::string target) {
  return {std::move(name), AE_IFLNK, "", std::move(target), "", 0};
}
Entry hardlink(std::string name, std::string target) {
  return {std::move(name), AE_IFREG, "", "", std::move(target), 0};
}
Entry special(std::string name, unsigned type) { return {std::move(name), type, "", "", "", 0}; }

enum class Format { pax, gnu };

std::string make_tgz(const std::vector<Entry>& entries, Format format = Format::pax) {
  std::string out;
  archive* a = archive_write_new();
  if (format == Format::pax) {
    archive_write_set_format_pax_restricted(a);
  } else {
    archive_write_set_format_gnutar(a);
  }
  archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  auto cb = [](archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  REQUIRE(archive_write_open(a, &out, nullptr, cb, nullptr) == ARCHIVE_OK);
  std::string zeros(1 << 20, '\0');
  for (const Entry& e : entries) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.name.c_str());
    archive_entry_set_filetype(ae, e.type);
    archive_entry_set_perm(ae, e.type == AE_IFDIR ? 0755 : 0644);
    if (!e.symlink.empty()) archive_entry_set_symlink(ae, e.symlink.c_str());
    if (!e.hardlink.empty()) archive_entry_set_hardlink(ae, e.hardlink.c_str());
    if (e.type == AE_IFCHR || e.type == AE_IFBLK) archive_entry_set_rdev(ae, makedev(1, 3));
    std::uint64_t size = std::max<std::uint64_t>(e.declared_size, e.content.size());
    if (e.type == AE_IFREG && e.hardlink.empty())
      archive_entry_set_size(ae, static_cast<la_int64_t>(size));
    INFO(e.name);
    REQUIRE(archive_write_header(a, ae) == ARCHIVE_OK);
    if (!e.content.empty()) archive_write_data(a, e.content.data(), e.content.size());
    for (std::uint64_t left = size - e.content.size(); left > 0;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, zeros.size()));
      archive_write_data(a, zeros.data(), n);
      left -= n;
    }
    archive_entry_free(ae);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

const char* kJobYaml = "name: evil\nstages:\n  - name: s\n    command: [\"true\"]\n";

// Every file below `root` (recursively, links not followed), relative paths.
std::set<std::string> files_below(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    out.insert(it->path().lexically_relative(root).string());
  }
  return out;
}

// Paths below `root` with a file name the hostile entries use ("drover-canary-*").
// Only that prefix: other tests running at the same time keep files of their
// own named "canary" under the temp dir.
std::vector<std::string> canaries_below(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& p : files_below(root)) {
    if (fs::path(p).filename().string().rfind("drover-canary-", 0) == 0) out.push_back(p);
  }
  return out;
}

struct Hostile {
  std::string what;
  std::string body;
  int status = 400;
  std::string code = "invalid_spec";
  std::string says;  // a word the message must contain
};

std::vector<Hostile> hostile_bundles(const fs::path& outside) {
  const Entry job = file("job.yaml", kJobYaml);
  const std::string abs = (outside / "drover-canary-abs").string();
  std::string long_dir(150, 'd');
  std::vector<Hostile> v = {
      {"absolute path", make_tgz({job, file(abs, "x")}), 400, "invalid_spec", "absolute path"},
      {"long absolute path (pax)", make_tgz({job, file(abs + "/" + long_dir + "/x", "x")}), 400,
       "invalid_spec", "absolute path"},
      {"dot-dot", make_tgz({job, file("../drover-canary-dd", "x")}), 400, "invalid_spec", ".."},
      {"inner dot-dot", make_tgz({job, file("a/../../drover-canary-idd", "x")}), 400,
       "invalid_spec", ".."},
      {"dot-slash dot-dot", make_tgz({job, file("./a/./../../drover-canary-dsd", "x")}), 400,
       "invalid_spec", ".."},
      {"long dot-dot name (GNU longname)",
       make_tgz({job, file(long_dir + "/../../drover-canary-gnu", "x")}, Format::gnu), 400,
       "invalid_spec", ".."},
      {"symlink to /etc then a file through it",
       make_tgz({job, symlink("link", "/etc"), file("link/drover-canary-passwd", "x")}), 400,
       "invalid_spec", "absolute"},
      {"symlink with a dot-dot target", make_tgz({job, symlink("up", "../drover-canary-up")}), 400,
       "invalid_spec", "outside"},
      {"symlink with a deep dot-dot target", make_tgz({job, symlink("a/b/up", "../../../x")}), 400,
       "invalid_spec", "outside"},
      {"symlink with a long target leading out",
       make_tgz({job, symlink("up", "../../" + long_dir + "/drover-canary-long")}), 400,
       "invalid_spec", "outside"},
      {"symlink with a long target climbing after a name",
       make_tgz({job, symlink("up", "x/" + long_dir + "/../../../drover-canary-long")}), 400,
       "invalid_spec", "symlink"},
      {"symlink through another symlink, then up",
       make_tgz({job, dir("a"), symlink("b/top", ".."), symlink("a/out", "../b/top/..")}), 400,
       "invalid_spec", "symlink"},
      {"file through an inner symlink",
       make_tgz({job, dir("a"), symlink("in", "a"), file("in/drover-canary-in", "x")}), 400,
       "invalid_spec", "below a file or link"},
      {"hard link to /etc/passwd", make_tgz({job, hardlink("pw", "/etc/passwd")}), 400,
       "invalid_spec", "hard link"},
      {"hard link to dot-dot", make_tgz({job, hardlink("h", "../drover-canary-h")}), 400,
       "invalid_spec", "hard link"},
      {"hard link inside", make_tgz({job, file("a", "x"), hardlink("b", "a")}), 400, "invalid_spec",
       "hard link"},
      {"character device", make_tgz({job, special("null", AE_IFCHR)}), 400, "invalid_spec",
       "device"},
      {"block device", make_tgz({job, special("disk", AE_IFBLK)}), 400, "invalid_spec", "device"},
      {"fifo", make_tgz({job, special("pipe", AE_IFIFO)}), 400, "invalid_spec", "fifo"},
      {"job.yaml is a symlink to /etc/passwd", make_tgz({symlink("job.yaml", "/etc/passwd")}), 400,
       "invalid_spec", "absolute"},
      {"job.yaml is a symlink inside",
       make_tgz({file("real.yaml", kJobYaml), symlink("job.yaml", "real.yaml")}), 400,
       "invalid_spec", "job.yaml"},
      {"job.yaml is a hard link",
       make_tgz({file("real.yaml", kJobYaml), hardlink("job.yaml", "real.yaml")}), 400,
       "invalid_spec", "hard link"},
      {"job.yaml is a fifo", make_tgz({special("job.yaml", AE_IFIFO)}), 400, "invalid_spec",
       "fifo"},
      {"job.yaml twice", make_tgz({job, file("job.yaml", "name: other\n")}), 400, "invalid_spec",
       "more than once"},
      {"huge job.yaml", make_tgz({file("job.yaml", std::string(2 << 20, '#'))}), 400,
       "invalid_spec", "job.yaml"},
      {"archive bomb",
       [&] {
         Entry big = file("big.bin", "");
         big.declared_size = 80ULL << 20;  // the master below allows 16Mi * 4 unpacked
         return make_tgz({job, big});
       }(),
       400, "invalid_spec", "bytes"},
      {"not an archive", std::string(1000, 'x'), 400, "invalid_spec", "tar"},
      {"truncated archive", make_tgz({job, file("data", std::string(100'000, 'q'))}).substr(0, 200),
       400, "invalid_spec", "tar"},
      {"empty body", "", 400, "invalid_spec", ""},
      {"body over max_bundle_size", std::string(17 << 20, 'x'), 413, "too_large", ""},
  };
  std::vector<Entry> many = {job};
  for (int i = 0; i < 100'000; ++i) many.push_back(file("f/" + std::to_string(i), "x"));
  v.push_back({"100,000 tiny files", make_tgz(many), 400, "invalid_spec", "entries"});
  return v;
}

nlohmann::json job_list(Cluster& c) { return c.get("/api/v1/jobs")["jobs"]; }

}  // namespace

TEST_CASE("hostile bundles are refused with 400 and nothing is written",
          "[integration][security]") {
  TempDir tmp;
  fs::path outside = tmp.path / "outside";
  fs::create_directories(outside);
  Cluster c(tmp.path / "cluster", {"--max-bundle-size", "16Mi"});
  c.start_master();
  const fs::path data = tmp.path / "cluster" / "master";
  const auto blobs_before = files_below(data / "blobs");

  for (const Hostile& h : hostile_bundles(outside)) {
    INFO(h.what << " (" << h.body.size() << " bytes)");
    if (h.status == 400) REQUIRE(h.body.size() <= (16u << 20));
    auto r = c.client().request("POST", "/api/v1/jobs", h.body, "application/gzip");
    REQUIRE(r.ok());
    INFO(r->status << " " << r->body);
    CHECK(r->status == h.status);
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j.contains("error"));
    CHECK(j["error"].value("code", "") == h.code);
    const std::string message = j["error"].value("message", "");
    CHECK(!message.empty());
    if (!h.says.empty()) CHECK_THAT(message, Catch::Contains(h.says));
    WARN(h.what << " -> " << r->status << " " << j["error"].dump());
    CHECK(job_list(c).empty());
  }
  CHECK(job_list(c).empty());
  CHECK(files_below(data / "blobs") == blobs_before);
  CHECK(canaries_below(tmp.path).empty());
  CHECK(canaries_below(fs::temp_directory_path()).empty());
  CHECK_FALSE(fs::exists(fs::symlink_status(outside / "drover-canary-abs")));
  // The master is still fine: a good bundle goes through.
  auto good = c.client().request("POST", "/api/v1/jobs", make_tgz({file("job.yaml", kJobYaml)}),
                                 "application/gzip");
  REQUIRE(good.ok());
  CHECK(good->status == 201);
  CHECK(job_list(c).size() == 1);
}

TEST_CASE("a task output with links leading out cannot reach outside the sandbox",
          "[integration][security]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 1, 2);
  // A file outside every sandbox that the tasks' user could write: the links
  // in the map task's output point at it.
  const fs::path canary = tmp.path / "canary.txt";
  std::ofstream(canary) << "untouched\n";
  fs::permissions(canary, fs::perms::all);  // even a run_as task could write it
  const std::string bundle_yaml = replace_all(R"(name: linkout
max_attempts: 1
stages:
  - name: map
    command: ["sh", "-c", "ln -s CANARY $DROVER_OUTPUT_DIR/abs && ln -s ../../../../../../../../../../../../.. $DROVER_OUTPUT_DIR/up && ln -s /etc $DROVER_OUTPUT_DIR/etc && mkdir $DROVER_OUTPUT_DIR/d && ln -s .. $DROVER_OUTPUT_DIR/d/top && ln -s ../d/top/.. $DROVER_OUTPUT_DIR/d/esc && echo data > $DROVER_OUTPUT_DIR/plain"]
  - name: reduce
    after: [map]
    command: ["sh", "-c", "cd $DROVER_INPUT_DIR/map/0 && ls -la . d >&2 && cat plain && for l in abs up etc d/esc; do if [ -e $l ] || [ -L $l ]; then echo present $l; fi; done && (echo pwned > abs) 2>/dev/null; (echo pwned > d/esc/canary.txt) 2>/dev/null; true"]
)",
                                              "CANARY", canary.string());
  auto dir = write_bundle(tmp.path / "b", bundle_yaml);
  std::string job = submit(c, dir);
  REQUIRE(wait_job_ended(c, job, 60s));
  auto tasks = tasks_of(c, job);
  INFO(tasks.dump());
  CHECK(job_state(c, job) == "succeeded");
  // The downstream task saw the plain file and none of the links that lead out.
  auto logs = c.cli({"logs", job, "reduce", "0"});
  INFO(logs.out << logs.err);
  CHECK_THAT(logs.out, Catch::Contains("data"));
  CHECK_THAT(logs.out, !Catch::Contains("present"));
  CHECK(read_text(canary) == "untouched\n");
  // The committed output the master serves holds only the plain file.
  auto out = c.client().get("/api/v1/jobs/" + job + "/tasks/map/0/output");
  REQUIRE(out.ok());
  REQUIRE(out->status == 200);
  auto listing = list_archive(out->body);
  REQUIRE(listing.ok());
  CHECK(listing->files == std::vector<std::string>{"plain"});
  // Of the links only d/top (-> "..", the output's own root) stays.
  TempDir unpacked;
  REQUIRE(unpack_archive(out->body, unpacked.path).ok());
  std::set<std::string> links;
  for (const auto& p : files_below(unpacked.path)) {
    if (fs::is_symlink(unpacked.path / p)) links.insert(p);
  }
  CHECK(links == std::set<std::string>{"d/top"});
}
