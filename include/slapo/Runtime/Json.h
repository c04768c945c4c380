//===- Json.h - a small JSON reader for the runtime ------------*- C++ -*-===//
//
// Enough JSON for safetensors headers and .jsonl data, without pulling LLVM
// into slapo-run.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUNTIME_JSON_H
#define SLAPO_RUNTIME_JSON_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace slapo::rt {

struct Json {
  enum class Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object
  } kind = Kind::Null;
  bool boolean = false;
  double number = 0.0;
  bool integral = false; // the number was written without '.', 'e' or 'E'
  int64_t integer = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  const Json *get(const std::string &key) const;
};

/// Parses `text`; on failure returns false and sets `error` to what and
/// where (byte offset).
bool parseJson(const std::string &text, Json &out, std::string &error);

} // namespace slapo::rt

#endif // SLAPO_RUNTIME_JSON_H
