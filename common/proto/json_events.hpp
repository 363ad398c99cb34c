#pragma once
// A JSON reader that reports what it reads as events, like nlohmann's SAX
// interface, for wire_json's hot messages. It accepts exactly the documents
// nlohmann::json::parse accepts (RFC 8259, a UTF-8 byte order mark at the
// start skipped, no comments) and reports the same events with the same
// values: integers that fit as int64 (negative) or uint64, any other number
// as a double. Two differences: nlohmann takes a NUL byte after the value for
// the end of its input and ignores what follows it, and nests without limit;
// read_json refuses both (kMaxJsonDepth bounds what a body of a few bytes per
// level can make a reader hold: nlohmann's parser and a handler's frames). It is several times cheaper per byte: nlohmann's lexer keeps
// a copy of every token for its error messages and reads byte by byte through
// an adapter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace drover {

// Objects and arrays nested deeper than this are refused. The deepest
// protocol message nests 6 levels.
inline constexpr std::size_t kMaxJsonDepth = 64;

class JsonEvents {
 public:
  virtual ~JsonEvents() = default;
  // Each returns false to stop reading (the handler keeps its own error).
  virtual bool null() = 0;
  virtual bool boolean(bool v) = 0;
  virtual bool number_integer(std::int64_t v) = 0;
  virtual bool number_unsigned(std::uint64_t v) = 0;
  virtual bool number_float(double v) = 0;
  virtual bool string(std::string& v) = 0;  // the handler may move from v
  virtual bool key(std::string& k) = 0;
  virtual bool start_object() = 0;
  virtual bool end_object() = 0;
  virtual bool start_array() = 0;
  virtual bool end_array() = 0;
};

// Reads `text` whole. True when it is one JSON value (with whitespace around
// it) and every event returned true. A syntax error sets `error` ("parse
// error at byte 12: ...") and returns false; a handler's false returns
// false with `error` untouched.
bool read_json(std::string_view text, JsonEvents& events, std::string& error);

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i);

}  // namespace drover
