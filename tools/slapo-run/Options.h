//===- Options.h - slapo-run's command line --------------------*- C++ -*-===//
//
// Every option of slapo-run (slapo/Run/RunOptions.h), parsed by CLI11:
// `--opt value` and `--opt=value`, --help with a line for each option. A value
// out of range (a negative step count, a non-finite learning rate, an unknown
// schedule) and options that contradict each other are refused here, before a
// plan is read.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H
#define SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H

#include "slapo/Run/RunOptions.h"

#include <string>

namespace slapo::run {

enum class ParseOutcome { Run, Help, Error };

/// Parses argv into `options`. Help: `message` is the help text. Error:
/// `message` says what is wrong with which option.
ParseOutcome parseOptions(int argc, char **argv, Options &options,
                          std::string &message);

} // namespace slapo::run

#endif // SLAPO_TOOLS_SLAPO_RUN_OPTIONS_H
