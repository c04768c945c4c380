//===- PredictorReport.h - a predictor-training run's results ---*- C++ -*-===//
//
// What slapo-run reports for a plan compiled with `sparsify ...
// predictor=train`: each sparsified layer's token liveness, the recall and
// density of its predictor's mask and the oracle's (shadowed) density, from
// the plan's predictor statistics (plan.predictor_stats); and
// --save-predictors, the predictors' weights as the safetensors file that
// `sparsify ... predictor=FILE` reads.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_RUN_PREDICTORREPORT_H
#define SLAPO_RUN_PREDICTORREPORT_H

#include "slapo/Run/MetricsLog.h"
#include "slapo/Runtime/Trainer.h"

#include <cstdio>
#include <string>
#include <vector>

namespace slapo::run {

/// The sparsified layers of a predictor-training plan, in the order of
/// its statistics ("model.decoder.layers.0", or "....self_attn" for an
/// attention's predictor).
std::vector<std::string> predictorLayers(const rt::Plan &plan);

/// The statistics summed over `batches` micro-batches (4 a layer, as
/// Trainer::predictorStats gives them), averaged over the batches and the
/// layers.
PredictorMeans predictorMeans(const std::vector<double> &sums, int64_t batches);

/// One line a layer: live blocks per token, recall, predicted and oracle
/// density, then their means; `where` says what data they were measured
/// on.
void printPredictorTable(std::FILE *out, const std::vector<std::string> &layers,
                         const std::vector<double> &sums, int64_t batches,
                         const std::string &where);

/// Writes each trainable predictor parameter (added by sparsify) under its
/// whole name to the .safetensors file `path`. False, with `error`, if the
/// plan has none or the file cannot be written.
bool savePredictors(const rt::Trainer &trainer, const std::string &path,
                    std::string &error);

} // namespace slapo::run

#endif // SLAPO_RUN_PREDICTORREPORT_H
