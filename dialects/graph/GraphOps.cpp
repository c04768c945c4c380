//===- GraphOps.cpp - graph dialect operations ---------------------------===//
//
// Result-type inference doubles as the shape verifier of every compute op:
// it runs when an op is built, parsed and verified, and it names the operand
// and the dimensions that disagree.
//
//===----------------------------------------------------------------------===//

#include "GraphConfigCheck.h"
#include "GraphShapeCheck.h"
#include "graph/GraphDialect.h"
#include "graph/GraphUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSwitch.h"

#include <numeric>

using namespace mlir;
using namespace slapo::graph;
using namespace slapo::graph::detail;

std::string slapo::graph::shapeToString(ArrayRef<int64_t> shape) {
  std::string out = "[";
  for (auto [i, dim] : llvm::enumerate(shape)) {
    if (i)
      out += ", ";
    out += dimStr(dim);
  }
  return out + "]";
}

//===----------------------------------------------------------------------===//
// ModelOp
//===----------------------------------------------------------------------===//

ParseResult ModelOp::parse(OpAsmParser &parser, OperationState &result) {
  auto buildType = [](Builder &builder, ArrayRef<Type> inputs,
                      ArrayRef<Type> results,
                      function_interface_impl::VariadicFlag, std::string &) {
    return builder.getFunctionType(inputs, results);
  };
  return function_interface_impl::parseFunctionOp(
      parser, result, /*allowVariadic=*/false,
      getFunctionTypeAttrName(result.name), buildType,
      getArgAttrsAttrName(result.name), getResAttrsAttrName(result.name));
}

void ModelOp::print(OpAsmPrinter &printer) {
  function_interface_impl::printFunctionOp(
      printer, *this, /*isVariadic=*/false, getFunctionTypeAttrName(),
      getArgAttrsAttrName(), getResAttrsAttrName());
}

/// The body's outputs must match the declared result types.
static LogicalResult verifyOutputs(Operation *op, Block &body,
                                   TypeRange resultTypes) {
  auto output = dyn_cast<OutputOp>(body.getTerminator());
  if (!output)
    return op->emitOpError("body must end with graph.output");
  if (output.getValues().getTypes() != resultTypes)
    return output.emitOpError("yields ")
           << output.getValues().getTypes() << " but the enclosing "
           << op->getName() << " declares results " << resultTypes;
  return success();
}

