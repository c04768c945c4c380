//===- PlanOps.td - the slapo plan dialect -----------------*- tablegen -*-===//
//
// The executable form of a training step: tensors placed in one arena and
// the kernel calls that read and write them, in order. It serialises 1:1 to
// the .splan FlatBuffers file that slapo-run executes.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_PLAN_OPS
#define SLAPO_PLAN_OPS

include "mlir/IR/EnumAttr.td"
include "mlir/IR/OpBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Plan_Dialect : Dialect {
  let name = "plan";
  let cppNamespace = "::slapo::plan";
  let summary = "Kernel calls on tensors placed in one memory arena";
}

// Where a tensor's bytes belong in the memory plan: the one list of
// categories. The .splan's `Category` (splan.fbs) and the runtime's
// (slapo/Runtime/Plan.h) take the same values, as static_asserts in the
// writer and the loader check.
def Plan_MemoryCategory : I32EnumAttr<"MemoryCategory",
    "where a tensor's bytes belong in the memory plan", [
      I32EnumAttrCase<"Input", 0, "input">,
      I32EnumAttrCase<"Param", 1, "param">,
      I32EnumAttrCase<"Grad", 2, "grad">,
      I32EnumAttrCase<"OptimizerState", 3, "optimizer_state">,
      I32EnumAttrCase<"Activation", 4, "activation">,
      I32EnumAttrCase<"Workspace", 5, "workspace">]> {
  let cppNamespace = "::slapo::plan";
}

class Plan_Op<string mnemonic, list<Trait> traits = []>
    : Op<Plan_Dialect, mnemonic, traits>;

def Plan_ProgramOp : Plan_Op<"program", [
    IsolatedFromAbove, NoTerminator, SingleBlock, Symbol]> {
  let summary = "one training step: tensors, then kernel calls in order";
  let description = [{
    Attributes carry what slapo-run needs besides the calls: `batch`, `seq`,
    `model_type`, `vocab_size`, `max_positions`, the optimizer and its
    hyper-parameters, and, once memory is planned, `arena_bytes` and the
    per-category totals in `memory`.
  }];
  let arguments = (ins SymbolNameAttr:$sym_name);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$sym_name attr-dict-with-keyword $body";
  let hasRegionVerifier = 1;
}

def Plan_TensorOp : Plan_Op<"tensor"> {
  let summary = "a tensor that lives in the arena";
  let description = [{
    Each tensor is its own buffer: the op allocates (it is not `Pure`), so
    two tensors of the same type are never merged by `-cse`. Names are
    unique within a program.

    `category` is input, param, grad, optimizer_state or activation
    (`MemoryCategory`; workspace is the kernels' scratch region, never a
    tensor), printed as a string.
    `offset` (bytes into the arena) is -1 until plan-assign-offsets runs.
    Parameters also carry their Hugging Face `name`, `init` and `trainable`.
  }];
  let arguments = (ins StrAttr:$name, Plan_MemoryCategory:$category,
                       DefaultValuedAttr<I64Attr, "-1">:$offset,
                       OptionalAttr<AnyAttr>:$init,
                       OptionalAttr<BoolAttr>:$trainable);
  let results = (outs Res<AnyRankedTensor, "", [MemAlloc]>:$result);
  let assemblyFormat =
      "$name custom<CategoryString>($category) attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Plan_ViewOp : Plan_Op<"view", [Pure]> {
  let summary = "the same storage seen with another shape (a free reshape)";
  let arguments = (ins AnyRankedTensor:$source);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$source attr-dict `:` type($source) `->` type($result)";
  let hasVerifier = 1;
}

def Plan_CallOp : Plan_Op<"call", [AttrSizedOperandSegments]> {
  let summary = "run one kernel: read `ins`, write `outs`";
  let description = [{
    The kernel is named after the graph op it implements (`linear`,
    `attention_grad`, `adamw_update`, ...) and takes that op's attributes.
    An out may also be read (in-place updates of parameters and moments).
  }];
  let arguments = (ins StrAttr:$kernel, Variadic<AnyRankedTensor>:$ins,
                       Variadic<AnyRankedTensor>:$outs);
  let assemblyFormat = [{
    $kernel (`ins` `(` $ins^ `:` type($ins) `)`)? `outs` `(` $outs `:` type($outs) `)` attr-dict
  }];
}

def Plan_LossOp : Plan_Op<"loss"> {
  let summary = "marks the tensor holding the step's loss";
  let arguments = (ins AnyRankedTensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def Plan_PredictorStatsOp : Plan_Op<"predictor_stats"> {
  let summary = "marks the tensor holding the sparsity predictors' statistics";
  let description = [{
    Four f32 numbers a sparsified layer (graph.mask_agreement), in layer
    order: the fraction of (token, block) pairs live and covered by the
    predicted tile mask, of pairs live, of tiles predicted, and of tiles
    an oracle would keep. Written by a `predictor=train` step before its
    loss.
  }];
  let arguments = (ins AnyRankedTensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

#endif // SLAPO_PLAN_OPS
