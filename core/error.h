#pragma once
// The one exception hierarchy of medseg. It lives in the lowest library so
// that every layer can throw it; the CLI and GUI catch it at the top.
#include <stdexcept>
#include <string>

namespace medseg {

/// Base of every error medseg reports to a user. The message says the
/// operation, the file or key, and what was expected vs what was found.
/// All medseg::Error kinds are "bad input" (CLI exit code 2); anything else
/// escaping to the top is an internal failure (exit code 1).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file or folder cannot be read or written, or its content is invalid.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A configuration value or command-line argument is invalid.
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// A model, its weights or its inputs do not fit together.
class ModelError : public Error {
 public:
  using Error::Error;
};

/// A long operation stopped because the user asked it to (not bad input).
class Cancelled : public Error {
 public:
  using Error::Error;
};

}  // namespace medseg
