#pragma once
// Argument checks of medseg's own modules and losses. Like TORCH_CHECK they
// build the message from the actual values (c10::str), but they throw
// medseg::ModelError — a one-line, bad-input error the CLI reports with exit
// code 2 — instead of c10::Error with a C++ backtrace attached.
#include <c10/util/StringUtil.h>

#include "core/error.h"

#define MEDSEG_CHECK(condition, ...)                               \
  do {                                                             \
    if (!(condition)) throw ::medseg::ModelError(c10::str(__VA_ARGS__)); \
  } while (false)
