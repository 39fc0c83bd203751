#include "core/error_message.h"

namespace medseg::core {

std::string first_line(std::string_view text) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  std::size_t begin = 0;
  while (begin < text.size() && is_space(text[begin])) ++begin;
  std::size_t end = text.find('\n', begin);
  if (end == std::string_view::npos) end = text.size();
  while (end > begin && is_space(text[end - 1])) --end;
  if (end == begin) return "unknown error";
  return std::string(text.substr(begin, end - begin));
}

std::string one_line(const std::exception& e) { return first_line(e.what()); }

std::string current_exception_line() {
  try {
    throw;
  } catch (const std::exception& e) {
    return one_line(e);
  } catch (...) {
    return "unknown error";
  }
}

std::string single_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string quote_short(std::string_view text, std::size_t max_chars) {
  std::string line = single_line(text);
  if (line.size() > max_chars) {
    std::size_t cut = max_chars;
    // Never end inside a UTF-8 sequence: back up to the start of a character.
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = line.substr(0, cut) + "...";
  }
  return "'" + line + "'";
}

}  // namespace medseg::core
