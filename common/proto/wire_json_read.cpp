// wire_json's readers (see wire_json.hpp): one handler of read_json's events
// that fills the structs directly, with a table of fields per struct.
#include "common/proto/wire_json.hpp"

#include "common/proto/json_events.hpp"

#include <fmt/format.h>

#include <climits>
#include <cstdint>
#include <vector>

namespace drover {
namespace {
// ---- reading: a SAX handler that fills the structs directly -------------------

// The structs a reader fills.
enum class Kind {
  report_batch, started, finished, report, upstream,  // ReportBatch
  work_reply, assignment,                             // WorkReply
  batch_reply, result,                                // ReportBatchReply
  heartbeat, progress,                                // Heartbeat
};

// What a value is read into.
enum class Type {
  skip,  // an unknown key: any value, ignored
  int64, int32, uint64, real, boolean, text, state,
  texts, int64s, text_map,  // vector<string>, vector<int64_t>, map<string, string>
  object, objects,          // a struct of `kind`, a vector of them
};

struct Slot {
  Type type = Type::skip;
  void* at = nullptr;
  Kind kind = Kind::report_batch;  // object(s)
};

template <class T>
Slot slot(Type type, T* at) {
  return {type, at, Kind::report_batch};
}
template <class T>
Slot object_slot(Type type, Kind kind, T* at) {
  return {type, at, kind};
}

// The slot for `key` in an object of `kind` at `at`.
Slot field(Kind kind, void* at, std::string_view key) {
  switch (kind) {
    case Kind::report_batch: {
      auto& b = *static_cast<ReportBatch*>(at);
      if (key == "started") return object_slot(Type::objects, Kind::started, &b.started);
      if (key == "finished") return object_slot(Type::objects, Kind::finished, &b.finished);
      break;
    }
    case Kind::started: {
      auto& r = *static_cast<StartedReport*>(at);
      if (key == "attempt_id") return slot(Type::int64, &r.attempt_id);
      if (key == "started_at") return slot(Type::int64, &r.started_at);
      break;
    }
    case Kind::finished: {
      auto& r = *static_cast<FinishedReport*>(at);
      if (key == "attempt_id") return slot(Type::int64, &r.attempt_id);
      if (key == "report") return object_slot(Type::object, Kind::report, &r.report);
      break;
    }
    case Kind::report: {
      auto& r = *static_cast<AttemptReport*>(at);
      if (key == "state") return slot(Type::state, &r.state);
      if (key == "exit_code") return slot(Type::int32, &r.exit_code);
      if (key == "signal") return slot(Type::int32, &r.signal);
      if (key == "reason") return slot(Type::text, &r.reason);
      if (key == "message") return slot(Type::text, &r.message);
      if (key == "output_digest") return slot(Type::text, &r.output_digest);
      if (key == "output_bytes") return slot(Type::uint64, &r.output_bytes);
      if (key == "stdout_digest") return slot(Type::text, &r.stdout_digest);
      if (key == "stderr_digest") return slot(Type::text, &r.stderr_digest);
      if (key == "started_at") return slot(Type::int64, &r.started_at);
      if (key == "finished_at") return slot(Type::int64, &r.finished_at);
      if (key == "checkpoint_digest") return slot(Type::text, &r.checkpoint_digest);
      if (key == "cpu_ms") return slot(Type::int64, &r.cpu_ms);
      if (key == "missing_upstream") return object_slot(Type::objects, Kind::upstream, &r.missing_upstream);
      break;
    }
    case Kind::upstream: {
      auto& u = *static_cast<UpstreamOutput*>(at);
      if (key == "stage") return slot(Type::text, &u.stage);
      if (key == "index") return slot(Type::int64, &u.index);
      if (key == "digest") return slot(Type::text, &u.digest);
      break;
    }
    case Kind::work_reply: {
      auto& w = *static_cast<WorkReply*>(at);
      if (key == "assignments") return object_slot(Type::objects, Kind::assignment, &w.assignments);
      if (key == "kill") return slot(Type::int64s, &w.kill);
      if (key == "drain") return slot(Type::boolean, &w.drain);
      break;
    }
    case Kind::assignment: {
      auto& a = *static_cast<Assignment*>(at);
      if (key == "attempt_id") return slot(Type::int64, &a.attempt_id);
      if (key == "job") return slot(Type::text, &a.job);
      if (key == "stage") return slot(Type::text, &a.stage);
      if (key == "index") return slot(Type::int64, &a.index);
      if (key == "count") return slot(Type::int64, &a.count);
      if (key == "attempt") return slot(Type::int32, &a.attempt);
      if (key == "input_kind") return slot(Type::text, &a.input_kind);
      if (key == "input") return slot(Type::text, &a.input);
      if (key == "inputs") return slot(Type::texts, &a.inputs);
      if (key == "partition") return slot(Type::int64, &a.partition);
      if (key == "bundle_digest") return slot(Type::text, &a.bundle_digest);
      if (key == "command") return slot(Type::texts, &a.command);
      if (key == "env") return slot(Type::text_map, &a.env);
      if (key == "timeout_ms") return slot(Type::int64, &a.timeout_ms);
      if (key == "checkpoint_interval_ms") return slot(Type::int64, &a.checkpoint_interval_ms);
      if (key == "cpus") return slot(Type::real, &a.cpus);
      if (key == "memory") return slot(Type::uint64, &a.memory);
      if (key == "upstream") return object_slot(Type::objects, Kind::upstream, &a.upstream);
      if (key == "checkpoint_digest") return slot(Type::text, &a.checkpoint_digest);
      break;
    }
    case Kind::batch_reply: {
      auto& r = *static_cast<ReportBatchReply*>(at);
      if (key == "started") return object_slot(Type::objects, Kind::result, &r.started);
      if (key == "finished") return object_slot(Type::objects, Kind::result, &r.finished);
      break;
    }
    case Kind::result: {
      auto& r = *static_cast<ReportResult*>(at);
      if (key == "attempt_id") return slot(Type::int64, &r.attempt_id);
      if (key == "status") return slot(Type::int32, &r.status);
      if (key == "code") return slot(Type::text, &r.code);
      if (key == "message") return slot(Type::text, &r.message);
      break;
    }
    case Kind::heartbeat: {
      auto& h = *static_cast<Heartbeat*>(at);
      if (key == "running") return object_slot(Type::objects, Kind::progress, &h.running);
      if (key == "log_token") return slot(Type::text, &h.log_token);
      break;
    }
    case Kind::progress: {
      auto& p = *static_cast<AttemptProgress*>(at);
      if (key == "attempt_id") return slot(Type::int64, &p.attempt_id);
      if (key == "progress") return slot(Type::real, &p.progress);
      break;
    }
  }
  return {};
}

template <class T>
void* append_to(void* list) {
  return &static_cast<std::vector<T>*>(list)->emplace_back();
}

// A new element at the end of a vector of `kind`.
void* append(Kind kind, void* list) {
  switch (kind) {
    case Kind::started: return append_to<StartedReport>(list);
    case Kind::finished: return append_to<FinishedReport>(list);
    case Kind::upstream: return append_to<UpstreamOutput>(list);
    case Kind::assignment: return append_to<Assignment>(list);
    case Kind::result: return append_to<ReportResult>(list);
    case Kind::progress: return append_to<AttemptProgress>(list);
    default: return nullptr;  // no list holds the others
  }
}

template <class T>
std::size_t size_of(void* list) {
  return static_cast<std::vector<T>*>(list)->size();
}

// How many elements a vector of `kind`, or a vector slot, holds.
std::size_t list_size(Type type, Kind kind, void* list) {
  if (type == Type::texts) return size_of<std::string>(list);
  if (type == Type::int64s) return size_of<std::int64_t>(list);
  switch (kind) {
    case Kind::started: return size_of<StartedReport>(list);
    case Kind::finished: return size_of<FinishedReport>(list);
    case Kind::upstream: return size_of<UpstreamOutput>(list);
    case Kind::assignment: return size_of<Assignment>(list);
    case Kind::result: return size_of<ReportResult>(list);
    case Kind::progress: return size_of<AttemptProgress>(list);
    default: return 0;
  }
}

// A repeated key replaces the whole value, as in nlohmann's DOM.
void reset(const Slot& s) {
  switch (s.type) {
    case Type::texts: static_cast<std::vector<std::string>*>(s.at)->clear(); break;
    case Type::int64s: static_cast<std::vector<std::int64_t>*>(s.at)->clear(); break;
    case Type::text_map: static_cast<std::map<std::string, std::string>*>(s.at)->clear(); break;
    case Type::object:  // only "report" is an object slot
      if (s.kind == Kind::report) *static_cast<AttemptReport*>(s.at) = AttemptReport{};
      break;
    case Type::objects:
      switch (s.kind) {
        case Kind::started: static_cast<std::vector<StartedReport>*>(s.at)->clear(); break;
        case Kind::finished: static_cast<std::vector<FinishedReport>*>(s.at)->clear(); break;
        case Kind::upstream: static_cast<std::vector<UpstreamOutput>*>(s.at)->clear(); break;
        case Kind::assignment: static_cast<std::vector<Assignment>*>(s.at)->clear(); break;
        case Kind::result: static_cast<std::vector<ReportResult>*>(s.at)->clear(); break;
        case Kind::progress: static_cast<std::vector<AttemptProgress>*>(s.at)->clear(); break;
        default: break;
      }
      break;
    default: break;
  }
}

// get<T>() of a double casts; out of range, where a cast is undefined, the nearest end.
std::int64_t to_signed(double d) {
  if (d != d) return 0;
  if (!(d > -9.2e18)) return INT64_MIN;
  return d < 9.2e18 ? static_cast<std::int64_t>(d) : INT64_MAX;
}
std::uint64_t to_unsigned(double d) {
  if (!(d >= 0)) return static_cast<std::uint64_t>(to_signed(d));  // wraps, like an integer
  return d < 1.8e19 ? static_cast<std::uint64_t>(d) : UINT64_MAX;
}

// One reader per message. The root object is `root` of `kind`.
class Reader final : public JsonEvents {
 public:
  Reader(Kind kind, void* root) : root_{Type::object, root, kind} {}

