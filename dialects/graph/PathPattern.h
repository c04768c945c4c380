//===- PathPattern.h - module paths with wildcards and sets ----*- C++ -*-===//
//
//   transformer.h.*.attn.c_attn     `*` matches one path component
//   transformer.h.{0,2,4}.mlp       a set of layer indices
//   model.layers.{0..11}            a range (inclusive)
//   self_attn.{q_proj,v_proj}       a set of names
//   **.bias                         `**` matches any number of components
//
// Paths name graph.module ops by their Hugging Face module names. The
// graph dialect keeps the matcher; the .sched parser and the schedule's
// transform ops (lib/Schedule) share it.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_PATHPATTERN_H
#define SLAPO_GRAPH_PATHPATTERN_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace slapo::graph {

class PathPattern {
public:
  /// Parses `text`; on failure returns nullopt, with `error` saying what is
  /// wrong and `column` (0-based, within `text`) where.
  static std::optional<PathPattern> parse(llvm::StringRef text,
                                          std::string &error, size_t &column);

  /// Whether the dotted `path` matches the whole pattern.
  bool matches(llvm::StringRef path) const;

  const std::string &text() const { return source; }

private:
  struct Segment {
    enum class Kind { Name, Any, AnyDepth, Set } kind = Kind::Name;
    std::string name;
    std::vector<int64_t> indices;
    std::vector<std::string> names;
  };
  bool matchFrom(size_t segment, const std::vector<llvm::StringRef> &parts,
                 size_t part) const;

  std::vector<Segment> segments;
  std::string source;
};

} // namespace slapo::graph

#endif // SLAPO_GRAPH_PATHPATTERN_H