LogicalResult ModelOp::verifyRegions() {
  if (failed(verifyConfigValues(*this)))
    return failure();
  Block &body = getBody().front();
  if (body.getArgumentTypes() != TypeRange(getArgumentTypes()))
    return emitOpError("entry block arguments do not match the signature");
  if (failed(verifyOutputs(*this, body, getResultTypes())))
    return failure();

  // Paths are unique, and every param_ref names a graph.param of its type.
  llvm::StringMap<Operation *> byPath;
  WalkResult unique = walk([&](Operation *op) {
    if (!isa<GraphModuleOp, ParamOp>(op))
      return WalkResult::advance();
    std::string path = getPath(op);
    auto [it, inserted] = byPath.try_emplace(path, op);
    if (inserted)
      return WalkResult::advance();
    InFlightDiagnostic diag = op->emitOpError("path '")
                              << path << "' is already taken";
    diag.attachNote(it->second->getLoc()) << "first defined here";
    return WalkResult::interrupt();
  });
  if (unique.wasInterrupted())
    return failure();
  WalkResult refs = walk([&](ParamRefOp ref) {
    auto param = dyn_cast_or_null<ParamOp>(byPath.lookup(ref.getTarget()));
    if (!param) {
      ref.emitOpError("refers to '")
          << ref.getTarget() << "', which is not a parameter of model @"
          << getSymName();
      return WalkResult::interrupt();
    }
    if (param.getType() != ref.getType()) {
      ref.emitOpError("has type ")
          << ref.getType() << " but the parameter '" << ref.getTarget()
          << "' has type " << param.getType();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (refs.wasInterrupted())
    return failure();
  return verifyConfigShapes(*this, byPath);
}

//===----------------------------------------------------------------------===//
// ModuleOp:  %r = graph.module @name(%arg = %operand, ...) : (T...) -> R {...}
//===----------------------------------------------------------------------===//

ParseResult GraphModuleOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  if (parser.parseSymbolName(name, getNameAttrName(result.name),
                             result.attributes))
    return failure();

  SmallVector<OpAsmParser::Argument> arguments;
  SmallVector<OpAsmParser::UnresolvedOperand> operands;
  auto parseBinding = [&]() -> ParseResult {
    OpAsmParser::Argument argument;
    OpAsmParser::UnresolvedOperand operand;
    if (parser.parseArgument(argument) || parser.parseEqual() ||
        parser.parseOperand(operand))
      return failure();
    arguments.push_back(argument);
    operands.push_back(operand);
    return success();
  };
  if (parser.parseCommaSeparatedList(OpAsmParser::Delimiter::Paren,
                                     parseBinding))
    return failure();

  SMLoc typeLoc = parser.getCurrentLocation();
  FunctionType type;
  if (parser.parseColonType(type))
    return failure();
  if (type.getNumInputs() != arguments.size())
    return parser.emitError(typeLoc)
           << "module binds " << arguments.size() << " values but its type has "
           << type.getNumInputs() << " inputs";
  for (auto [argument, argType] : llvm::zip(arguments, type.getInputs()))
    argument.type = argType;
  if (parser.resolveOperands(operands, type.getInputs(), typeLoc,
                             result.operands))
    return failure();
  result.addTypes(type.getResults());

  if (parser.parseOptionalAttrDictWithKeyword(result.attributes))
    return failure();
  return parser.parseRegion(*result.addRegion(), arguments);
}

void GraphModuleOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printSymbolName(getName());
  printer << '(';
  llvm::interleaveComma(llvm::zip(getBody().getArguments(), getInputs()),
                        printer, [&](auto pair) {
                          printer << std::get<0>(pair) << " = "
                                  << std::get<1>(pair);
                        });
  printer << ") : ";
  printer.printFunctionalType(getInputs().getTypes(), getResultTypes());
  printer.printOptionalAttrDictWithKeyword((*this)->getAttrs(),
                                           {getNameAttrName()});
  printer << ' ';
  printer.printRegion(getBody(), /*printEntryBlockArgs=*/false,
                      /*printBlockTerminators=*/true);
}

LogicalResult GraphModuleOp::verifyRegions() {
  if (getName().empty() || getName().contains('.'))
    return emitOpError("name '")
           << getName() << "' must be one non-empty path component (no '.')";
  Block &body = getBody().front();
  if (body.getArgumentTypes() != getInputs().getTypes())
    return emitOpError("body arguments ")
           << body.getArgumentTypes() << " do not match the operands "
           << getInputs().getTypes();
  return verifyOutputs(*this, body, getResultTypes());
}

//===----------------------------------------------------------------------===//
// ParamOp, ReshapeOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  auto type = getType();
  if (!type.hasStaticShape())
    return emitOpError("parameter shape must be static, got ")
           << shapeToString(type.getShape());
  if (!isa<FloatType>(type.getElementType()))
    return emitOpError("parameter element type must be a float, got ")
           << type.getElementType();
  // Inside a module a name is one path component; a flattened model keeps
  // the whole dotted path.
  bool flattened = isa<ModelOp>((*this)->getParentOp());
  if (getName().empty() || (!flattened && getName().contains('.')))
    return emitOpError("name '")
           << getName() << "' must be one non-empty path component (no '.')";
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type from ")
           << in.getElementType() << " to " << out.getElementType();
  // Dynamic dimensions are carried through as a common leading prefix.
  auto dynamicPrefix = [](ArrayRef<int64_t> shape) -> std::optional<size_t> {
    size_t prefix = 0;
    while (prefix < shape.size() && isDynamic(shape[prefix]))
      ++prefix;
    if (llvm::any_of(shape.drop_front(prefix), isDynamic))
      return std::nullopt;
    return prefix;
  };
  std::optional<size_t> inPrefix = dynamicPrefix(in.getShape());
  std::optional<size_t> outPrefix = dynamicPrefix(out.getShape());
  if (!inPrefix || !outPrefix || *inPrefix != *outPrefix)
    return emitOpError("dynamic dimensions must be the same leading prefix "
                       "of both shapes, got ")
           << shapeToString(in.getShape()) << " -> "
           << shapeToString(out.getShape());
  auto product = [](ArrayRef<int64_t> dims) {
    return std::accumulate(dims.begin(), dims.end(), int64_t{1},
                           std::multiplies<int64_t>());
  };
  int64_t inCount = product(in.getShape().drop_front(*inPrefix));
  int64_t outCount = product(out.getShape().drop_front(*outPrefix));
  if (inCount != outCount)
    return emitOpError("cannot reshape ")
           << shapeToString(in.getShape()) << " to "
           << shapeToString(out.getShape()) << ": " << inCount
           << " elements per row become " << outCount;
  return success();
}

