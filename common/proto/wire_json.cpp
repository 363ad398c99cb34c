#include "common/proto/wire_json.hpp"

#include <fmt/format.h>

#include <climits>
#include <cstdint>
#include <vector>

namespace drover {
namespace {

// ---- writing -------------------------------------------------------------------

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = at(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return n;
}

// Thrown when a string is not valid UTF-8: the caller leaves it to nlohmann.
struct NotUtf8 {};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void raw(std::string_view s) { out_.append(s); }
  void str(std::string_view s) {
    if (!append_json_string(out_, s)) throw NotUtf8{};
  }
  void num(std::int64_t v) { fmt::format_to(std::back_inserter(out_), "{}", v); }
  void unum(std::uint64_t v) { fmt::format_to(std::back_inserter(out_), "{}", v); }
  void real(double v) { out_.append(nlohmann::json(v).dump()); }  // nlohmann's own digits
  void boolean(bool v) { out_.append(v ? "true" : "false"); }

  // "key": — `first` is the object's first key.
  void key(std::string_view k, bool first = false) {
    if (!first) out_.push_back(',');
    out_.push_back('"');
    out_.append(k);
    out_.append("\":");
  }

  template <class T, class Fn>
  void list(const std::vector<T>& items, Fn&& each) {
    out_.push_back('[');
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out_.push_back(',');
      each(items[i]);
    }
    out_.push_back(']');
  }

  void strings(const std::vector<std::string>& items) {
    list(items, [&](const std::string& s) { str(s); });
  }

 private:
  std::string& out_;
};

void write(Writer& w, const UpstreamOutput& u) {
  w.raw("{");
  w.key("digest", true), w.str(u.digest);
  w.key("index"), w.num(u.index);
  w.key("stage"), w.str(u.stage);
  w.raw("}");
}

// Keys in std::map order, as nlohmann writes them.
void write(Writer& w, const Assignment& a) {
  w.raw("{");
  w.key("attempt", true), w.num(a.attempt);
  w.key("attempt_id"), w.num(a.attempt_id);
  w.key("bundle_digest"), w.str(a.bundle_digest);
  w.key("checkpoint_digest"), w.str(a.checkpoint_digest);
  w.key("checkpoint_interval_ms"), w.num(a.checkpoint_interval_ms);
  w.key("command"), w.strings(a.command);
  w.key("count"), w.num(a.count);
  w.key("cpus"), w.real(a.cpus);
  w.key("env"), w.raw("{");
  bool first = true;
  for (const auto& [k, v] : a.env) {
    if (!first) w.raw(",");
    first = false;
    w.str(k), w.raw(":"), w.str(v);
  }
  w.raw("}");
  w.key("index"), w.num(a.index);
  w.key("input"), w.str(a.input);
  w.key("input_kind"), w.str(a.input_kind);
  w.key("inputs"), w.strings(a.inputs);
  w.key("job"), w.str(a.job);
  w.key("memory"), w.unum(a.memory);
  w.key("partition"), w.num(a.partition);
  w.key("stage"), w.str(a.stage);
  w.key("timeout_ms"), w.num(a.timeout_ms);
  w.key("upstream"), w.list(a.upstream, [&](const UpstreamOutput& u) { write(w, u); });
  w.raw("}");
}

void write(Writer& w, const ReportResult& r) {
  w.raw("{");
  w.key("attempt_id", true), w.num(r.attempt_id);
  w.key("code"), w.str(r.code);
  w.key("message"), w.str(r.message);
  w.key("status"), w.num(r.status);
  w.raw("}");
}

// Runs `fill` into a fresh string; nullopt on invalid UTF-8.
template <class Fill>
std::optional<std::string> render(Fill&& fill) {
  std::string out;
  out.reserve(1024);
  Writer w(out);
  try {
    fill(w);
  } catch (const NotUtf8&) {
    return std::nullopt;
  }
  return out;
}

// ---- reading: a SAX handler that fills a ReportBatch ---------------------------

// What the next value is read into.
enum class Slot {
  skip,             // an unknown key: any value, ignored
  int64, int32, uint64, text, state,
  started_list, finished_list, upstream_list,  // arrays of objects
  report,           // the "report" object of a finished item
};

