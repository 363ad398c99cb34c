// The hand-written JSON of the hot worker-protocol messages against
// nlohmann's: the same bytes out, the same structs in.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "common/proto/json_events.hpp"
#include "common/proto/wire_json.hpp"

using namespace drover;
using nlohmann::json;

namespace {

// Strings that exercise every escape, multi-byte UTF-8 and plain runs.
std::string random_text(std::mt19937& rng) {
  static const std::vector<std::string> pieces = {
      "", "a", "job-7", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", std::string(1, '\0'),
      "\x01", "\x1f", "\x7f", " ", "é", "€", "😀", "日本", "{\"k\":[1]}", "line\nnext"};
  std::string s;
  const int n = static_cast<int>(rng() % 6);
  for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
  return s;
}

std::int64_t random_int(std::mt19937& rng) {
  static const std::vector<std::int64_t> values = {
      0, 1, -1, 7, 30000, -42, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1'700'000'000'123};
  return values[rng() % values.size()];
}

Assignment random_assignment(std::mt19937& rng) {
  Assignment a;
  a.attempt_id = random_int(rng);
  a.job = random_text(rng);
  a.stage = random_text(rng);
  a.index = random_int(rng);
  a.count = random_int(rng);
  a.attempt = static_cast<int>(rng() % 5);
  a.input_kind = random_text(rng);
  a.input = random_text(rng);
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) a.inputs.push_back(random_text(rng));
  a.partition = random_int(rng);
  a.bundle_digest = random_text(rng);
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) a.command.push_back(random_text(rng));
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) a.env[random_text(rng)] = random_text(rng);
  a.timeout_ms = random_int(rng);
  a.checkpoint_interval_ms = random_int(rng);
  static const std::vector<double> cpus = {1, 0.5, 0.25, 2, 16, 0.1, 1e-7, 3.75, 1e20};
  a.cpus = cpus[rng() % cpus.size()];
  a.memory = rng() % 2 ? 0 : UINT64_MAX - rng() % 1000;
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) {
    a.upstream.push_back({random_text(rng), random_int(rng), random_text(rng)});
  }
  a.checkpoint_digest = random_text(rng);
  return a;
}

AttemptReport random_report(std::mt19937& rng) {
  static const std::vector<AttemptState> states = {AttemptState::succeeded, AttemptState::failed,
                                                   AttemptState::killed, AttemptState::running};
  AttemptReport r;
  r.state = states[rng() % states.size()];
  r.exit_code = static_cast<int>(random_int(rng) % 256);
  r.signal = static_cast<int>(rng() % 32);
  r.reason = random_text(rng);
  r.message = random_text(rng);
  r.output_digest = random_text(rng);
  r.output_bytes = rng() % 2 ? rng() : UINT64_MAX;
  r.stdout_digest = random_text(rng);
  r.stderr_digest = random_text(rng);
  r.started_at = random_int(rng);
  r.finished_at = random_int(rng);
  r.checkpoint_digest = random_text(rng);
  r.cpu_ms = random_int(rng);
  for (int i = static_cast<int>(rng() % 3); i > 0; --i) {
    r.missing_upstream.push_back({random_text(rng), random_int(rng), random_text(rng)});
  }
  return r;
}

ReportBatch random_batch(std::mt19937& rng) {
  ReportBatch b;
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) b.started.push_back({random_int(rng), random_int(rng)});
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) b.finished.push_back({random_int(rng), random_report(rng)});
  return b;
}

WorkReply random_work_reply(std::mt19937& rng) {
  WorkReply reply;
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) reply.assignments.push_back(random_assignment(rng));
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) reply.kill.push_back(random_int(rng));
  reply.drain = rng() % 2 == 0;
  return reply;
}

ReportBatchReply random_batch_reply(std::mt19937& rng) {
  ReportBatchReply reply;
  for (int i = static_cast<int>(rng() % 4); i > 0; --i) {
    ReportResult r;
    r.attempt_id = random_int(rng);
    r.status = rng() % 2 ? 200 : 409;
    r.code = random_text(rng);
    r.message = random_text(rng);
    (rng() % 2 ? reply.started : reply.finished).push_back(r);
  }
  return reply;
}

// What nlohmann reads from `body`, as JSON (the structs have no operator==).
json nlohmann_reads(const std::string& body) { return json(json::parse(body).get<ReportBatch>()); }