//===----------------------------------------------------------------------===//
// Compute ops: result types and shape checks
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "embedding");
  auto ids = check.tensor(adaptor.getIds(), "ids");
  auto table = check.tensorOfRank(adaptor.getTable(), "table", 2);
  if (failed(ids) || failed(table))
    return failure();
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  inferred.push_back(RankedTensorType::get(shape, table->getElementType()));
  return success();
}

LogicalResult PositionIdsOp::inferReturnTypes(MLIRContext *context,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "position_ids");
  auto ids = check.tensorOfRank(adaptor.getIds(), "ids", 2);
  if (failed(ids))
    return failure();
  int64_t offset = signedOr(adaptor.getOffsetAttr(), 0);
  if (offset < 0)
    return check.fail("offset must be non-negative, got ", offset);
  inferred.push_back(*ids);
  return success();
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "linear");
  auto input = check.tensor(adaptor.getInput(), "input");
  auto weight = check.tensorOfRank(adaptor.getWeight(), "weight", 2);
  if (failed(input) || failed(weight))
    return failure();
  if (input->getRank() < 1)
    return check.fail("input must have at least one axis");
  if (failed(check.sameElementType(*input, "input", *weight, "weight")))
    return failure();
  bool inOut = adaptor.getInOut();
  int64_t inFeatures = weight->getDimSize(inOut ? 0 : 1);
  int64_t outFeatures = weight->getDimSize(inOut ? 1 : 0);
  int64_t given = input->getShape().back();
  if (!dimsAgree(given, inFeatures))
    return check.fail("input has ", dimStr(given), " features but the weight ",
                      shapeToString(weight->getShape()), " (",
                      inOut ? "[in, out]" : "[out, in]", ") expects ",
                      inFeatures);
  if (Value biasValue = adaptor.getBias()) {
    auto bias = check.tensorOfRank(biasValue, "bias", 1);
    if (failed(bias) ||
        failed(check.sameElementType(*input, "input", *bias, "bias")))
      return failure();
    if (bias->getDimSize(0) != outFeatures)
      return check.fail("bias has ", bias->getDimSize(0),
                        " elements but the layer has ", outFeatures,
                        " output features");
  }
  SmallVector<int64_t> shape(input->getShape());
  shape.back() = outFeatures;
  inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult MatmulOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "matmul");
  auto lhs = check.tensor(adaptor.getLhs(), "lhs");
  auto rhs = check.tensor(adaptor.getRhs(), "rhs");
  if (failed(lhs) || failed(rhs) ||
      failed(check.sameElementType(*lhs, "lhs", *rhs, "rhs")))
    return failure();
  int64_t rank = lhs->getRank();
  if (rank < 2 || rhs->getRank() != rank)
    return check.fail("operands must have the same rank >= 2, got ",
                      shapeToString(lhs->getShape()), " and ",
                      shapeToString(rhs->getShape()));
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < rank - 2; ++i) {
    int64_t a = lhs->getDimSize(i), b = rhs->getDimSize(i);
    if (!dimsAgree(a, b))
      return check.fail("batch dimension ", i, " differs: ", a, " vs ", b);
    shape.push_back(mergeDims(a, b));
  }
  bool transposeB = adaptor.getTransposeB();
  int64_t k = lhs->getDimSize(rank - 1);
  int64_t rhsK = rhs->getDimSize(transposeB ? rank - 1 : rank - 2);
  if (!dimsAgree(k, rhsK))
    return check.fail("contracting dimensions differ: lhs ",
                      shapeToString(lhs->getShape()), " and rhs ",
                      shapeToString(rhs->getShape()),
                      transposeB ? " (transpose_b)" : "");
  shape.push_back(lhs->getDimSize(rank - 2));
  shape.push_back(rhs->getDimSize(transposeB ? rank - 2 : rank - 1));
  inferred.push_back(RankedTensorType::get(shape, lhs->getElementType()));
  return success();
}

