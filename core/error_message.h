#pragma once
// Any exception as the one line medseg promises its users. LibTorch's
// c10::Error appends a multi-line C++ backtrace to what(); ITK and yaml-cpp
// messages can span lines too. Every catch site that reports an error
// (the CLI's main(), batch inference per case, bundle and checkpoint
// loaders) goes through here, so they all trim alike.
#include <exception>
#include <string>
#include <string_view>

namespace medseg::core {

/// The first non-empty line of `text`, without a c10 backtrace and without
/// leading/trailing white space; "unknown error" when nothing is left.
std::string first_line(std::string_view text);

/// first_line(e.what()).
std::string one_line(const std::exception& e);

/// The current exception (inside a catch block) as one line; non-standard
/// exceptions become "unknown error".
std::string current_exception_line();

/// `text` on one line: line breaks become the two characters "\n", other
/// control characters a space, so a message built from file content stays
/// one line without losing where its lines were.
std::string single_line(std::string_view text);

/// A value quoted inside an error message: single_line(text), cut to
/// `max_chars` with "..." appended when longer (a YAML block or a binary
/// header field can be kilobytes long), between single quotes.
std::string quote_short(std::string_view text, std::size_t max_chars = 60);

}  // namespace medseg::core