json ours_reads(const std::string& body) {
  auto batch = parse_report_batch(body);
  REQUIRE(batch.ok());
  return json(*batch);
}

std::string parse_error_of(const std::string& body) {
  auto batch = parse_report_batch(body);
  REQUIRE_FALSE(batch.ok());
  CHECK(batch.error().code == ErrorCode::invalid_argument);
  return batch.error().message;
}

}  // namespace

TEST_CASE("work replies are written byte for byte as nlohmann writes them") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 500; ++round) {
    const WorkReply reply = random_work_reply(rng);
    const std::string expected = json(reply).dump();
    REQUIRE(work_reply_json(reply) == std::optional<std::string>(expected));
  }
  CHECK(*work_reply_json(WorkReply{}) == json(WorkReply{}).dump());
}

TEST_CASE("report batch replies are written byte for byte as nlohmann writes them") {
  std::mt19937 rng(777);
  for (int round = 0; round < 200; ++round) {
    const ReportBatchReply reply = random_batch_reply(rng);
    REQUIRE(*report_batch_reply_json(reply) == json(reply).dump());
  }
}

TEST_CASE("strings that are not UTF-8 are left to nlohmann") {
  std::string out = "x";
  for (const std::string bad : {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    CHECK_FALSE(append_json_string(out, bad));
    CHECK(out == "x");  // unchanged
  }
  WorkReply reply;
  reply.assignments.emplace_back();
  reply.assignments[0].job = "bad\xff";
  CHECK_FALSE(work_reply_json(reply).has_value());
}

TEST_CASE("report batches read the same structs as nlohmann reads") {
  std::mt19937 rng(4242);
  for (int round = 0; round < 500; ++round) {
    const std::string body = json(random_batch(rng)).dump();
    REQUIRE(ours_reads(body) == nlohmann_reads(body));
  }
}

TEST_CASE("report batches follow nlohmann's rules for missing, unknown, repeated and odd values") {
  const std::vector<std::string> bodies = {
      R"({})",
      R"({"started":[]})",
      R"({"started":[{}],"finished":[{}]})",
      R"({"finished":[{"attempt_id":3,"report":{}}]})",
      // unknown keys, with nested values, anywhere
      R"({"x":{"started":[1,{"y":[]}]},"started":[{"attempt_id":1,"zz":[{"a":{}}],"started_at":5}],)"
      R"("finished":[{"extra":null,"attempt_id":2,"report":{"state":"succeeded","q":[[[]]],"cpu_ms":9}}]})",
      // a repeated key: the last one counts, whole
      R"({"started":[{"attempt_id":1}],"started":[{"attempt_id":2},{"attempt_id":3}]})",
      R"({"finished":[{"report":{"reason":"a","cpu_ms":4},"report":{"message":"b"}}]})",
      // numbers convert like get<T>(): floats truncate, an int takes booleans as 0 and 1
      R"({"started":[{"attempt_id":7.9,"started_at":-2}],"finished":[{"attempt_id":1,)"
      R"("report":{"exit_code":-3.5,"output_bytes":18446744073709551615,"signal":true}}]})",
      // an unknown or odd state reads as the first one
      R"({"finished":[{"report":{"state":"exploded"}},{"report":{"state":3}},)"
      R"({"report":{"state":null}},{"report":{"state":{"a":1}}},{"report":{"state":[1]}}]})",
      R"({"finished":[{"report":{"missing_upstream":[{"stage":"s","index":2,"digest":"d"},{}]}}]})",
      R"(  {"started" : [ { "attempt_id" : 1 } ] }  )",
  };
  for (const auto& body : bodies) {
    INFO(body);
    CHECK(ours_reads(body) == nlohmann_reads(body));
  }
}

TEST_CASE("a bad report batch is refused with the field it is about") {
  CHECK_THAT(parse_error_of("[]"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(parse_error_of("5"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(parse_error_of("null"), Catch::Contains("must be a JSON object"));
  CHECK_THAT(parse_error_of(R"({"started":5})"), Catch::Contains("started: must be an array"));
  CHECK_THAT(parse_error_of(R"({"started":[{"attempt_id":1},7]})"),
             Catch::Contains("started[1]: must be an object"));
  CHECK_THAT(parse_error_of(R"({"started":[{"attempt_id":"x"}]})"),
             Catch::Contains("started[0].attempt_id: must be a number"));
  CHECK_THAT(parse_error_of(R"({"finished":[{},{"report":{"exit_code":null}}]})"),
             Catch::Contains("finished[1].report.exit_code: must be a number"));
  CHECK_THAT(parse_error_of(R"({"started":[{"started_at":true}]})"),
             Catch::Contains("started[0].started_at: must be a number, not a boolean"));
  CHECK_THAT(parse_error_of(R"({"finished":[{"report":{"message":4}}]})"),
             Catch::Contains("finished[0].report.message: must be a string"));
  CHECK_THAT(parse_error_of(R"({"finished":[{"report":[]}]})"),
             Catch::Contains("finished[0].report: must be an object"));
  CHECK_THAT(parse_error_of(R"({"finished":[{"report":{"missing_upstream":[{"index":[]}]}}]})"),
             Catch::Contains("finished[0].report.missing_upstream[0].index: must be a number"));
  CHECK_THAT(parse_error_of(R"({"started":[)"), Catch::Contains("parse error"));
  CHECK_THAT(parse_error_of(R"({"started":[]} x)"), Catch::Contains("parse error"));
  CHECK_THAT(parse_error_of(""), Catch::Contains("parse error"));
  // Whatever we refuse, nlohmann refuses too.
  for (const std::string body : {"[]", "5", R"({"started":5})", R"({"started":[7]})",
                                 R"({"started":[{"attempt_id":"x"}]})", R"({"finished":[{"report":[]}]})",
                                 R"({"finished":[{"report":{"message":4}}]})",
                                 R"({"started":[{"started_at":true}]})"}) {
    INFO(body);
    CHECK_THROWS(nlohmann_reads(body));
  }
}

TEST_CASE("report batches are written byte for byte as nlohmann writes them") {
  std::mt19937 rng(99);
  for (int round = 0; round < 300; ++round) {
    const ReportBatch batch = random_batch(rng);
    REQUIRE(*report_batch_json(batch) == json(batch).dump());
  }
}

TEST_CASE("work replies and report batch replies read the same structs as nlohmann reads") {
  std::mt19937 rng(2024);
  for (int round = 0; round < 300; ++round) {
    const std::string body = json(random_work_reply(rng)).dump();
    auto ours = parse_work_reply(body);
    REQUIRE(ours.ok());
    REQUIRE(json(*ours) == json(json::parse(body).get<WorkReply>()));

    const std::string reply_body = json(random_batch_reply(rng)).dump();
    auto read = parse_report_batch_reply(reply_body);
    REQUIRE(read.ok());
    REQUIRE(json(*read) == json(json::parse(reply_body).get<ReportBatchReply>()));
  }
  const std::vector<std::string> odd = {
      R"({})",
      R"({"assignments":[{}],"kill":[1,2.7,-3],"drain":true,"later":{"x":[1]}})",
      R"({"assignments":[{"env":{"A":"1","B":"2"},"env":{"C":"3"},"command":["a"],"command":["b","c"],)"
      R"("cpus":2,"memory":5.5,"attempt":true,"upstream":[{"stage":"s"}],"inputs":[]}]})",
  };
  for (const auto& body : odd) {
    INFO(body);
    auto ours = parse_work_reply(body);
    REQUIRE(ours.ok());
    CHECK(json(*ours) == json(json::parse(body).get<WorkReply>()));
  }
  for (const std::string bad : {R"({"kill":[true]})", R"({"kill":["1"]})", R"({"kill":5})",
                                R"({"drain":1})", R"({"assignments":[{"env":{"A":1}}]})",
                                R"({"assignments":[{"env":[]}]})", R"({"assignments":[{"command":"ls"}]})",
                                R"({"assignments":[{"command":[1]}]})", R"({"assignments":[{"cpus":true}]})",
                                R"({"assignments":{}})"}) {
    INFO(bad);
    CHECK_FALSE(parse_work_reply(bad).ok());
    CHECK_THROWS(json::parse(bad).get<WorkReply>());
  }
  CHECK_THAT(parse_work_reply(R"({"assignments":[{},{"env":{"HOME":7}}]})").error().message,
             Catch::Contains("assignments[1].env.HOME: must be a string, not a number"));
  CHECK_THAT(parse_work_reply(R"({"kill":[1,"x"]})").error().message,
             Catch::Contains("kill[1]: must be a number, not a string"));
}

TEST_CASE("heartbeats read the same structs as nlohmann reads and their replies are written as it writes them") {
  std::mt19937 rng(31337);
  static const std::vector<double> progress = {-1, 0, 0.5, 1, 0.333, 1e-9};
  for (int round = 0; round < 300; ++round) {
    Heartbeat hb;
    for (int i = static_cast<int>(rng() % 4); i > 0; --i) {
      hb.running.push_back({random_int(rng), progress[rng() % progress.size()]});
    }
    hb.log_token = random_text(rng);
    const std::string body = json(hb).dump();
    auto ours = parse_heartbeat(body);
    REQUIRE(ours.ok());
    REQUIRE(json(*ours) == json(json::parse(body).get<Heartbeat>()));

    HeartbeatReply reply;
    for (int i = static_cast<int>(rng() % 4); i > 0; --i) reply.kill.push_back(random_int(rng));
    reply.reregister = rng() % 2 == 0;
    REQUIRE(*heartbeat_reply_json(reply) == json(reply).dump());
  }
  const std::vector<std::string> odd = {
      R"({})",
      R"({"log_token":"","running":[]})",
      R"({"running":[{}],"log_token":"t","later":[{"x":1}]})",
      R"({"running":[{"attempt_id":1}],"running":[{"attempt_id":2.9,"progress":1}],"log_token":"a","log_token":"b"})",
  };
  for (const auto& body : odd) {
    INFO(body);
    auto ours = parse_heartbeat(body);
    REQUIRE(ours.ok());
    CHECK(json(*ours) == json(json::parse(body).get<Heartbeat>()));
  }
  for (const std::string bad : {R"([])", R"({"running":{}})", R"({"running":[1]})", R"({"log_token":5})",
                                R"({"running":[{"attempt_id":"7"}]})", R"({"running":[{"progress":true}]})"}) {
    INFO(bad);
    CHECK_FALSE(parse_heartbeat(bad).ok());
    CHECK_THROWS(json::parse(bad).get<Heartbeat>());
  }
  CHECK_THAT(parse_heartbeat(R"({"running":[{},{"progress":"half"}]})").error().message,
             Catch::Contains("running[1].progress: must be a number, not a string"));
}

namespace {

// Every event as text, doubles by their bits: for read_json and for nlohmann's
// SAX parser alike.
struct EventLog {
  std::vector<std::string> events;
  bool add(std::string e) {
    events.push_back(std::move(e));
    return true;
  }
  static std::string bits(double v) {
    std::uint64_t b = 0;
    std::memcpy(&b, &v, sizeof b);
    return "f" + std::to_string(b);
  }
};

struct OurEvents final : JsonEvents, EventLog {
  bool null() override { return add("null"); }
  bool boolean(bool v) override { return add(v ? "true" : "false"); }
  bool number_integer(std::int64_t v) override { return add("i" + std::to_string(v)); }
  bool number_unsigned(std::uint64_t v) override { return add("u" + std::to_string(v)); }
  bool number_float(double v) override { return add(bits(v)); }
  bool string(std::string& v) override { return add("s" + v); }
  bool key(std::string& k) override { return add("k" + k); }
  bool start_object() override { return add("{"); }
  bool end_object() override { return add("}"); }
  bool start_array() override { return add("["); }
  bool end_array() override { return add("]"); }
};

struct NlohmannEvents : EventLog {
  bool null() { return add("null"); }
  bool boolean(bool v) { return add(v ? "true" : "false"); }
  bool number_integer(std::int64_t v) { return add("i" + std::to_string(v)); }
  bool number_unsigned(std::uint64_t v) { return add("u" + std::to_string(v)); }
  bool number_float(double v, const std::string&) { return add(bits(v)); }
  bool string(std::string& v) { return add("s" + v); }
  bool binary(json::binary_t&) { return add("binary"); }
  bool key(std::string& k) { return add("k" + k); }
  bool start_object(std::size_t) { return add("{"); }
  bool end_object() { return add("}"); }
  bool start_array(std::size_t) { return add("["); }
  bool end_array() { return add("]"); }
  bool parse_error(std::size_t, const std::string&, const json::exception&) { return false; }
};

// What nlohmann and read_json make of `text`: the events if it is accepted.
std::optional<std::vector<std::string>> nlohmann_events(const std::string& text) {
  NlohmannEvents log;
  if (!json::sax_parse(text, &log)) return std::nullopt;
  return log.events;
}
std::optional<std::vector<std::string>> our_events(const std::string& text) {
  OurEvents log;
  std::string error;
  if (!read_json(text, log, error)) {
    CHECK_THAT(error, Catch::StartsWith("parse error at byte "));
    return std::nullopt;
  }
  return log.events;
}

}  // namespace

TEST_CASE("read_json accepts what nlohmann accepts and reads the same values") {
  std::mt19937 rng(8080);
  std::vector<std::string> docs = {
      R"({})", R"([])", R"("")", "0", "-0", "-0.0", "7", "-7", "1.5", "-1.5e3", "1E5", "2e-3", "1e+2",
      "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
      "18446744073709551615", "18446744073709551616", "123456789012345678901234567890", "1e308",
      "1e400", "-1e400", "1e-400", "4.9e-324", "0.1", "true", "false", "null", " \t\r\n 5 \n",
      "\xEF\xBB\xBF{\"a\":1}", "\xEF\xBB{}", R"("\"\\\/\b\f\n\r\t")", R"("\u0000\u001f\u00e9\u20AC")",
      R"("\ud83d\ude00")", R"("\ud83d")", R"("\ude00")", R"("\ud83d\u0041")", R"("\u12")", R"("\x")",
      "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"",
      "\"a\x01b\"", "\"tab\there\"", R"({"a":[1,{"b":null}],"c":"d"})", R"([1,2,])", R"({"a":1,})",
      R"({"a" 1})", R"({1:2})", R"([1 2])", "01", "-", "1.", ".5", "+1", "1e", "tru", "nul", "[", "{",
      R"({"a":1}})", R"([[[[[[[[]]]]]]]])", "", " ", "//c\n1", "NaN", "Infinity", "[-]", "[1e5x]",
  };
  for (int i = 0; i < 40; ++i) docs.push_back(json(random_batch(rng)).dump());
  for (int i = 0; i < 20; ++i) docs.push_back(json(random_work_reply(rng)).dump(i % 2 ? 2 : -1));
  static const std::string bytes = std::string("\"\\u{}[],:-09.eE+ tfn") + std::string(1, '\0') +
                                   "\x1f\x7f\x80\xBF\xC3\xE2\xED\xEF\xF0\xF4\xFF";
  std::size_t accepted = 0, refused = 0;
  for (const std::string& doc : docs) {
    for (int m = 0; m < (doc.size() > 3 ? 150 : 1); ++m) {
      std::string text = doc;
      if (m > 0) {
        const std::size_t at = rng() % text.size();
        switch (rng() % 4) {
          case 0: text[at] = bytes[rng() % bytes.size()]; break;
          case 1: text.erase(at, 1 + rng() % 3); break;
          case 2: text.insert(at, 1, bytes[rng() % bytes.size()]); break;
          default: text.resize(at); break;
        }
      }
      INFO(json(text).dump(-1, ' ', true, json::error_handler_t::replace));
      const auto ours = our_events(text);
      const auto theirs = nlohmann_events(text);
      if (!ours && theirs) {
        // The one difference: nlohmann takes a NUL byte after the value for
        // the end of its input and ignores what follows; read_json refuses.
        const std::size_t nul = text.find('\0');
        REQUIRE(nul != std::string::npos);
        REQUIRE(our_events(text.substr(0, nul)) == theirs);
      } else {
        REQUIRE(ours == theirs);
      }
      (ours ? accepted : refused)++;
    }
  }
  // The mutations reach both sides of the line.
  CHECK(accepted > 1000);
  CHECK(refused > 1000);
}

TEST_CASE("read_json refuses nesting deeper than kMaxJsonDepth") {
  const auto nested = [](std::size_t depth, const std::string& inner) {
    return std::string(depth, '[') + inner + std::string(depth, ']');
  };
  for (const std::string& inner : {std::string(), std::string("1"), std::string("{}")}) {
    const std::size_t extra = inner == "{}" ? 1 : 0;  // {} is a level of its own
    INFO(inner);
    CHECK(our_events(nested(kMaxJsonDepth - extra, inner)) == nlohmann_events(nested(kMaxJsonDepth - extra, inner)));
    OurEvents log;
    std::string error;
    CHECK_FALSE(read_json(nested(kMaxJsonDepth + 1 - extra, inner), log, error));
    CHECK_THAT(error, Catch::Contains("nested deeper than 64"));
  }
  // A report batch nested deep in an unknown key is refused, not held.
  auto deep = parse_report_batch(R"({"x":)" + nested(100000, "") + "}");
  REQUIRE_FALSE(deep.ok());
  CHECK_THAT(deep.error().message, Catch::Contains("nested deeper than 64"));
}