  const std::string& error() const { return error_; }

  bool null() override { return scalar("null", [&](const Slot& s) { return s.type == Type::state ? set_state(s, {}) : false; }); }
  bool boolean(bool v) override {
    return scalar("a boolean", [&](const Slot& s) {
      // Like get<T>(): an int takes a boolean as 0 or 1; 64-bit integers and doubles do not.
      if (s.type == Type::boolean) return put(s, v);
      if (s.type == Type::int32) return put(s, static_cast<int>(v));
      return s.type == Type::state ? set_state(s, {}) : false;
    });
  }
  bool number_integer(std::int64_t v) override {
    return number(v, static_cast<std::uint64_t>(v), static_cast<double>(v));
  }
  bool number_unsigned(std::uint64_t v) override {
    return number(static_cast<std::int64_t>(v), v, static_cast<double>(v));
  }
  bool number_float(double v) override { return number(to_signed(v), to_unsigned(v), v); }
  bool string(std::string& v) override {
    if (!frames_.empty()) {
      const Slot& open = frames_.back().slot;
      if (open.type == Type::text_map) {
        (*static_cast<std::map<std::string, std::string>*>(open.at))[key_] = std::move(v);
        return true;
      }
      if (open.type == Type::texts) {
        static_cast<std::vector<std::string>*>(open.at)->push_back(std::move(v));
        return true;
      }
    }
    return scalar("a string", [&](const Slot& s) {
      if (s.type == Type::text) return put(s, std::move(v));
      if (s.type == Type::state) return set_state(s, attempt_state_from_string(v).value_or(AttemptState{}));
      return false;
    });
  }
  bool start_object() override {
    if (frames_.empty()) return open(root_);
    if (skipping()) return open({});
    if (in_map()) return fail("must be a string, not an object");
    if (in_list()) {
      const Slot& list = frames_.back().slot;
      if (list.type != Type::objects) return fail(must_be(element_type()) + ", not an object");
      return open({Type::object, append(list.kind, list.at), list.kind});
    }
    const Slot s = slot_;
    if (s.type == Type::object || s.type == Type::text_map) {
      reset(s);
      return open(s);
    }
    if (s.type == Type::state) set_state(s, {});  // not a state: the first one, like nlohmann
    else if (s.type != Type::skip) return fail(must_be(s.type) + ", not an object");
    return open({});
  }
  bool end_object() override { return close(); }

