//===- PathPattern.cpp - module paths with wildcards and sets -------------===//

#include "graph/PathPattern.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <cctype>

using llvm::StringRef;

namespace slapo::graph {

namespace {

bool isNameChar(char ch) {
  return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
}

bool parseIndex(StringRef text, int64_t &value) {
  return !text.empty() && llvm::all_of(text, [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch));
  }) && !text.getAsInteger(10, value);
}

} // namespace

std::optional<PathPattern>
PathPattern::parse(StringRef text, std::string &error, size_t &column) {
  PathPattern pattern;
  pattern.source = text.str();
  size_t pos = 0;
  auto fail = [&](size_t at, const std::string &message) {
    column = at;
    error = message;
    return std::nullopt;
  };
  if (text.empty())
    return fail(0, "expected a module path");
  while (true) {
    Segment segment;
    size_t start = pos;
    if (text.substr(pos).starts_with("**")) {
      segment.kind = Segment::Kind::AnyDepth;
      pos += 2;
    } else if (text[pos] == '*') {
      segment.kind = Segment::Kind::Any;
      pos += 1;
    } else if (text[pos] == '{') {
      size_t close = text.find('}', pos);
      if (close == StringRef::npos)
        return fail(pos, "unclosed '{' in the path");
      segment.kind = Segment::Kind::Set;
      StringRef body = text.slice(pos + 1, close);
      llvm::SmallVector<StringRef> items;
      body.split(items, ',');
      for (StringRef item : items) {
        item = item.trim();
        if (!item.empty() && llvm::all_of(item, isNameChar) &&
            !std::isdigit(static_cast<unsigned char>(item[0]))) {
          segment.names.push_back(item.str());
          continue;
        }
        int64_t first = 0, last = 0;
        auto [low, high] = item.split("..");
        if (!parseIndex(low.trim(), first) ||
            (item.contains("..") ? !parseIndex(high.trim(), last)
                                 : (last = first, false)))
          return fail(pos, "'{" + body.str() +
                               "}' is not a set like {0,2,4} or "
                               "{q_proj,v_proj}, or a range like {0..11}");
        if (last < first)
          return fail(pos, "the range '" + item.str() + "' is empty");
        for (int64_t i = first; i <= last; ++i)
          segment.indices.push_back(i);
      }
      pos = close + 1;
    } else {
      while (pos < text.size() && isNameChar(text[pos]))
        ++pos;
      if (pos == start)
        return fail(pos, std::string("unexpected '") + text[pos] +
                             "' in the path (expected a name, *, ** or "
                             "{...})");
      segment.name = text.slice(start, pos).str();
    }
    pattern.segments.push_back(std::move(segment));
    if (pos == text.size())
      return pattern;
    if (text[pos] != '.')
      return fail(pos, std::string("unexpected '") + text[pos] +
                           "' in the path (expected '.')");
    ++pos;
    if (pos == text.size())
      return fail(pos, "the path ends with '.'");
  }
}

bool PathPattern::matchFrom(size_t segment, const std::vector<StringRef> &parts,
                            size_t part) const {
  if (segment == segments.size())
    return part == parts.size();
  const Segment &s = segments[segment];
  if (s.kind == Segment::Kind::AnyDepth) {
    for (size_t next = part; next <= parts.size(); ++next)
      if (matchFrom(segment + 1, parts, next))
        return true;
    return false;
  }
  if (part == parts.size())
    return false;
  StringRef component = parts[part];
  switch (s.kind) {
  case Segment::Kind::Name:
    if (component != s.name)
      return false;
    break;
  case Segment::Kind::Set: {
    int64_t index = 0;
    bool listed =
        llvm::is_contained(s.names, component.str()) ||
        (parseIndex(component, index) && llvm::is_contained(s.indices, index));
    if (!listed)
      return false;
    break;
  }
  default:
    break;
  }
  return matchFrom(segment + 1, parts, part + 1);
}

bool PathPattern::matches(StringRef path) const {
  llvm::SmallVector<StringRef> split;
  path.split(split, '.');
  std::vector<StringRef> parts(split.begin(), split.end());
  return matchFrom(0, parts, 0);
}

} // namespace slapo::graph