/// A per-feature vector (norm scale or shift) must be [D] for input [..., D].
LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "layer_norm");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  if (input->getRank() < 1)
    return check.fail("input must have at least one axis");
  ValueRange affine = adaptor.getAffine();
  if (!affine.empty() && affine.size() != 2)
    return check.fail("takes gamma and beta together or neither, got ",
                      affine.size(), " affine operands");
  if (!affine.empty() &&
      (failed(check.featureVector(*input, affine[0], "gamma")) ||
       failed(check.featureVector(*input, affine[1], "beta"))))
    return failure();
  if (!(adaptor.getEpsilon().convertToDouble() > 0.0))
    return check.fail("epsilon must be positive");
  inferred.push_back(*input);
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "rms_norm");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  if (input->getRank() < 1)
    return check.fail("input must have at least one axis");
  if (failed(check.featureVector(*input, adaptor.getWeight(), "weight")))
    return failure();
  if (!(adaptor.getEpsilon().convertToDouble() > 0.0))
    return check.fail("epsilon must be positive");
  inferred.push_back(*input);
  return success();
}

LogicalResult SoftmaxOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "softmax");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input) ||
      failed(check.axis(signedOr(adaptor.getAxisAttr(), -1), input->getRank())))
    return failure();
  inferred.push_back(*input);
  return success();
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "attention");
  auto q = check.tensorOfRank(adaptor.getQuery(), "query", 4);
  auto k = check.tensorOfRank(adaptor.getKey(), "key", 4);
  auto v = check.tensorOfRank(adaptor.getValue(), "value", 4);
  if (failed(q) || failed(k) || failed(v) ||
      failed(check.sameElementType(*q, "query", *k, "key")) ||
      failed(check.sameElementType(*q, "query", *v, "value")))
    return failure();
  auto qs = q->getShape(), ks = k->getShape(), vs = v->getShape();
  if (!dimsAgree(qs[0], ks[0]) || !dimsAgree(ks[0], vs[0]))
    return check.fail("batch sizes differ: query ", shapeToString(qs), ", key ",
                      shapeToString(ks), ", value ", shapeToString(vs));
  if (ks[1] != vs[1] || !dimsAgree(ks[2], vs[2]))
    return check.fail("key ", shapeToString(ks), " and value ",
                      shapeToString(vs),
                      " must have the same heads and length");
  if (isDynamic(qs[1]) || isDynamic(ks[1]) || ks[1] == 0 || qs[1] % ks[1] != 0)
    return check.fail("query heads (", dimStr(qs[1]),
                      ") must be a static multiple of key/value heads (",
                      dimStr(ks[1]), ")");
  if (!dimsAgree(qs[3], ks[3]))
    return check.fail("query head size ", dimStr(qs[3]),
                      " differs from key head size ", dimStr(ks[3]));
  if (!(adaptor.getScale().convertToDouble() > 0.0))
    return check.fail("scale must be positive");
  FloatAttr dropout = adaptor.getDropoutAttr();
  if (dropout &&
      failed(check.probability(dropout.getValueAsDouble(), "dropout")))
    return failure();
  if (failed(slapo::graph::detail::checkAttentionMask(
          check, *q, *k, adaptor.getMask(), adaptor.getCausalAttr() != nullptr,
          adaptor.getBlockAttr())))
    return failure();
  inferred.push_back(RankedTensorType::get(
      {mergeDims(qs[0], ks[0]), qs[1], qs[2], vs[3]}, q->getElementType()));
  return success();
}