  bool start_array() override {
    if (frames_.empty()) return fail("the body must be a JSON object");
    if (skipping()) return open({});
    if (in_map()) return fail("must be a string, not an array");
    if (in_list()) return fail(must_be(element_type()) + ", not an array");
    const Slot s = slot_;
    if (s.type == Type::objects || s.type == Type::texts || s.type == Type::int64s) {
      reset(s);
      return open(s);
    }
    if (s.type == Type::state) set_state(s, {});
    else if (s.type != Type::skip) return fail(must_be(s.type) + ", not an array");
    return open({});
  }
  bool end_array() override { return close(); }

  bool key(std::string& k) override {
    key_ = k;
    if (skipping() || frames_.back().slot.type == Type::text_map) return true;
    const Slot& object = frames_.back().slot;
    slot_ = field(object.kind, object.at, k);
    return true;
  }

 private:
  // An open object or array: where its values go, and the key it is the value of.
  struct Frame {
    Slot slot;  // Type::skip: an ignored value
    std::string key;
  };

  bool skipping() const { return !frames_.empty() && frames_.back().slot.type == Type::skip; }
  bool in_map() const { return frames_.back().slot.type == Type::text_map; }
  bool in_list() const {
    const Type t = frames_.back().slot.type;
    return t == Type::objects || t == Type::texts || t == Type::int64s;
  }
  Type element_type() const {
    const Type t = frames_.back().slot.type;
    return t == Type::texts ? Type::text : t == Type::int64s ? Type::int64 : Type::object;
  }
  bool open(const Slot& s) {
    frames_.push_back({s, key_});
    slot_ = {};
    return true;
  }
  bool close() {
    key_ = frames_.back().key;
    frames_.pop_back();
    slot_ = {};  // the value is complete; the next key sets the slot again
    return true;
  }

