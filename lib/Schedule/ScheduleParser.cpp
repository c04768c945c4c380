//===- ScheduleParser.cpp - .sched text to transform IR ------------------===//

#include "graph/GraphDialect.h"
#include "graph/PathPattern.h"
#include "slapo/Schedule/SchedOps.h"
#include "slapo/Schedule/Schedule.h"
#include "slapo/Schedule/SchedulePath.h"

#include "mlir/Dialect/Transform/IR/TransformOps.h"
#include "mlir/Dialect/Transform/Transforms/TransformInterpreterUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"

#include <cmath>
#include <filesystem>

using namespace mlir;

namespace slapo::schedule {

namespace {

struct Token {
  llvm::StringRef text;
  unsigned column; // 1-based
};

/// The words of one line, up to a `#` comment.
std::vector<Token> tokenize(llvm::StringRef line) {
  std::vector<Token> tokens;
  size_t pos = 0;
  while (pos < line.size()) {
    char ch = line[pos];
    if (ch == '#')
      break;
    if (ch == ' ' || ch == '\t' || ch == '\r') {
      ++pos;
      continue;
    }
    size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t' &&
           line[pos] != '\r' && line[pos] != '#')
      ++pos;
    tokens.push_back({line.slice(start, pos), unsigned(start + 1)});
  }
  return tokens;
}

constexpr const char *kPrimitives =
    "checkpoint, decompose, freeze, fuse, lora, replace, shard, sparsify, "
    "sync or unfreeze";

/// The options each primitive takes; `required` ones must be given.
struct PrimitiveSpec {
  llvm::StringRef name;
  std::vector<llvm::StringRef> options;
  std::vector<llvm::StringRef> required;
};

const PrimitiveSpec *findPrimitive(llvm::StringRef name) {
  static const std::vector<PrimitiveSpec> specs = {
      {"checkpoint", {}, {}},
      {"decompose", {}, {}},
      {"freeze", {}, {}},
      {"unfreeze", {}, {}},
      {"lora", {"rank", "alpha", "dropout"}, {"rank", "alpha"}},
      {"shard", {"axis", "parts"}, {"axis"}},
      {"fuse", {"pattern"}, {"pattern"}},
      {"replace", {"attention"}, {"attention"}},
      {"sync", {"forward", "backward"}, {}},
      {"sparsify",
       {"block", "rows", "predictor", "threshold", "rank", "live"},
       {"block", "predictor"}},
  };
  for (const PrimitiveSpec &spec : specs)
    if (spec.name == name)
      return &spec;
  return nullptr;
}

struct OptionValue {
  llvm::StringRef text;
  unsigned column;
};

class Parser {
public:
  Parser(llvm::StringRef file, MLIRContext *context)
      : file(file), context(context) {}

