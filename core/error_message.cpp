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

}  // namespace medseg::core