// An open object or array.
enum class Frame { root, started_list, started, finished_list, finished, report, upstream_list, upstream, skip };

class BatchReader {
 public:
  explicit BatchReader(ReportBatch& out) : out_(out) {}

  const std::string& error() const { return error_; }

  bool null() {
    if (auto done = prelude()) return *done;
    if (slot_ == Slot::skip) return true;
    if (slot_ == Slot::state) return set_state(AttemptState::pending);
    return fail(expected() + ", not null");
  }
  // Like get<T>(): an int takes a boolean as 0 or 1, a 64-bit integer does not.
  bool boolean(bool v) {
    if (slot_ == Slot::int64 || slot_ == Slot::uint64) {
      if (auto done = prelude()) return *done;
      return fail(expected() + ", not a boolean");
    }
    return number(v ? 1 : 0, v ? 1U : 0U, "a boolean");
  }
  bool number_integer(std::int64_t v) { return number(v, static_cast<std::uint64_t>(v), "a number"); }
  bool number_unsigned(std::uint64_t v) { return number(static_cast<std::int64_t>(v), v, "a number"); }
  bool number_float(double v, const std::string&) {
    // get<T>() casts; out of range, where a cast is undefined, the nearest end.
    const auto to_signed = [](double d) -> std::int64_t {
      if (!(d > -9.2e18)) return d != d ? 0 : INT64_MIN;
      return d < 9.2e18 ? static_cast<std::int64_t>(d) : INT64_MAX;
    };
    const auto to_unsigned = [&](double d) -> std::uint64_t {
      if (!(d >= 0)) return static_cast<std::uint64_t>(to_signed(d));  // wraps, like an integer
      return d < 1.8e19 ? static_cast<std::uint64_t>(d) : UINT64_MAX;
    };
    return number(to_signed(v), to_unsigned(v), "a number");
  }
  bool string(std::string& v) {
    if (auto done = prelude()) return *done;
    switch (slot_) {
      case Slot::skip: return true;
      case Slot::text: *static_cast<std::string*>(target_) = std::move(v); return true;
      case Slot::state: return set_state(state_from(v));
      default: return fail(expected() + ", not a string");
    }
  }
  bool binary(nlohmann::json::binary_t&) { return fail("unexpected binary value"); }

  bool start_object(std::size_t) {
    if (frames_.empty()) return push(Frame::root);
    switch (frames_.back()) {
      case Frame::skip: ++skip_depth_; return true;
      case Frame::started_list: out_.started.emplace_back(); return push(Frame::started);
      case Frame::finished_list: out_.finished.emplace_back(); return push(Frame::finished);
      case Frame::upstream_list: report_->missing_upstream.emplace_back(); return push(Frame::upstream);
      default: break;
    }
    if (in_list()) return fail("must be an object");
    if (slot_ == Slot::report) {
      *report_ = AttemptReport{};  // a repeated key: only the last one counts
      return push(Frame::report);
    }
    if (slot_ == Slot::state) set_state(AttemptState::pending);  // not a state: the first one
    else if (slot_ != Slot::skip) return fail(expected() + ", not an object");
    return begin_skip();
  }
  bool end_object() { return pop(); }

  bool start_array(std::size_t) {
    if (frames_.empty()) return fail("the body must be a JSON object");
    if (frames_.back() == Frame::skip) {
      ++skip_depth_;
      return true;
    }
    if (in_list()) return fail("must be an object");
    switch (slot_) {
      case Slot::started_list: out_.started.clear(); return push(Frame::started_list);
      case Slot::finished_list: out_.finished.clear(); return push(Frame::finished_list);
      case Slot::upstream_list: report_->missing_upstream.clear(); return push(Frame::upstream_list);
      case Slot::state: set_state(AttemptState::pending); return begin_skip();
      case Slot::skip: return begin_skip();
      default: return fail(expected() + ", not an array");
    }
  }
  bool end_array() { return pop(); }