  /// Builds one sched op for `tokens` (of line `line`) before `yield`.
  LogicalResult statement(OpBuilder &b, Value root,
                          const std::vector<Token> &tokens, unsigned line) {
    currentLine = line;
    const Token &primitive = tokens[0];
    auto at = [&](unsigned column) {
      return FileLineColLoc::get(context, file, line, column);
    };
    const PrimitiveSpec *spec = findPrimitive(primitive.text);
    if (!spec)
      return emitError(at(primitive.column), "unknown primitive '")
             << primitive.text << "' (expected " << kPrimitives << ")";
    if (tokens.size() < 2 || tokens[1].text.contains('='))
      return emitError(at(primitive.column + primitive.text.size()),
                       "expected a module path after '")
             << primitive.text << "'";
    const Token &path = tokens[1];
    std::string problem;
    size_t column = 0;
    if (!sched::parseSchedulePath(path.text, problem, column))
      return emitError(at(path.column + column), problem);

    llvm::StringMap<OptionValue> options;
    for (const Token &extra : llvm::ArrayRef(tokens).drop_front(2)) {
      auto [key, value] = extra.text.split('=');
      if (!extra.text.contains('='))
        return emitError(at(extra.column), "unexpected '")
               << extra.text << "' after the path (expected key=value options)";
      if (!llvm::is_contained(spec->options, key)) {
        InFlightDiagnostic diag =
            emitError(at(extra.column), "unknown option '")
            << key << "' for " << primitive.text;
        if (spec->options.empty())
          diag << " (it takes none)";
        else
          diag << " (expected " << llvm::join(spec->options, ", ") << ")";
        return diag;
      }
      if (!options.try_emplace(key, OptionValue{value, extra.column}).second)
        return emitError(at(extra.column), "option '")
               << key << "' is given twice";
    }
    for (llvm::StringRef key : spec->required)
      if (!options.count(key))
        return emitError(at(primitive.column), "")
               << primitive.text << " needs " << key << "=";
    Location loc = at(primitive.column);
    StringAttr pathAttr = b.getStringAttr(path.text);
    if (primitive.text == "lora") {
      int64_t rank = 0;
      double alpha = 0.0, dropout = 0.0;
      const OptionValue &r = options["rank"], &a = options["alpha"];
      if (r.text.getAsInteger(10, rank) || rank <= 0)
        return emitError(at(r.column), "rank must be a positive integer, got '")
               << r.text << "'";
      if (a.text.getAsDouble(alpha) || !(alpha > 0.0))
        return emitError(at(a.column), "alpha must be a positive number, got '")
               << a.text << "'";
      if (!std::isfinite(alpha))
        return emitError(at(a.column), "alpha must be a finite number, got '")
               << a.text << "'";
      if (options.count("dropout")) {
        const OptionValue &d = options["dropout"];
        if (d.text.getAsDouble(dropout) || !(dropout >= 0.0 && dropout < 1.0))
          return emitError(at(d.column),
                           "dropout must be a probability in [0, 1), got '")
                 << d.text << "'";
      }
      sched::LoraOp::create(b, loc, root, pathAttr, b.getI64IntegerAttr(rank),
                            b.getF64FloatAttr(alpha),
                            b.getF64FloatAttr(dropout));
      return success();
    }
    if (primitive.text == "shard")
      return shard(b, loc, root, pathAttr, options);
    if (primitive.text == "sparsify")
      return sparsify(b, loc, root, pathAttr, options);
    if (primitive.text == "sync")
      return sync(b, loc, root, pathAttr, options);
    if (primitive.text == "fuse") {
      const OptionValue &pattern = options["pattern"];
      if (pattern.text != "bias_gelu" && pattern.text != "add_rms_norm" &&
          pattern.text != "bias_dropout_add_layer_norm")
        return emitError(at(pattern.column), "unknown pattern '")
               << pattern.text
               << "' (expected add_rms_norm, bias_gelu or "
                  "bias_dropout_add_layer_norm)";
      sched::FuseOp::create(b, loc, root, pathAttr,
                            b.getStringAttr(pattern.text));
      return success();
    }
    if (primitive.text == "replace") {
      const OptionValue &form = options["attention"];
      if (form.text != "decomposed" && form.text != "fused")
        return emitError(at(form.column), "attention must be decomposed or "
                                          "fused, got '")
               << form.text << "'";
      sched::ReplaceOp::create(b, loc, root, pathAttr,
                               b.getStringAttr(form.text));
      return success();
    }
    if (primitive.text == "decompose") {
      sched::DecomposeOp::create(b, loc, root, pathAttr);
      return success();
    }
    if (primitive.text == "checkpoint")
      sched::CheckpointOp::create(b, loc, root, pathAttr);
    else if (primitive.text == "freeze")
      sched::FreezeOp::create(b, loc, root, pathAttr);
    else
      sched::UnfreezeOp::create(b, loc, root, pathAttr);
    return success();
  }

private:
  Location at(const OptionValue &option) {
    return FileLineColLoc::get(context, file, currentLine, option.column);
  }

  LogicalResult shard(OpBuilder &b, Location loc, Value root, StringAttr path,
                      llvm::StringMap<OptionValue> &options) {
    int64_t axis = 0, parts = 1;
    const OptionValue &a = options["axis"];
    if (a.text.getAsInteger(10, axis) || axis < 0)
      return emitError(at(a), "axis must be a non-negative integer, got '")
             << a.text << "'";
    if (options.count("parts")) {
      const OptionValue &p = options["parts"];
      if (p.text.getAsInteger(10, parts) || parts <= 0)
        return emitError(at(p), "parts must be a positive integer, got '")
               << p.text << "'";
    }
    sched::ShardOp::create(b, loc, root, path, b.getI64IntegerAttr(axis),
                           b.getI64IntegerAttr(parts));
    return success();
  }

