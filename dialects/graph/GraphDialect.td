//===- GraphDialect.td - the slapo graph dialect -----------*- tablegen -*-===//
//
// The model as a tensor graph, structured like the Hugging Face module tree.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_GRAPH_DIALECT
#define SLAPO_GRAPH_DIALECT

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Graph_Dialect : Dialect {
  let name = "graph";
  let cppNamespace = "::slapo::graph";
  let summary = "Transformer models as tensor graphs with a module hierarchy";
  let description = [{
    A model is a `graph.model` op whose body is the forward pass from token
    ids and targets to the loss. Every Hugging Face submodule is a nested
    `graph.module` op carrying its attribute name as a symbol, and every
    parameter is a `graph.param` op inside the module that owns it, so the
    dotted path of symbols is the Hugging Face state-dict name.
  }];
  let useDefaultAttributePrinterParser = 1;
  // Result-type inference runs while parsing, when attributes written in an
  // attr-dict are in the dictionary and not yet in properties: keep them there.
  let usePropertiesForAttributes = 0;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def Graph_InitKind : I32EnumAttr<"InitKind", "parameter initializer", [
    I32EnumAttrCase<"zeros", 0>,
    I32EnumAttrCase<"ones", 1>,
    I32EnumAttrCase<"normal", 2>,
    I32EnumAttrCase<"uniform", 3>
  ]> {
  let cppNamespace = "::slapo::graph";
  let genSpecializedAttr = 0;
}

def Graph_InitAttr : AttrDef<Graph_Dialect, "Init"> {
  let mnemonic = "init";
  let summary = "how a parameter is initialised";
  let description = [{
    `#graph.init<zeros>`, `#graph.init<ones>`, `#graph.init<normal, std = S>`
    (normal with mean 0 and standard deviation S) or
    `#graph.init<uniform, bound = B>` (uniform on [-B, B]; LoRA's A matrix).
  }];
  let parameters = (ins "InitKind":$kind, "::llvm::APFloat":$std);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

#endif // SLAPO_GRAPH_DIALECT
