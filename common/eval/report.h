// An evaluation as one self-contained HTML page: summary and verdicts,
// metrics side by side (candidates and baseline), ROC, precision-recall and
// calibration plots as inline SVG, confusion matrices, per-class and
// residual tables, slices and their gaps. No scripts, no external files.
// gRPC-free.
#ifndef MLPIPE_COMMON_EVAL_REPORT_H_
#define MLPIPE_COMMON_EVAL_REPORT_H_

#include <string>

#include "mlpipe/v1/evaluation.pb.h"

namespace mlpipe::eval {

// Element ids, for tools and tests: "summary", "metrics", "verdict-<i>",
// "roc-<i>", "pr-<i>", "calibration-<i>", "confusion-<i>", "classes-<i>",
// "residuals-<i>", "slices-<i>", "gaps-<i>" (i: the model's index in
// candidates, then the baseline).
std::string HtmlReport(const v1::Evaluation& evaluation);

}  // namespace mlpipe::eval

#endif  // MLPIPE_COMMON_EVAL_REPORT_H_