/// `scaling` is linear or llama3 with exactly the fields it takes, each in
/// range; without it none of them may be given.
static LogicalResult verifyRopeScaling(ShapeCheck &check,
                                       RopeOp::Adaptor adaptor) {
  StringAttr scaling = adaptor.getScalingAttr();
  StringRef kind = scaling ? scaling.getValue() : StringRef();
  bool linear = kind == "linear", llama3 = kind == "llama3";
  if (scaling && !linear && !llama3)
    return check.fail("unknown scaling '", kind,
                      "' (expected linear or llama3)");
  FloatAttr factor = adaptor.getFactorAttr();
  FloatAttr low = adaptor.getLowFreqFactorAttr();
  FloatAttr high = adaptor.getHighFreqFactorAttr();
  IntegerAttr original = adaptor.getOriginalMaxPositionsAttr();
  struct Field {
    StringRef name;
    Attribute value;
    bool taken;
  } fields[] = {{"factor", factor, linear || llama3},
                {"low_freq_factor", low, llama3},
                {"high_freq_factor", high, llama3},
                {"original_max_positions", original, llama3}};
  for (const Field &field : fields) {
    if (field.taken && !field.value)
      return check.fail("scaling '", kind, "' needs ", field.name);
    if (!field.taken && field.value)
      return scaling ? check.fail(field.name, " is not a field of scaling '",
                                  kind, "'")
                     : check.fail(field.name, " is given without a scaling");
  }
  for (FloatAttr value : {factor, low, high})
    if (value && !(value.getValueAsDouble() > 0.0))
      return check.fail("scaling factors must be positive, got ",
                        value.getValueAsDouble());
  if (llama3 && !(low.getValueAsDouble() < high.getValueAsDouble()))
    return check.fail("low_freq_factor (", low.getValueAsDouble(),
                      ") must be less than high_freq_factor (",
                      high.getValueAsDouble(), ")");
  if (original && original.getInt() <= 0)
    return check.fail("original_max_positions must be positive, got ",
                      original.getInt());
  return success();
}

LogicalResult RopeOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "rope");
  auto input = check.tensorOfRank(adaptor.getInput(), "input", 4);
  if (failed(input))
    return failure();
  int64_t headSize = input->getDimSize(3);
  if (isDynamic(headSize) || headSize % 2 != 0)
    return check.fail("head size must be static and even, got ",
                      dimStr(headSize));
  if (!(adaptor.getTheta().convertToDouble() > 0.0))
    return check.fail("theta must be positive");
  if (failed(verifyRopeScaling(check, adaptor)))
    return failure();
  inferred.push_back(*input);
  return success();
}

/// Ops whose result is the input type unchanged.
template <typename AdaptorT>
static LogicalResult inferSameAsInput(std::optional<Location> loc,
                                      StringRef name, AdaptorT adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  ShapeCheck check(loc, name);
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  inferred.push_back(*input);
  return success();
}

LogicalResult ReluOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferSameAsInput(loc, "relu", adaptor, inferred);
}

LogicalResult SiluOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferSameAsInput(loc, "silu", adaptor, inferred);
}

LogicalResult GeluOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferSameAsInput(loc, "gelu", adaptor, inferred);
}

LogicalResult ScaleOp::inferReturnTypes(MLIRContext *context,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferSameAsInput(loc, "scale", adaptor, inferred);
}

LogicalResult DropoutOp::inferReturnTypes(MLIRContext *context,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "dropout");
  if (failed(check.probability(adaptor.getProbability().convertToDouble(),
                               "probability")))
    return failure();
  return inferSameAsInput(loc, "dropout", adaptor, inferred);
}

/// The element types graph.cast converts between.
static bool isCastable(Type type) {
  return type.isF32() || type.isBF16() || type.isF16();
}

LogicalResult CastOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "cast");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  Type from = input->getElementType(), to = adaptor.getTo();
  if (!isCastable(from) || !isCastable(to))
    return check.fail("converts between f32, bf16 and f16, got ", from, " to ",
                      to);
  if (to == from)
    return check.fail("casts ", from, " to itself: drop the cast");
  inferred.push_back(input->clone(to));
  return success();
}

/// NumPy broadcasting over trailing axes; a static 1 stretches.
static LogicalResult inferBroadcast(std::optional<Location> loc, StringRef name,
                                    Value lhsValue, Value rhsValue,
                                    SmallVectorImpl<Type> &inferred) {
  ShapeCheck check(loc, name);
  auto lhs = check.tensor(lhsValue, "lhs");
  auto rhs = check.tensor(rhsValue, "rhs");
  if (failed(lhs) || failed(rhs) ||
      failed(check.sameElementType(*lhs, "lhs", *rhs, "rhs")))
    return failure();
  ArrayRef<int64_t> a = lhs->getShape(), b = rhs->getShape();
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1)
      shape[i] = db;
    else if (db == 1)
      shape[i] = da;
    else if (dimsAgree(da, db))
      shape[i] = mergeDims(da, db);
    else
      return check.fail("shapes ", shapeToString(a), " and ", shapeToString(b),
                        " do not broadcast");
  }
  inferred.push_back(RankedTensorType::get(shape, lhs->getElementType()));
  return success();
}

