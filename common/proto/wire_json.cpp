#include "common/proto/wire_json.hpp"

#include "common/proto/json_events.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <vector>

namespace drover {
namespace {

// ---- writing (the readers are in wire_json_read.cpp) ---------------------------

// Thrown when a string is not valid UTF-8: the caller leaves it to nlohmann.
struct NotUtf8 {};

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void raw(std::string_view s) { out_.append(s); }
  void str(std::string_view s) {
    if (!append_json_string(out_, s)) throw NotUtf8{};
  }
  void num(std::int64_t v) { append(fmt::format_int(v)); }
  void unum(std::uint64_t v) { append(fmt::format_int(v)); }
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
  void append(const fmt::format_int& digits) { out_.append(digits.data(), digits.size()); }

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

void write(Writer& w, const AttemptReport& r) {
  w.raw("{");
  w.key("checkpoint_digest", true), w.str(r.checkpoint_digest);
  w.key("cpu_ms"), w.num(r.cpu_ms);
  w.key("exit_code"), w.num(r.exit_code);
  w.key("finished_at"), w.num(r.finished_at);
  w.key("message"), w.str(r.message);
  w.key("missing_upstream"), w.list(r.missing_upstream, [&](const UpstreamOutput& u) { write(w, u); });
  w.key("output_bytes"), w.unum(r.output_bytes);
  w.key("output_digest"), w.str(r.output_digest);
  w.key("reason"), w.str(r.reason);
  w.key("signal"), w.num(r.signal);
  w.key("started_at"), w.num(r.started_at);
  w.key("state"), w.str(to_string(r.state));
  w.key("stderr_digest"), w.str(r.stderr_digest);
  w.key("stdout_digest"), w.str(r.stdout_digest);
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

std::optional<std::string> report_batch_json(const ReportBatch& batch) {
  return render([&](Writer& w) {
    w.raw("{");
    w.key("finished", true), w.list(batch.finished, [&](const FinishedReport& f) {
      w.raw("{");
      w.key("attempt_id", true), w.num(f.attempt_id);
      w.key("report"), write(w, f.report);
      w.raw("}");
    });
    w.key("started"), w.list(batch.started, [&](const StartedReport& r) {
      w.raw("{");
      w.key("attempt_id", true), w.num(r.attempt_id);
      w.key("started_at"), w.num(r.started_at);
      w.raw("}");
    });
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

std::optional<std::string> heartbeat_reply_json(const HeartbeatReply& reply) {
  return render([&](Writer& w) {
    w.raw("{");
    w.key("kill", true), w.list(reply.kill, [&](std::int64_t id) { w.num(id); });
    w.key("reregister"), w.boolean(reply.reregister);
    w.raw("}");
  });
}

}  // namespace drover
