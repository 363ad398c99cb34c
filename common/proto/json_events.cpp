#include "common/proto/json_events.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

namespace drover {

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

namespace {

class Scanner {
 public:
  Scanner(std::string_view text, JsonEvents& events, std::string& error)
      : s_(text), ev_(events), error_(error) {}

  bool run() {
    if (!s_.empty() && byte(0) == 0xEF) {  // a byte order mark, as nlohmann skips it
      if (s_.size() < 3 || byte(1) != 0xBB || byte(2) != 0xBF) return fail("invalid byte order mark");
      pos_ = 3;
    }
    std::vector<char> open;  // '{' or '[' of each container being read
    for (;;) {
      // A value.
      skip_space();
      if (pos_ == s_.size()) return fail("unexpected end of input; expected a value");
      const char c = s_[pos_];
      if (c == '{' || c == '[') {
        if (open.size() == kMaxJsonDepth) return fail("nested deeper than " + std::to_string(kMaxJsonDepth));
        ++pos_;
        if (!(c == '{' ? ev_.start_object() : ev_.start_array())) return false;
        skip_space();
        const char close = c == '{' ? '}' : ']';
        if (pos_ < s_.size() && s_[pos_] == close) {
          ++pos_;
          if (!(c == '{' ? ev_.end_object() : ev_.end_array())) return false;
        } else {
          open.push_back(c);
          if (c == '{' && !member_key()) return false;
          continue;  // the first value inside
        }
      } else if (!scalar()) {
        return false;
      }
      // After a value: the next one, the end of containers, or the end of input.
      for (;;) {
        skip_space();
        if (open.empty()) {
          return pos_ == s_.size() || fail("unexpected character; expected the end of input");
        }
        if (pos_ == s_.size()) return fail("unexpected end of input");
        const char next = s_[pos_++];
        const char container = open.back();
        if (next == ',') {
          if (container == '{' && !member_key()) return false;
          break;  // the next value
        }
        if (next != (container == '{' ? '}' : ']')) {
          --pos_;
          return fail(container == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        open.pop_back();
        if (!(container == '{' ? ev_.end_object() : ev_.end_array())) return false;
      }
    }
  }

 private:
  unsigned char byte(std::size_t i) const { return static_cast<unsigned char>(s_[i]); }

  bool fail(const std::string& why) {
    error_ = fmt::format("parse error at byte {}: {}", pos_, why);
    return false;
  }

  void skip_space() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  // `"key" :` inside an object.
  bool member_key() {
    skip_space();
    if (pos_ == s_.size() || s_[pos_] != '"') return fail("expected a string as the object's key");
    if (!read_string()) return false;
    if (!ev_.key(text_)) return false;
    skip_space();
    if (pos_ == s_.size() || s_[pos_] != ':') return fail("expected ':'");
    ++pos_;
    return true;
  }

  bool scalar() {
    const char c = s_[pos_];
    if (c == '"') return read_string() && ev_.string(text_);
    if (c == '-' || (c >= '0' && c <= '9')) return read_number();
    if (literal("true")) return ev_.boolean(true);
    if (literal("false")) return ev_.boolean(false);
    if (literal("null")) return ev_.null();
    return fail("invalid value");
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool read_number() {
    const std::size_t start = pos_;
    const auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (s_[pos_] == '-') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("invalid number");
    }
    bool integer = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      integer = false;
      if (!digits()) return fail("invalid number: expected a digit after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integer = false;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return fail("invalid number: expected a digit in the exponent");
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integer) {  // as nlohmann: int64 if negative, uint64 if not, a double when it does not fit
      if (*first == '-') {
        std::int64_t v = 0;
        if (auto r = std::from_chars(first, last, v); r.ec == std::errc{}) return ev_.number_integer(v);
      } else {
        std::uint64_t v = 0;
        if (auto r = std::from_chars(first, last, v); r.ec == std::errc{}) return ev_.number_unsigned(v);
      }
    }
    double d = 0;
    if (auto r = std::from_chars(first, last, d); r.ec != std::errc{}) {
      // Out of range: strtod gives 0 for an underflow (accepted, as nlohmann
      // does) and infinity for an overflow (refused, as nlohmann does).
      d = std::strtod(std::string(first, last).c_str(), nullptr);
    }
    if (!std::isfinite(d)) return fail("number overflow");
    return ev_.number_float(d);
  }

  // The string at pos_ (its opening quote) into text_, decoded.
  bool read_string() {
    ++pos_;
    text_.clear();
    for (;;) {
      const std::size_t run = pos_;
      while (pos_ < s_.size()) {
        const unsigned char c = byte(pos_);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++pos_;
      }
      text_.append(s_.data() + run, pos_ - run);
      if (pos_ == s_.size()) return fail("unterminated string");
      const unsigned char c = byte(pos_);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c == '\\') {
        if (!read_escape()) return false;
      } else if (c < 0x20) {
        return fail("control character in a string (escape it)");
      } else {
        const std::size_t n = utf8_length(s_, pos_);
        if (n == 0) return fail("invalid UTF-8 in a string");
        text_.append(s_.data() + pos_, n);
        pos_ += n;
      }
    }
  }

  bool read_escape() {
    ++pos_;  // the backslash
    if (pos_ == s_.size()) return fail("unterminated string");
    const char e = s_[pos_++];
    switch (e) {
      case '"': text_ += '"'; return true;
      case '\\': text_ += '\\'; return true;
      case '/': text_ += '/'; return true;
      case 'b': text_ += '\b'; return true;
      case 'f': text_ += '\f'; return true;
      case 'n': text_ += '\n'; return true;
      case 'r': text_ += '\r'; return true;
      case 't': text_ += '\t'; return true;
      case 'u': break;
      default: --pos_; return fail("invalid escape in a string");
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("a low surrogate \\u escape without a high one");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t low = 0;
      if (s_.substr(pos_, 2) != "\\u") return fail("a high surrogate \\u escape without a low one");
      pos_ += 2;
      if (!hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail("a high surrogate \\u escape without a low one");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(cp);
    return true;
  }

  bool hex4(std::uint32_t& out) {
    if (s_.size() - pos_ < 4) return fail("\\u needs four hex digits");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_ + i];
      std::uint32_t v = 0;
      if (h >= '0' && h <= '9') v = h - '0';
      else if (h >= 'a' && h <= 'f') v = h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v = h - 'A' + 10;
      else return fail("\\u needs four hex digits");
      out = out * 16 + v;
    }
    pos_ += 4;
    return true;
  }

  void append_utf8(std::uint32_t cp) {
    if (cp < 0x80) {
      text_ += static_cast<char>(cp);
    } else if (cp < 0x800) {
      text_ += static_cast<char>(0xC0 | (cp >> 6));
      text_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      text_ += static_cast<char>(0xE0 | (cp >> 12));
      text_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      text_ += static_cast<char>(0xF0 | (cp >> 18));
      text_ += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      text_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      text_ += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view s_;
  JsonEvents& ev_;
  std::string& error_;
  std::size_t pos_ = 0;
  std::string text_;  // the last string or key read
};

}  // namespace

bool read_json(std::string_view text, JsonEvents& events, std::string& error) {
  return Scanner(text, events, error).run();
}

}  // namespace drover
