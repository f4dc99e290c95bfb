#pragma once
// Errors are values with an address: every failure says which file, tensor or key, and what was
// expected versus found. BadInput maps to CLI exit code 2, Internal to 1.
#include <stdexcept>
#include <string>

namespace routerscope {

enum class ErrorKind { BadInput, Internal, Cancelled };

class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

private:
  ErrorKind kind_;
};

// Bad input from the user or a file (exit code 2).
[[noreturn]] inline void throw_input_error(const std::string& message) {
  throw Error(ErrorKind::BadInput, message);
}
// A broken invariant inside RouterScope (exit code 1).
[[noreturn]] inline void throw_internal_error(const std::string& message) {
  throw Error(ErrorKind::Internal, message);
}

} // namespace routerscope
