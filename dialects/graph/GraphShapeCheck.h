//===- GraphShapeCheck.h - shape checks for op verifiers -------*- C++ -*-===//
//
// Helpers shared by the ops' result-type inference, which doubles as their
// shape verifier. Private to dialects/graph.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_GRAPHSHAPECHECK_H
#define SLAPO_GRAPH_GRAPHSHAPECHECK_H

#include "graph/GraphUtils.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"

#include <optional>
#include <string>

namespace slapo::graph::detail {

using llvm::dyn_cast_or_null;
using llvm::StringRef;
using mlir::emitOptionalError;
using mlir::failure;
using mlir::FailureOr;
using mlir::IntegerAttr;
using mlir::Location;
using mlir::LogicalResult;
using mlir::MLIRContext;
using mlir::RankedTensorType;
using mlir::ShapedType;
using mlir::success;
using mlir::Type;
using mlir::UnknownLoc;
using mlir::Value;

inline bool isDynamic(int64_t dim) { return ShapedType::isDynamic(dim); }

/// Two dimensions agree when they are equal or either is not known yet.
inline bool dimsAgree(int64_t a, int64_t b) {
  return a == b || isDynamic(a) || isDynamic(b);
}

/// The better-known of two agreeing dimensions.
inline int64_t mergeDims(int64_t a, int64_t b) { return isDynamic(a) ? b : a; }

inline std::string dimStr(int64_t dim) {
  return isDynamic(dim) ? std::string("?") : std::to_string(dim);
}

/// Shape checks for one op, reported the way ODS-generated checks are:
/// "'graph.linear' op <message>".
class ShapeCheck {
public:
  ShapeCheck(std::optional<Location> loc, StringRef opName)
      : loc(loc), opName(opName) {}

  template <typename... Args> LogicalResult fail(Args &&...args) {
    return emitOptionalError(loc, "'graph.", opName, "' op ",
                             std::forward<Args>(args)...);
  }

  /// The ranked tensor type of `value`, or an error naming `what`.
  FailureOr<RankedTensorType> tensor(Value value, StringRef what) {
    auto type =
        dyn_cast_or_null<RankedTensorType>(value ? value.getType() : Type());
    if (!type) {
      (void)fail(what, " must be a ranked tensor");
      return failure();
    }
    return type;
  }

  FailureOr<RankedTensorType> tensorOfRank(Value value, StringRef what,
                                           int64_t rank) {
    FailureOr<RankedTensorType> type = tensor(value, what);
    if (failed(type))
      return failure();
    if (type->getRank() != rank) {
      (void)fail(what, " must have rank ", rank, ", got ", type->getRank(),
                 " (", shapeToString(type->getShape()), ")");
      return failure();
    }
    return type;
  }

  /// The type of `primal`, when `grad` (its gradient) has exactly that type.
  FailureOr<RankedTensorType> gradOf(Value primal, StringRef primalName,
                                     Value grad) {
    FailureOr<RankedTensorType> type = tensor(primal, primalName);
    if (failed(type) || failed(tensor(grad, "grad")))
      return failure();
    if (grad.getType() != *type) {
      (void)fail("grad type ", grad.getType(), " must equal the ", primalName,
                 " type ", *type);
      return failure();
    }
    return type;
  }

  LogicalResult sameElementType(RankedTensorType a, StringRef aName,
                                RankedTensorType b, StringRef bName) {
    if (a.getElementType() == b.getElementType())
      return success();
    return fail(bName, " has element type ", b.getElementType(), " but ", aName,
                " has ", a.getElementType());
  }

  /// Normalises a possibly negative axis of a rank-`rank` tensor.
  FailureOr<int64_t> axis(int64_t axis, int64_t rank) {
    int64_t normalised = axis < 0 ? axis + rank : axis;
    if (normalised < 0 || normalised >= rank) {
      (void)fail("axis ", axis, " is out of range for rank ", rank);
      return failure();
    }
    return normalised;
  }

  /// `vector` is [D] for an input [..., D] (a bias, a norm's gamma).
  LogicalResult featureVector(RankedTensorType input, Value vector,
                              StringRef what) {
    auto type = tensorOfRank(vector, what, 1);
    if (failed(type) || failed(sameElementType(input, "input", *type, what)))
      return failure();
    if (!dimsAgree(type->getDimSize(0), input.getShape().back()))
      return fail(what, " has ", type->getDimSize(0),
                  " elements but the input has ",
                  dimStr(input.getShape().back()), " features");
    return success();
  }

  LogicalResult probability(double p, StringRef what) {
    if (p >= 0.0 && p < 1.0)
      return success();
    return fail(what, " must be in [0, 1), got ", p);
  }

private:
  std::optional<Location> loc;
  StringRef opName;
};

/// Inference also runs while parsing, before default values are filled in:
/// read optional attributes through their Attr getters. (This also reads
/// I64Attr values signed; their plain getters return uint64_t.)
inline int64_t signedOr(IntegerAttr attr, int64_t fallback) {
  return attr ? attr.getInt() : fallback;
}

/// Inference runs while parsing, before attributes are verified: check that
/// required attributes are present and well-typed before reading them.
template <typename AdaptorT>
inline LogicalResult verifyAttributes(MLIRContext *context,
                                      std::optional<Location> loc,
                                      AdaptorT &adaptor) {
  return adaptor.verify(loc ? *loc : UnknownLoc::get(context));
}

/// The optional block mask of graph.attention and its gradient (query
/// [B, H, T, D], key [B, Hkv, S, D]): none, or causal self-attention (T = S)
/// with `block` > 0 and mask [B, H, ceil(T / block), ceil(S / block)] of the
/// query's element type (GraphSparseOps.cpp).
LogicalResult checkAttentionMask(ShapeCheck &check, RankedTensorType query,
                                 RankedTensorType key, Value mask, bool causal,
                                 IntegerAttr block);

} // namespace slapo::graph::detail

#endif // SLAPO_GRAPH_GRAPHSHAPECHECK_H