  bool key(std::string& k) {
    if (frames_.back() == Frame::skip) return true;
    key_ = k;
    slot_ = Slot::skip;
    target_ = nullptr;
    switch (frames_.back()) {
      case Frame::root:
        if (k == "started") slot_ = Slot::started_list;
        if (k == "finished") slot_ = Slot::finished_list;
        break;
      case Frame::started: {
        StartedReport& r = out_.started.back();
        if (k == "attempt_id") set(Slot::int64, &r.attempt_id);
        if (k == "started_at") set(Slot::int64, &r.started_at);
        break;
      }
      case Frame::finished: {
        FinishedReport& r = out_.finished.back();
        if (k == "attempt_id") set(Slot::int64, &r.attempt_id);
        if (k == "report") {
          slot_ = Slot::report;
          report_ = &r.report;
        }
        break;
      }
      case Frame::report: report_key(k, *report_); break;
      case Frame::upstream: {
        UpstreamOutput& u = report_->missing_upstream.back();
        if (k == "stage") set(Slot::text, &u.stage);
        if (k == "index") set(Slot::int64, &u.index);
        if (k == "digest") set(Slot::text, &u.digest);
        break;
      }
      default: break;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& e) {
    if (error_.empty()) error_ = e.what();
    return false;
  }

 private:
  void set(Slot slot, void* target) {
    slot_ = slot;
    target_ = target;
  }

  void report_key(const std::string& k, AttemptReport& r) {
    if (k == "state") set(Slot::state, &r.state);
    else if (k == "exit_code") set(Slot::int32, &r.exit_code);
    else if (k == "signal") set(Slot::int32, &r.signal);
    else if (k == "reason") set(Slot::text, &r.reason);
    else if (k == "message") set(Slot::text, &r.message);
    else if (k == "output_digest") set(Slot::text, &r.output_digest);
    else if (k == "output_bytes") set(Slot::uint64, &r.output_bytes);
    else if (k == "stdout_digest") set(Slot::text, &r.stdout_digest);
    else if (k == "stderr_digest") set(Slot::text, &r.stderr_digest);
    else if (k == "started_at") set(Slot::int64, &r.started_at);
    else if (k == "finished_at") set(Slot::int64, &r.finished_at);
    else if (k == "checkpoint_digest") set(Slot::text, &r.checkpoint_digest);
    else if (k == "cpu_ms") set(Slot::int64, &r.cpu_ms);
    else if (k == "missing_upstream") slot_ = Slot::upstream_list;
  }

  static AttemptState state_from(const std::string& s) {
    return attempt_state_from_string(s).value_or(AttemptState::pending);
  }

  // Value events: nullopt, or the answer when the slot does not matter.
  std::optional<bool> prelude() {
    if (frames_.empty()) return fail("the body must be a JSON object");
    if (frames_.back() == Frame::skip) return true;
    if (in_list()) return fail("must be an object");
    return std::nullopt;
  }

  bool set_state(AttemptState s) {
    *static_cast<AttemptState*>(target_) = s;
    return true;
  }

  // get<T>() of a number (or a boolean) converts with static_cast.
  bool number(std::int64_t v, std::uint64_t u, const char* what) {
    if (auto done = prelude()) return *done;
    switch (slot_) {
      case Slot::skip: return true;
      case Slot::int64: *static_cast<std::int64_t*>(target_) = v; return true;
      case Slot::int32: *static_cast<int*>(target_) = static_cast<int>(v); return true;
      case Slot::uint64: *static_cast<std::uint64_t*>(target_) = u; return true;
      case Slot::state: return set_state(AttemptState::pending);
      default: return fail(fmt::format("{}, not {}", expected(), what));
    }
  }

  std::string expected() const {
    switch (slot_) {
      case Slot::int64: case Slot::int32: case Slot::uint64: return "must be a number";
      case Slot::text: return "must be a string";
      case Slot::started_list: case Slot::finished_list: case Slot::upstream_list: return "must be an array";
      case Slot::report: return "must be an object";
      default: return "unexpected value";
    }
  }

  bool in_list() const {
    if (frames_.empty()) return false;
    const Frame f = frames_.back();
    return f == Frame::started_list || f == Frame::finished_list || f == Frame::upstream_list;
  }

  bool push(Frame f) {
    if (f != Frame::root && frames_.empty()) return fail("the body must be a JSON object");
    frames_.push_back(f);
    keys_.push_back(key_);
    slot_ = Slot::skip;
    return true;
  }

  bool begin_skip() {
    skip_depth_ = 1;
    slot_ = Slot::skip;
    frames_.push_back(Frame::skip);
    keys_.push_back(key_);
    return true;
  }

  bool pop() {
    if (frames_.back() == Frame::skip && --skip_depth_ > 0) return true;
    frames_.pop_back();
    key_ = keys_.back();
    keys_.pop_back();
    slot_ = Slot::skip;  // a value is complete; the next key sets the slot again
    return true;
  }

  // "finished[2].report.exit_code: must be a number"
  bool fail(const std::string& why) {
    if (!error_.empty()) return false;
    std::string path;
    for (std::size_t i = 1; i < frames_.size(); ++i) {
      if (!path.empty() && frames_[i - 1] != Frame::started_list &&
          frames_[i - 1] != Frame::finished_list && frames_[i - 1] != Frame::upstream_list) {
        path += '.';
      }
      switch (frames_[i - 1]) {
        case Frame::started_list: path += fmt::format("[{}]", out_.started.size() - 1); break;
        case Frame::finished_list: path += fmt::format("[{}]", out_.finished.size() - 1); break;
        case Frame::upstream_list: path += fmt::format("[{}]", report_->missing_upstream.size() - 1); break;
        default: path += keys_[i]; break;
      }
    }
    if (in_list()) {
      const std::size_t next = frames_.back() == Frame::started_list    ? out_.started.size()
                               : frames_.back() == Frame::finished_list ? out_.finished.size()
                                                                        : report_->missing_upstream.size();
      path += fmt::format("[{}]", next);
    } else if (!frames_.empty() && !key_.empty()) {
      if (!path.empty()) path += '.';
      path += key_;
    }
    error_ = path.empty() ? why : path + ": " + why;
    return false;
  }

  ReportBatch& out_;
  std::vector<Frame> frames_;
  std::vector<std::string> keys_;  // the key each open frame was the value of
  std::string key_;                // the last key read
  Slot slot_ = Slot::skip;
  void* target_ = nullptr;
  AttemptReport* report_ = nullptr;  // the finished item being read
  int skip_depth_ = 0;
  std::string error_;
};

}  // namespace