LogicalResult AddOp::inferReturnTypes(MLIRContext *context,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferBroadcast(loc, "add", adaptor.getLhs(), adaptor.getRhs(),
                        inferred);
}

LogicalResult MulOp::inferReturnTypes(MLIRContext *context,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  return inferBroadcast(loc, "mul", adaptor.getLhs(), adaptor.getRhs(),
                        inferred);
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *context,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "transpose");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  int64_t rank = input->getRank();
  SmallVector<bool> seen(rank, false);
  if (static_cast<int64_t>(perm.size()) != rank)
    return check.fail("permutation has ", perm.size(),
                      " entries but the input has rank ", rank);
  SmallVector<int64_t> shape;
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= rank || seen[axis])
      return check.fail("permutation must list each axis 0..", rank - 1,
                        " exactly once");
    seen[axis] = true;
    shape.push_back(input->getDimSize(axis));
  }
  inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

LogicalResult SplitOp::inferReturnTypes(MLIRContext *context,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "split");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  FailureOr<int64_t> axis = check.axis(adaptor.getAxis(), input->getRank());
  if (failed(axis))
    return failure();
  ArrayRef<int64_t> sizes = adaptor.getSizes();
  if (sizes.empty() || llvm::any_of(sizes, [](int64_t s) { return s <= 0; }))
    return check.fail("sizes must be a non-empty list of positive sizes");
  int64_t total = std::accumulate(sizes.begin(), sizes.end(), int64_t{0});
  int64_t dim = input->getDimSize(*axis);
  if (!dimsAgree(dim, total))
    return check.fail("sizes add up to ", total, " but axis ", *axis, " has ",
                      dim);
  for (int64_t size : sizes) {
    SmallVector<int64_t> shape(input->getShape());
    shape[*axis] = size;
    inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  }
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "concat");
  ValueRange inputs = adaptor.getInputs();
  if (inputs.empty())
    return check.fail("needs at least one input");
  auto first = check.tensor(inputs[0], "input #0");
  if (failed(first))
    return failure();
  FailureOr<int64_t> axis = check.axis(adaptor.getAxis(), first->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  for (auto [i, value] : llvm::enumerate(inputs.drop_front())) {
    std::string what = "input #" + std::to_string(i + 1);
    auto type = check.tensor(value, what);
    if (failed(type) ||
        failed(check.sameElementType(*first, "input #0", *type, what)))
      return failure();
    if (type->getRank() != first->getRank())
      return check.fail(what, " has rank ", type->getRank(), ", expected ",
                        first->getRank());
    for (int64_t d = 0; d < first->getRank(); ++d) {
      int64_t dim = type->getDimSize(d);
      if (d == *axis) {
        shape[d] = (isDynamic(shape[d]) || isDynamic(dim))
                       ? ShapedType::kDynamic
                       : shape[d] + dim;
      } else if (!dimsAgree(shape[d], dim)) {
        return check.fail(what, " ", shapeToString(type->getShape()),
                          " differs from input #0 ",
                          shapeToString(first->getShape()),
                          " outside the concatenation axis");
      } else {
        shape[d] = mergeDims(shape[d], dim);
      }
    }
  }
  inferred.push_back(RankedTensorType::get(shape, first->getElementType()));
  return success();
}

LogicalResult
CrossEntropyOp::inferReturnTypes(MLIRContext *context,
                                 std::optional<Location> loc, Adaptor adaptor,
                                 SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "cross_entropy");
  auto logits = check.tensor(adaptor.getLogits(), "logits");
  auto targets = check.tensor(adaptor.getTargets(), "targets");
  if (failed(logits) || failed(targets))
    return failure();
  if (logits->getRank() < 1 || targets->getRank() != logits->getRank() - 1)
    return check.fail("targets ", shapeToString(targets->getShape()),
                      " must have the shape of logits ",
                      shapeToString(logits->getShape()),
                      " without the vocabulary axis");
  for (int64_t d = 0; d < targets->getRank(); ++d)
    if (!dimsAgree(targets->getDimSize(d), logits->getDimSize(d)))
      return check.fail("targets ", shapeToString(targets->getShape()),
                        " do not match logits ",
                        shapeToString(logits->getShape()));
  inferred.push_back(RankedTensorType::get({}, Float32Type::get(context)));
  return success();
}

