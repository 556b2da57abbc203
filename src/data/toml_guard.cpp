// A lexical pre-check of TOML files for what toml++ 3.3.0 (Debian 12's) cannot read safely.
//
// Its test for Unicode white space ends in a switch whose default is marked unreachable, and that default
// is reached by many non-ASCII characters (U+00A1..U+0499, for instance): undefined behaviour wherever the
// parser asks "is this white space?" of a non-ASCII character. It asks between tokens, after any
// backslash in a """ string and after a line-ending one (marzer/tomlplusplus issues 190 and 295);
// Debian's build then silently accepts or drops text such as `a§ = 1`. Valid TOML has non-ASCII text only
// inside strings and comments, so a non-ASCII character anywhere else is refused here, before toml++ sees
// it, and so is one right after a backslash or that a line-ending backslash's trimming would reach.
// Strings count as such only where TOML allows one to start, and toml++ scans a bare value (a number,
// date, boolean) up to white space or one of ] } , #: in `x = 8"é"` and `x = 3["é"]` everything after the
// = is one malformed bare value, quotes included.
//
// toml++ also recurses once per part of a dotted key or table header (`a.b.c...`; 40,000 parts overflowed
// the stack) and per nested array or inline table: both are bounded here too.
#include <string>
#include <vector>

#include "cscrub/error.hpp"
#include "cscrub/data/toml_guard.hpp"