  LogicalResult sparsify(OpBuilder &b, Location loc, Value root,
                         StringAttr path,
                         llvm::StringMap<OptionValue> &options) {
    int64_t block = 0, rows = 0;
    double threshold = 0.0;
    const OptionValue &blk = options["block"];
    if (blk.text.getAsInteger(10, block) || block <= 0)
      return emitError(at(blk), "block must be a positive integer, got '")
             << blk.text << "'";
    rows = block;
    if (options.count("rows")) {
      const OptionValue &r = options["rows"];
      if (r.text.getAsInteger(10, rows) || rows <= 0)
        return emitError(at(r), "rows must be a positive integer, got '")
               << r.text << "'";
    }
    const OptionValue &predictor = options["predictor"];
    bool oracle = predictor.text == "oracle";
    bool train = predictor.text == "train";
    if (!oracle && !train && !predictor.text.ends_with(".safetensors"))
      return emitError(at(predictor), "predictor must be 'oracle', 'train' or "
                                      "a .safetensors file of trained "
                                      "predictor weights, got '")
             << predictor.text << "'";
    // The oracle's threshold is a pre-activation (ReLU: 0); a predictor's
    // is the probability a live block exceeds (0.5).
    threshold = oracle ? 0.0 : 0.5;
    if (options.count("threshold")) {
      const OptionValue &t = options["threshold"];
      if (t.text.getAsDouble(threshold) || !std::isfinite(threshold))
        return emitError(at(t), "threshold must be a finite number, got '")
               << t.text << "'";
      if (!oracle && !(threshold > 0.0 && threshold < 1.0))
        return emitError(at(t), "a predictor's threshold is a probability "
                                "in (0, 1), got '")
               << t.text << "'";
    }
    int64_t rank = 0;
    if (options.count("rank")) {
      const OptionValue &r = options["rank"];
      if (r.text.getAsInteger(10, rank) || rank <= 0)
        return emitError(at(r), "rank must be a positive integer, got '")
               << r.text << "'";
    }
    double live = -1.0;
    if (options.count("live")) {
      const OptionValue &l = options["live"];
      if (l.text.getAsDouble(live) || !(live > 0.0 && live < 1.0))
        return emitError(at(l), "live is a probability in (0, 1), got '")
               << l.text << "'";
    }
    std::string predictorPath = predictor.text.str();
    if (!oracle && !train) {
      // Relative to the schedule file, as an include would be.
      std::filesystem::path given(predictor.text.str());
      if (given.is_relative())
        given = std::filesystem::path(file).parent_path() / given;
      std::error_code code;
      if (!std::filesystem::is_regular_file(given, code))
        return emitError(at(predictor), "predictor file '")
               << predictor.text << "' not found (a relative path is read "
               << "from the schedule's directory)";
      predictorPath = std::filesystem::absolute(given, code).string();
    }
    sched::SparsifyOp::create(
        b, loc, root, path, b.getI64IntegerAttr(block),
        b.getI64IntegerAttr(rows), b.getStringAttr(predictorPath),
        b.getF64FloatAttr(threshold), b.getI64IntegerAttr(rank),
        b.getF64FloatAttr(live));
    return success();
  }

  LogicalResult sync(OpBuilder &b, Location loc, Value root, StringAttr path,
                     llvm::StringMap<OptionValue> &options) {
    constexpr llvm::StringLiteral kinds[] = {"all_reduce", "all_gather",
                                             "reduce_scatter"};
    bool hasForward = options.count("forward"),
         hasBackward = options.count("backward");
    if (!hasForward && !hasBackward)
      return emitError(loc, "sync needs forward= or backward= (all_reduce, "
                            "all_gather or reduce_scatter)");
    for (llvm::StringRef key : {"forward", "backward"}) {
      if (!options.count(key))
        continue;
      const OptionValue &kind = options[key];
      if (!llvm::is_contained(kinds, kind.text))
        return emitError(at(kind), "")
               << key << " must be all_reduce, all_gather or reduce_scatter, "
               << "got '" << kind.text << "'";
    }
    // The partner of a forward collective; a backward one alone gets the
    // forward op whose adjoint it is.
    std::string forward =
        hasForward ? options["forward"].text.str()
                   : graph::SyncOp::partnerOf(options["backward"].text).str();
    std::string backward = hasBackward
                               ? options["backward"].text.str()
                               : graph::SyncOp::partnerOf(forward).str();
    if (graph::SyncOp::partnerOf(forward) != backward &&
        !(forward == "all_gather" && backward == "reduce_scatter"))
      return emitError(at(options["backward"]), "forward=")
             << forward << " and backward=" << backward
             << " are not a collective pair";
    sched::SyncOp::create(b, loc, root, path, b.getStringAttr(forward),
                          b.getStringAttr(backward), b.getBoolAttr(hasForward));
    return success();
  }

  std::string file;
  unsigned currentLine = 0;
  MLIRContext *context;
};

} // namespace

OwningOpRef<ModuleOp> parseSchedule(llvm::SourceMgr &sourceMgr,
                                    unsigned bufferId, MLIRContext *context) {
  context->loadDialect<transform::TransformDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(
      "module attributes {transform.with_named_sequence} {\n"
      "  transform.named_sequence @__transform_main(\n"
      "      %root: !transform.any_op {transform.readonly}) {\n"
      "    transform.yield\n"
      "  }\n"
      "}\n",
      context);
  auto sequence = *module->getOps<transform::NamedSequenceOp>().begin();
  Block &body = sequence.getBody().front();
  OpBuilder b(body.getTerminator());
  Value root = body.getArgument(0);

  const llvm::MemoryBuffer *buffer = sourceMgr.getMemoryBuffer(bufferId);
  Parser parser(buffer->getBufferIdentifier(), context);
  llvm::SmallVector<llvm::StringRef> lines;
  buffer->getBuffer().split(lines, '\n');
  bool ok = true;
  for (auto [index, line] : llvm::enumerate(lines)) {
    std::vector<Token> tokens = tokenize(line);
    if (!tokens.empty() &&
        failed(parser.statement(b, root, tokens, unsigned(index + 1))))
      ok = false; // keep going: report every bad line at once
  }
  if (!ok)
    return nullptr;
  return module;
}

LogicalResult applySchedule(ModuleOp payload, ModuleOp schedule) {
  auto sequence = *schedule.getOps<transform::NamedSequenceOp>().begin();
  return transform::applyTransformNamedSequence(payload, sequence, schedule,
                                                transform::TransformOptions());
}

} // namespace slapo::schedule
