#include "core/error_message.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "core/error.h"

namespace medseg::core {

TEST(ErrorMessage, KeepsOnlyTheFirstLineOfABacktraceMessage) {
  // The shape of c10::Error::what(): message, then LibTorch's C++ backtrace.
  const std::runtime_error e(
      "Expected 5D input, got 4D\nException raised from check at conv.cpp:12 (most recent call first):\n"
      "frame #0: c10::Error::Error(...) + 0x8b\nframe #1: at::native::conv3d(...)\n");
  EXPECT_EQ(one_line(e), "Expected 5D input, got 4D");
}

TEST(ErrorMessage, SkipsLeadingBlankLinesAndTrimsWhiteSpace) {
  EXPECT_EQ(first_line("\n\n  cannot read 'x.nii'  \r\nmore"), "cannot read 'x.nii'");
  EXPECT_EQ(first_line(""), "unknown error");
  EXPECT_EQ(first_line(" \n\t\n"), "unknown error");
  EXPECT_EQ(first_line("single"), "single");
}

TEST(ErrorMessage, CurrentExceptionWorksForStandardAndForeignExceptions) {
  try {
    throw IoError("'a.nii': truncated\nsecond line");
  } catch (...) {
    EXPECT_EQ(current_exception_line(), "'a.nii': truncated");
  }
  try {
    throw 42;
  } catch (...) {
    EXPECT_EQ(current_exception_line(), "unknown error");
  }
}

TEST(ErrorMessage, SingleLineKeepsLineBreaksVisibleOnOneLine) {
  EXPECT_EQ(single_line("a: |\n  two\r\tlines\n"), "a: |\\n  two  lines\\n");
}

TEST(ErrorMessage, QuoteShortCutsLongValuesAndNeverSplitsACharacter) {
  EXPECT_EQ(quote_short("abc"), "'abc'");
  EXPECT_EQ(quote_short(std::string(100, 'x'), 10), "'xxxxxxxxxx...'");
  // "é" is two bytes: a cut after byte 3 would leave half of it.
  EXPECT_EQ(quote_short("ab\xc3\xa9z", 3), "'ab...'");
  EXPECT_EQ(quote_short("line\nnext", 60), "'line\\nnext'");
}

}  // namespace medseg::core