namespace cscrub::data {

namespace {

class Scanner {
 public:
  Scanner(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  void run() {
    if (starts_with("\xEF\xBB\xBF")) position_ = 3;  // a UTF-8 byte order mark, which toml++ skips
    char last = '\n';  // the last character on this line other than spaces and tabs
    while (!at_end()) {
      const char c = peek();
      if (static_cast<unsigned char>(c) >= 0x80) fail("non-ASCII character outside a string or comment");
      if (c == '#') {
        in_bare_value_ = false;
        while (!at_end() && peek() != '\n') advance();
      } else if ((c == '"' || c == '\'') && !in_bare_value_ && opens_string(last)) {
        string(c);
        last = c;
      } else {
        advance();
        if (c != ' ' && c != '\t' && c != '\r') last = c;
        if (in_bare_value_ && !ends_bare_value(c)) continue;  // [ { = " included
        // A date-time's time after a space (`1979-05-27 07:32:00`), which toml++ scans as the same value,
        // starts with a digit: a bare value of its own here.
        in_bare_value_ = !in_key_ && !separates_tokens(c);
        follow_structure(c);
      }
    }
  }

 private:
  // Where TOML allows a string (a key at the start of a line or after [ { , or a key's dot; a value after
  // = [ or ,): a quote elsewhere is malformed, and toml++ reads it as part of the bare value before it,
  // looking at the characters after it as if between tokens.
  bool opens_string(char last) const {
    return last == '\n' || last == '=' || last == '[' || last == ',' || last == '{' || (last == '.' && in_key_);
  }

  // What ends a bare value for toml++ (its is_value_terminator, white space being ASCII here).
  static bool ends_bare_value(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ']' || c == '}' || c == ',' || c == '#';
  }

  // Characters that are no part of a bare value's text: after them a value may still start.
  static bool separates_tokens(char c) {
    return ends_bare_value(c) || c == '[' || c == '{' || c == '=' || c == '"' || c == '\'';
  }

  // Whether a key or a value comes next, so that a dot is known to join key parts (`a."é"`) rather than
  // be a decimal point (`1."é"`): the brackets opened inside values, and what follows = { , and newlines.
  void follow_structure(char c) {
    if (c == '.' && in_key_ && ++key_parts_ > kMaxKeyParts)
      fail("a key or table name of more than " + std::to_string(kMaxKeyParts) + " dotted parts (the limit)");
    if (c == '=' || c == '\n' || c == ',' || c == '{' || c == '[' || c == ']') key_parts_ = 1;  // a key ends
    switch (c) {
      case '\n': if (brackets_.empty()) in_key_ = true; break;
      case '=': in_key_ = false; break;
      case '[': if (!in_key_) open_bracket('['); break;  // in a key: a table header
      case '{': open_bracket('{'); in_key_ = true; break;
      case ',': in_key_ = !brackets_.empty() && brackets_.back() == '{'; break;
      case ']':
      case '}': if (!brackets_.empty()) brackets_.pop_back(); break;
      default: break;
    }
  }

  void open_bracket(char c) {
    brackets_.push_back(c);
    if (brackets_.size() > kMaxNesting)
      fail("arrays and inline tables nested more than " + std::to_string(kMaxNesting) + " levels deep (the limit)");
  }

  bool at_end() const { return position_ >= text_.size(); }
  char peek(size_t ahead = 0) const { return position_ + ahead < text_.size() ? text_[position_ + ahead] : '\0'; }
  bool starts_with(std::string_view what) const { return text_.substr(position_).starts_with(what); }

  void advance() {
    const unsigned char c = static_cast<unsigned char>(text_[position_++]);
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((c & 0xC0) != 0x80) {  // columns count characters, not UTF-8 continuation bytes
      ++column_;
    }
  }

  [[noreturn]] void fail(const std::string& problem, const std::string& hint = {}) const {
    throw Error(file_ + ":" + std::to_string(line_) + ":" + std::to_string(column_) + ": TOML syntax error: " + problem,
                hint);
  }

  // From an opening quote to just past the closing one (or the end of the line, for toml++ to report).
  void string(char quote) {
    const bool multi_line = starts_with(std::string(3, quote));
    for (int i = 0; i < (multi_line ? 3 : 1); ++i) advance();
    while (!at_end()) {
      const char c = peek();
      if (c == quote && (!multi_line || starts_with(std::string(3, quote)))) {
        while (!at_end() && peek() == quote) advance();  // a """ string may end in up to two more quotes
        return;
      }
      if (c == '\n' && !multi_line) return;
      if (c == '\\' && quote == '"') {
        advance();
        if (multi_line && line_ending_backslash()) continue;
        if (!at_end() && peek() != '\n') advance();  // the escaped character
        continue;
      }
      advance();
    }
  }

  // After a backslash in a """ string, toml++ skips the spaces and tabs that follow and asks "is this white
  // space?" of the next character; when that ends the line (a line-ending backslash), it skips the white
  // space TOML trims there, newlines included, and asks again. A non-ASCII character at either place is
  // refused. Returns whether the backslash ended its line (its trimmed white space then skipped).
  bool line_ending_backslash() {
    while (peek() == ' ' || peek() == '\t') advance();
    if (static_cast<unsigned char>(peek()) >= 0x80)
      fail("non-ASCII character after a backslash and white space (toml++ 3.3 misreads it)",
           "escape only what TOML escapes, and write a non-ASCII character without a backslash before it");
    if (peek() != '\n' && !(peek() == '\r' && peek(1) == '\n')) return false;
    while (peek() == ' ' || peek() == '\t' || peek() == '\r' || peek() == '\n') advance();
    if (static_cast<unsigned char>(peek()) >= 0x80)
      fail("non-ASCII character right after a line-ending backslash (toml++ 3.3 misreads it)",
           "start that line with an ASCII character, or end the line before without a backslash");
    return true;
  }

  static constexpr int kMaxKeyParts = 64;
  static constexpr size_t kMaxNesting = 64;

  std::string_view text_;
  const std::string& file_;
  int key_parts_ = 1;  // of the key being read
  bool in_key_ = true;
  bool in_bare_value_ = false;  // inside a value that is not a string, array or inline table
  std::vector<char> brackets_;
  size_t position_ = 0;
  int line_ = 1;
  int column_ = 1;
};

}  // namespace

void refuse_what_toml_cannot_read(std::string_view text, const std::string& file) { Scanner(text, file).run(); }

}  // namespace cscrub::data
