//===- Json.cpp - a small JSON reader for the runtime ---------------------===//

#include "slapo/Runtime/Json.h"

#include <cstdlib>

namespace slapo::rt {

const Json *Json::get(const std::string &key) const {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

namespace {

class Parser {
public:
  Parser(const std::string &text) : text(text) {}

  bool parse(Json &out, std::string &error) {
    if (!value(out, 0) || (skip(), pos != text.size())) {
      error = problem.empty() ? "unexpected text" : problem;
      error += " at byte " + std::to_string(pos);
      return false;
    }
    return true;
  }

private:
  void skip() {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\n' ||
                                 text[pos] == '\r' || text[pos] == '\t'))
      ++pos;
  }

  bool fail(const char *what) {
    if (problem.empty())
      problem = what;
    return false;
  }

  bool literal(const char *word) {
    size_t n = std::char_traits<char>::length(word);
    if (text.compare(pos, n, word) != 0)
      return fail("invalid literal");
    pos += n;
    return true;
  }

  bool value(Json &out, int depth) {
    if (depth > 64)
      return fail("nesting too deep");
    skip();
    if (pos >= text.size())
      return fail("unexpected end");
    char ch = text[pos];
    if (ch == '{')
      return objectValue(out, depth);
    if (ch == '[')
      return arrayValue(out, depth);
    if (ch == '"') {
      out.kind = Json::Kind::String;
      return stringValue(out.string);
    }
    if (ch == 't' || ch == 'f') {
      out.kind = Json::Kind::Bool;
      out.boolean = ch == 't';
      return literal(ch == 't' ? "true" : "false");
    }
    if (ch == 'n') {
      out.kind = Json::Kind::Null;
      return literal("null");
    }
    return numberValue(out);
  }

  bool numberValue(Json &out) {
    size_t start = pos;
    if (pos < text.size() && (text[pos] == '-' || text[pos] == '+'))
      ++pos;
    bool integral = true, digits = false;
    while (pos < text.size()) {
      char ch = text[pos];
      if (ch >= '0' && ch <= '9')
        digits = true;
      else if (ch == '.' || ch == 'e' || ch == 'E' ||
               ((ch == '-' || ch == '+') &&
                (text[pos - 1] == 'e' || text[pos - 1] == 'E')))
        integral = false;
      else
        break;
      ++pos;
    }
    if (!digits)
      return fail("expected a value");
    std::string token = text.substr(start, pos - start);
    out.kind = Json::Kind::Number;
    out.number = std::strtod(token.c_str(), nullptr);
    out.integral = integral;
    if (integral)
      out.integer = std::strtoll(token.c_str(), nullptr, 10);
    return true;
  }

  bool stringValue(std::string &out) {
    ++pos; // opening quote
    while (pos < text.size() && text[pos] != '"') {
      char ch = text[pos++];
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (pos >= text.size())
        return fail("unterminated string");
      char esc = text[pos++];
      switch (esc) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'u':
        if (pos + 4 > text.size())
          return fail("bad \\u escape");
        out += '?'; // names and data here are ASCII
        pos += 4;
        break;
      default:
        out += esc;
      }
    }
    if (pos >= text.size())
      return fail("unterminated string");
    ++pos;
    return true;
  }

  bool arrayValue(Json &out, int depth) {
    out.kind = Json::Kind::Array;
    ++pos;
    skip();
    if (pos < text.size() && text[pos] == ']') {
      ++pos;
      return true;
    }
    while (true) {
      out.array.emplace_back();
      if (!value(out.array.back(), depth + 1))
        return false;
      skip();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == ']') {
        ++pos;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  bool objectValue(Json &out, int depth) {
    out.kind = Json::Kind::Object;
    ++pos;
    skip();
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
      return true;
    }
    while (true) {
      skip();
      if (pos >= text.size() || text[pos] != '"')
        return fail("expected a key");
      std::string key;
      if (!stringValue(key))
        return false;
      skip();
      if (pos >= text.size() || text[pos] != ':')
        return fail("expected ':'");
      ++pos;
      if (!value(out.object[key], depth + 1))
        return false;
      skip();
      if (pos < text.size() && text[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < text.size() && text[pos] == '}') {
        ++pos;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  const std::string &text;
  size_t pos = 0;
  std::string problem;
};

} // namespace

bool parseJson(const std::string &text, Json &out, std::string &error) {
  out = Json();
  return Parser(text).parse(out, error);
}

} // namespace slapo::rt
