// The dashboard (SPEC §7) in a real browser: headless Chromium loads GET / from
// a running cluster and the DOM its script builds shows the workers, a running
// job's progress, a failed task's reason, and — following the job link — the
// job page with tasks, attempts and a log. Screenshots are kept in the build
// directory for people to look at.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>

#include "tests/integration/bundles.hpp"
#include "tests/support/support.hpp"

using namespace drover;
using namespace drover::test;
using namespace std::chrono_literals;

namespace {

// Headless Chromium with a throwaway profile; HOME and XDG point into `home`
// because chromium writes there even with --user-data-dir.
class Browser {
 public:
  explicit Browser(fs::path home) : home_(std::move(home)) {
    fs::create_directories(home_);
    auto which = run_command({"sh", "-c", "command -v chromium || command -v chromium-browser"}, 10s, home_);
    exe_ = first_line(which.out);
    if (which.exit_code != 0 || exe_.empty()) {
      FAIL("chromium is not installed: deploy/install-deps.sh installs it (the dashboard test needs a real browser)");
    }
  }

  // The DOM after the page's script ran for `budget` of virtual time.
  std::string dump_dom(const std::string& url, int budget_ms = 5000) {
    auto r = run({"--window-size=1280,800", "--virtual-time-budget=" + std::to_string(budget_ms), "--dump-dom", url});
    INFO(url << "\n" << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.out, Catch::Contains("</html>"));
    return r.out;
  }

  void screenshot(const std::string& url, const fs::path& png, int width, int height) {
    fs::remove(png);
    auto r = run({"--window-size=" + std::to_string(width) + "," + std::to_string(height),
                  "--hide-scrollbars", "--virtual-time-budget=5000", "--screenshot=" + png.string(), url});
    INFO(url << "\n" << r.err);
    CHECK(r.exit_code == 0);
  }

