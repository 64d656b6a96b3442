// The scoring service's Prometheus metrics (mlpipe_score_*).
#ifndef MLPIPE_SERVICES_SCORE_SCORE_METRICS_H_
#define MLPIPE_SERVICES_SCORE_SCORE_METRICS_H_

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace mlpipe::serving {

// One loaded version's series, made once per load so that requests do no
// label look-ups.
// (Declared by common/serving/servable.h, which holds it for the scoring
// service.)
struct ServableMetrics {
  // mlpipe_score_predictions_total{model, version, outcome}: rows.
  prometheus::Counter* ok = nullptr;        // Answered by the routed version.
  prometheus::Counter* fallback = nullptr;  // Answered as the fallback.
  prometheus::Counter* shadow = nullptr;    // Predicted as a shadow.
  prometheus::Counter* failed = nullptr;    // The model failed on them.
  // mlpipe_score_fallbacks_total{model, version, reason}: requests this
  // version was routed but did not answer.
  prometheus::Counter* fell_back_error = nullptr;
  prometheus::Counter* fell_back_late = nullptr;
  // mlpipe_score_predict_seconds{model, version}.
  prometheus::Histogram* seconds = nullptr;
};

}  // namespace mlpipe::serving

namespace mlpipe::score {

using serving::ServableMetrics;

std::shared_ptr<ServableMetrics> NewServableMetrics(const std::string& model,
                                                    const std::string& version);

struct ScoreMetrics {
  // mlpipe_score_requests_total{outcome}, made once (Predict counts every
  // request without a label look-up).
  prometheus::Counter* ok;
  prometheus::Counter* invalid;
  prometheus::Counter* not_found;
  prometheus::Counter* overloaded;
  prometheus::Counter* unavailable;
  prometheus::Counter* failed;
  prometheus::Gauge* inflight;  // mlpipe_score_inflight_requests.
  prometheus::Gauge* loaded;    // mlpipe_score_loaded_versions.
  prometheus::Family<prometheus::Counter>* loads;  // {outcome}.
  prometheus::Histogram* load_seconds;
  prometheus::Gauge* log_depth;       // mlpipe_score_log_queue_depth.
  prometheus::Counter* log_dropped;   // mlpipe_score_log_dropped_total.
  prometheus::Counter* log_written;   // mlpipe_score_log_written_total.
  prometheus::Counter* log_failed;    // mlpipe_score_log_write_failures_total.
  prometheus::Counter* log_rejected;  // mlpipe_score_log_rejected_total.
  prometheus::Counter* shadow_dropped;  // mlpipe_score_shadow_dropped_total.
  prometheus::Family<prometheus::Counter>* deploys;  // {outcome}.
  prometheus::Family<prometheus::Counter>* batch;    // batch rows {outcome}.
};

ScoreMetrics& Metrics();

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_SCORE_METRICS_H_