bool append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t mark = out.size();
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    // A run of bytes that need no escape is appended at once.
    std::size_t j = i;
    while (j < s.size()) {
      const auto c = static_cast<unsigned char>(s[j]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++j;
    }
    out.append(s.data() + i, j - i);
    i = j;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        out.resize(mark);
        return false;
      }
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\f': out.push_back('f'); break;
      case '\n': out.push_back('n'); break;
      case '\r': out.push_back('r'); break;
      case '\t': out.push_back('t'); break;
      default:
        out.append("u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    ++i;
  }
  out.push_back('"');
  return true;
}

std::optional<std::string> work_reply_json(const WorkReply& reply) {
  return render(
      [&](Writer& w) {
        w.raw("{");
        w.key("assignments", true);
        w.list(reply.assignments, [&](const Assignment& a) { write(w, a); });
        w.key("drain"), w.boolean(reply.drain);
        w.key("kill"), w.list(reply.kill, [&](std::int64_t id) { w.num(id); });
        w.raw("}");
      });
}

std::optional<std::string> report_batch_reply_json(const ReportBatchReply& reply) {
  return render(
      [&](Writer& w) {
        w.raw("{");
        w.key("finished", true), w.list(reply.finished, [&](const ReportResult& r) { write(w, r); });
        w.key("started"), w.list(reply.started, [&](const ReportResult& r) { write(w, r); });
        w.raw("}");
      });
}

Result<ReportBatch> parse_report_batch(std::string_view body) {
  ReportBatch batch;
  BatchReader reader(batch);
  const bool ok = nlohmann::json::sax_parse(body.begin(), body.end(), &reader);
  if (!ok || !reader.error().empty()) {
    return make_error(ErrorCode::invalid_argument, "bad JSON body: " + reader.error());
  }
  return batch;
}

}  // namespace drover