 private:
  CliResult run(std::vector<std::string> args) {
    const fs::path profile = home_ / ("profile-" + std::to_string(++runs_));
    std::vector<std::string> argv = {
        "env", "HOME=" + home_.string(), "XDG_CONFIG_HOME=" + (home_ / ".config").string(),
        "XDG_CACHE_HOME=" + (home_ / ".cache").string(), exe_,
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--user-data-dir=" + profile.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 90s, home_);
  }

  fs::path home_;
  std::string exe_;
  int runs_ = 0;
};

// The width of a PNG image (from its IHDR chunk); 0 when `p` is not a PNG.
std::uint32_t png_width(const fs::path& p) {
  const std::string data = read_text(p);
  if (data.size() < 1000 || data.rfind("\x89PNG\r\n\x1a\n", 0) != 0 || data.compare(12, 4, "IHDR") != 0) return 0;
  std::uint32_t w = 0;
  for (int i = 16; i < 20; ++i) w = (w << 8) | static_cast<unsigned char>(data[i]);
  return w;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// Every href="#/jobs/ID" in a DOM dump, in order, without repeats.
std::vector<std::string> job_links(const std::string& dom) {
  static const std::regex link(R"re(href="(#/jobs/[^"/]+)")re");
  std::vector<std::string> out;
  for (std::sregex_iterator it(dom.begin(), dom.end(), link), end; it != end; ++it) {
    if (std::find(out.begin(), out.end(), (*it)[1].str()) == out.end()) out.push_back((*it)[1]);
  }
  return out;
}

}  // namespace

TEST_CASE("GET / serves the self-contained dashboard page with a strict CSP", "[integration][dashboard]") {
  TempDir tmp;
  Cluster c(tmp.path / "cluster");
  auto r = c.client().get("/");
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->content_type == "text/html; charset=utf-8");
  CHECK(r->header("Content-Security-Policy") ==
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'");
  CHECK(r->header("X-Content-Type-Options") == "nosniff");
  CHECK(r->header("Cache-Control") == "no-cache");

  const std::string& page = r->body;
  // Compiled in byte for byte.
  CHECK(page == read_text(source_dir() / "master" / "dashboard" / "index.html"));
  CHECK_THAT(page, Catch::StartsWith("<!doctype html>"));
  CHECK_THAT(page, Catch::Contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
  // Works offline: nothing is loaded from another host.
  CHECK_THAT(page, !Catch::Contains("http://"));
  CHECK_THAT(page, !Catch::Contains("https://"));
  static const std::regex outside(R"re((src|href|action)\s*=\s*["']?\s*(//|[a-zA-Z][a-zA-Z0-9+.-]*:))re",
                                  std::regex::icase);
  for (std::sregex_iterator it(page.begin(), page.end(), outside), end; it != end; ++it) {
    INFO(it->str());
    CHECK_THAT(it->str(), Catch::EndsWith("data:"));
  }
  CHECK_THAT(page, !Catch::Contains("@import"));
  CHECK_THAT(page, !Catch::Contains("url("));
  // Data never becomes markup.
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"}) {
    INFO(sink);
    CHECK_THAT(page, !Catch::Contains(sink));
  }
  CHECK(page.size() < 64 * 1024);
}

TEST_CASE("the dashboard in headless Chromium shows workers, progress, failures, a job page and logs",
          "[integration][dashboard]") {
  TempDir tmp;
  Browser browser(tmp.path / "browser");
  TaskPids pids(tmp.path / "pids");
  const fs::path release = tmp.path / "release";
  Cluster c(tmp.path / "cluster");
  start_cluster(c, 2, 2);

  // Two tasks that report half their work done, then wait (bounded) for `release`.
  auto hold_bundle = write_bundle(tmp.path / "hold", replace_all(replace_all(R"(name: dash-hold
stages:
  - name: s
    command: ["sh", "-c", "echo $$ $(readlink /proc/self/ns/pid) $(cut -d' ' -f22 /proc/$$/stat) >> PIDS/hold-{index}; echo 0.5 > \"$DROVER_PROGRESS_FILE\"; echo hold task {index} working; i=0; while [ ! -e RELEASE ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done"]
    inputs: {range: 2}
)", "PIDS", pids.dir.string()), "RELEASE", release.string()));
  // Task 1 fails for good with exit code 7; the job ends partial.
  auto fail_bundle = write_bundle(tmp.path / "fail", R"(name: dash-fail
max_attempts: 1
max_failed_tasks: 1
stages:
  - name: s
    command: ["sh", "-c", "if [ {index} = 1 ]; then echo bad input {index} >&2; exit 7; fi; echo fine"]
    inputs: {range: 2}
)");
  const std::string hold = submit(c, hold_bundle);
  const std::string fail = submit(c, fail_bundle);

  nlohmann::json hold_tasks;
  bool progressing = wait_until([&] {
    hold_tasks = tasks_of(c, hold);
    if (hold_tasks.size() != 2) return false;
    for (const auto& t : hold_tasks) {
      if (t["attempts"].empty()) return false;
      const auto& a = t["attempts"].back();
      if (a["state"] != "running" || a["progress"].get<double>() != 0.5) return false;
    }
    return true;
  }, 30s, 100ms);
  INFO(hold_tasks.dump());
  REQUIRE(progressing);
  REQUIRE(wait_until([&] { return job_state(c, fail) == "partial"; }, 30s, 100ms));
  auto failed = c.get("/api/v1/jobs/" + fail);
  INFO(failed.dump());
  REQUIRE(failed["failed_tasks"].size() == 1);
  CHECK(failed["failed_tasks"][0]["message"] == "exit code 7");
  const std::string fail_worker = tasks_of(c, fail)[1]["attempts"][0]["worker"];
  auto events = c.client().get("/api/v1/jobs/" + fail + "/events");
  REQUIRE(events.ok());
  const bool has_events = events->status == 200;

  const std::string base = c.url() + "/";
  const fs::path shots = DROVER_BIN_DIR;

  // --- the overview
  const std::string overview = browser.dump_dom(base);
  {
    INFO(overview);
    CHECK_THAT(overview, Catch::Contains(">w1<"));
    CHECK_THAT(overview, Catch::Contains(">w2<"));
    CHECK_THAT(overview, Catch::Contains(">alive<"));
    // The running job's stage bar: both tasks half done.
    CHECK_THAT(overview, Catch::Contains("role=\"progressbar\" aria-valuemin=\"0\" aria-valuemax=\"100\" aria-valuenow=\"50\""));
    CHECK_THAT(overview, Catch::Contains(">50%<"));
    CHECK_THAT(overview, Catch::Contains(">running<"));
    CHECK_THAT(overview, Catch::Contains(">partial<"));
    // The task that failed for good, with its reason and message.
    CHECK_THAT(overview, Catch::Contains("s[1] exit_code: exit code 7"));
    CHECK_THAT(overview, Catch::Contains("live · updated"));
  }
  auto links = job_links(overview);
  CHECK(links == std::vector<std::string>{"#/jobs/" + fail, "#/jobs/" + hold});  // newest first

  // --- following the failed job's link: its tasks, attempts and the failure
  const std::string fail_link = "#/jobs/" + fail;
  REQUIRE(std::find(links.begin(), links.end(), fail_link) != links.end());
  const std::string job_page = browser.dump_dom(base + fail_link);
  {
    INFO(job_page);
    CHECK_THAT(job_page, Catch::Contains("Tasks and attempts"));
    CHECK_THAT(job_page, Catch::Contains(">s[0]<"));
    CHECK_THAT(job_page, Catch::Contains(">s[1]<"));
    CHECK_THAT(job_page, Catch::Contains(">#1<"));
    CHECK_THAT(job_page, Catch::Contains(">" + fail_worker + "<"));
    CHECK_THAT(job_page, Catch::Contains(">succeeded<"));
    CHECK_THAT(job_page, Catch::Contains(">failed<"));
    CHECK_THAT(job_page, Catch::Contains(">7<"));             // the exit code column
    CHECK_THAT(job_page, Catch::Contains(">exit_code<"));     // the reason
    CHECK_THAT(job_page, Catch::Contains(">exit code 7<"));   // the message
    CHECK_THAT(job_page, Catch::Contains(">" + failed["message"].get<std::string>() + "<"));  // why it ended partial
    CHECK_THAT(job_page, Catch::Contains("href=\"" + fail_link + "/logs/s/1/1/stderr\""));
    if (has_events) {
      CHECK_THAT(job_page, Catch::Contains(">submitted<"));
      CHECK_THAT(job_page, Catch::Contains(">gave_up<"));
    } else {
      CHECK_THAT(job_page, Catch::Contains("does not serve a job event log"));
    }
  }

  // --- the running job's page: per-task progress, and its log followed live
  const std::string hold_page = browser.dump_dom(base + "#/jobs/" + hold + "/logs/s/0/1/stdout");
  {
    INFO(hold_page);
    CHECK(count_of(hold_page, "aria-valuenow=\"50\"") >= 3);  // the stage and both tasks
    CHECK_THAT(hold_page, Catch::Contains("hold task 0 working"));
    CHECK_THAT(hold_page, Catch::Contains("following · running"));
  }
  // A finished attempt's log is read to its end and not followed.
  const std::string fail_log = browser.dump_dom(base + fail_link + "/logs/s/1/1/stderr");
  {
    INFO(fail_log);
    CHECK_THAT(fail_log, Catch::Contains("bad input 1"));
    CHECK_THAT(fail_log, Catch::Contains("ended · failed"));
  }

  // --- screenshots for people: desktop overview and job pages, phone overview
  const fs::path overview_png = shots / "dashboard-overview.png", job_png = shots / "dashboard-job.png";
  const fs::path running_png = shots / "dashboard-job-running.png", phone_png = shots / "dashboard-phone.png";
  browser.screenshot(base, overview_png, 1280, 800);
  browser.screenshot(base + fail_link, job_png, 1280, 800);
  browser.screenshot(base + "#/jobs/" + hold + "/logs/s/0/1/stdout", running_png, 1280, 800);
  browser.screenshot(base, phone_png, 390, 844);
  for (const auto& png : {overview_png, job_png, running_png}) {
    INFO(png);
    CHECK(png_width(png) == 1280);
  }
  CHECK(png_width(phone_png) == 390);

  // --- the end: cancel the running job; its tasks stop
  auto cancel = c.cli({"cancel", hold});
  INFO(cancel.err);
  CHECK(cancel.exit_code == 0);
  std::ofstream(release) << "x";  // whatever the cancel missed ends too
  CHECK(wait_until([&] { return job_state(c, hold) == "cancelled"; }, 20s, 100ms));
  CHECK(wait_until([&] {
    for (const char* name : {"hold-0", "hold-1"}) {
      for (const TaskPid& p : pids.read(name)) {
        if (alive(p)) return false;
      }
    }
    return true;
  }, 20s, 50ms));
}