  template <class T>
  static bool put(const Slot& s, T v) {
    *static_cast<T*>(s.at) = std::move(v);
    return true;
  }
  static bool set_state(const Slot& s, AttemptState v) { return put(s, v); }

  // A scalar value: `accept` stores it or says it does not fit the slot.
  template <class Accept>
  bool scalar(const char* what, Accept&& accept) {
    if (frames_.empty()) return fail("the body must be a JSON object");
    if (skipping()) return true;
    if (in_map()) return fail(std::string("must be a string, not ") + what);
    if (in_list()) return fail(must_be(element_type()) + ", not " + what);
    if (slot_.type == Type::skip || accept(slot_)) return true;
    return fail(must_be(slot_.type) + ", not " + what);
  }

  bool number(std::int64_t v, std::uint64_t u, double d) {
    if (!frames_.empty() && frames_.back().slot.type == Type::int64s) {
      static_cast<std::vector<std::int64_t>*>(frames_.back().slot.at)->push_back(v);
      return true;
    }
    return scalar("a number", [&](const Slot& s) {
      switch (s.type) {
        case Type::int64: return put(s, v);
        case Type::int32: return put(s, static_cast<int>(v));
        case Type::uint64: return put(s, u);
        case Type::real: return put(s, d);
        case Type::state: return set_state(s, {});
        default: return false;
      }
    });
  }

  static std::string must_be(Type t) {
    switch (t) {
      case Type::int64: case Type::int32: case Type::uint64: case Type::real: return "must be a number";
      case Type::boolean: return "must be a boolean";
      case Type::text: return "must be a string";
      case Type::texts: case Type::int64s: case Type::objects: return "must be an array";
      case Type::object: case Type::text_map: return "must be an object";
      default: return "unexpected value";
    }
  }

  // "finished[2].report.exit_code: must be a number"
  bool fail(const std::string& why) {
    if (!error_.empty()) return false;
    std::string path;
    for (std::size_t i = 1; i < frames_.size(); ++i) {
      const Slot& parent = frames_[i - 1].slot;
      if (parent.type == Type::objects) {
        path += fmt::format("[{}]", list_size(parent.type, parent.kind, parent.at) - 1);
      } else {
        if (!path.empty()) path += '.';
        path += frames_[i].key;
      }
    }
    if (!frames_.empty() && in_list()) {
      const Slot& list = frames_.back().slot;
      path += fmt::format("[{}]", list_size(list.type, list.kind, list.at));
    } else if (!frames_.empty() && !key_.empty()) {
      if (!path.empty()) path += '.';
      path += key_;
    }
    error_ = path.empty() ? why : path + ": " + why;
    return false;
  }

  Slot root_;
  std::vector<Frame> frames_;
  std::string key_;  // the last key read
  Slot slot_;        // where the value of key_ goes
  std::string error_;
};

template <class T>
Result<T> read_message(std::string_view body, Kind kind) {
  T message;
  Reader reader(kind, &message);
  std::string syntax;
  if (!read_json(body, reader, syntax) || !reader.error().empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "bad JSON body: " + (reader.error().empty() ? syntax : reader.error()));
  }
  return message;
}

}  // namespace

Result<ReportBatch> parse_report_batch(std::string_view body) {
  return read_message<ReportBatch>(body, Kind::report_batch);
}

Result<WorkReply> parse_work_reply(std::string_view body) {
  return read_message<WorkReply>(body, Kind::work_reply);
}

Result<ReportBatchReply> parse_report_batch_reply(std::string_view body) {
  return read_message<ReportBatchReply>(body, Kind::batch_reply);
}

Result<Heartbeat> parse_heartbeat(std::string_view body) {
  return read_message<Heartbeat>(body, Kind::heartbeat);
}

}  // namespace drover