#define GET_OP_CLASSES
#include "graph/GraphOps.cpp.inc"

//===----------------------------------------------------------------------===//
// SyncOp
//===----------------------------------------------------------------------===//

StringRef SyncOp::partnerOf(StringRef kind) {
  return llvm::StringSwitch<StringRef>(kind)
      .Case("all_reduce", "identity")
      .Case("identity", "all_reduce")
      .Case("all_gather", "split")
      .Case("split", "all_gather")
      .Case("reduce_scatter", "all_gather")
      .Default("");
}

LogicalResult SyncOp::inferReturnTypes(MLIRContext *context,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "sync");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  StringRef forward = adaptor.getForward(), backward = adaptor.getBackward();
  bool paired = partnerOf(forward) == backward ||
                (forward == "all_gather" && backward == "reduce_scatter");
  if (!paired)
    return check.fail("forward '", forward, "' and backward '", backward,
                      "' are not a collective pair (all_reduce/identity, "
                      "all_gather/split, reduce_scatter/all_gather or their "
                      "reverses)");
  int64_t tp = signedOr(adaptor.getTpAttr(), 1);
  if (tp < 1)
    return check.fail("tp must be at least 1, got ", tp);
  FailureOr<int64_t> axis =
      check.axis(signedOr(adaptor.getAxisAttr(), -1), input->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(input->getShape());
  int64_t &dim = shape[*axis];
  if (forward == "all_gather" && !isDynamic(dim)) {
    dim *= tp;
  } else if ((forward == "split" || forward == "reduce_scatter") &&
             !isDynamic(dim)) {
    if (dim % tp != 0)
      return check.fail("axis ", *axis, " (", dim, ") does not divide by tp ",
                        tp);
    dim /= tp;
  }
  inferred.push_back(RankedTensorType::get(shape, input->getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Fused ops
//===----------------------------------------------------------------------===//

LogicalResult BiasGeluOp::inferReturnTypes(MLIRContext *context,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "bias_gelu");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input) ||
      failed(check.featureVector(*input, adaptor.getBias(), "bias")))
    return failure();
  inferred.push_back(*input);
  return success();
}

LogicalResult BiasDropoutAddLayerNormOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "bias_dropout_add_layer_norm");
  auto input = check.tensor(adaptor.getInput(), "input");
  auto residual = check.tensor(adaptor.getResidual(), "residual");
  if (failed(input) || failed(residual) ||
      failed(check.featureVector(*input, adaptor.getBias(), "bias")) ||
      failed(check.featureVector(*input, adaptor.getGamma(), "gamma")) ||
      failed(check.featureVector(*input, adaptor.getBeta(), "beta")))
    return failure();
  if (*input != *residual)
    return check.fail("residual ", *residual, " must have the input type ",
                      *input);
  FloatAttr p = adaptor.getProbabilityAttr();
  if (failed(check.probability(p ? p.getValueAsDouble() : 0.0, "probability")))
    return failure();
  if (!(adaptor.getEpsilon().convertToDouble() > 0.0))
    return check.fail("epsilon must be positive");
  inferred.push_back(*input);
  inferred.push_back(*input);
  return success();
}

LogicalResult AddRmsNormOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "add_rms_norm");
  auto input = check.tensor(adaptor.getInput(), "input");
  auto residual = check.tensor(adaptor.getResidual(), "residual");
  if (failed(input) || failed(residual) ||
      failed(check.featureVector(*input, adaptor.getWeight(), "weight")))
    return failure();
  if (*input != *residual)
    return check.fail("residual ", *residual, " must have the input type ",
                      *input);
  if (!(adaptor.getEpsilon().convertToDouble() > 0.0))
    return check.fail("epsilon must be positive");
  inferred.push_back(*input);
  inferred.push_back(*input);
  return success();
}

LogicalResult CausalMaskOp::inferReturnTypes(MLIRContext *context,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  if (failed(verifyAttributes(context, loc, adaptor)))
    return failure();
  ShapeCheck check(loc, "causal_mask");
  auto input = check.tensor(adaptor.getInput(), "input");
  if (failed(input))
    return failure();
  if (input->getRank() < 2)
    return check.fail("input must have at least two axes (queries, keys)");
  inferred.push_back(*input);
  return success();
}
