#include "services/score/score_metrics.h"

#include "common/metrics/metrics.h"

namespace mlpipe::score {
namespace {

struct Families {
  prometheus::Family<prometheus::Counter>& predictions =
      prometheus::BuildCounter()
          .Name("mlpipe_score_predictions_total")
          .Help(
              "Rows predicted, by model, version and outcome (ok: answered "
              "by the routed version; fallback: answered as the fallback; "
              "shadow: a shadow copy, logged only; failed).")
          .Register(metrics::Registry());
  prometheus::Family<prometheus::Counter>& fallbacks =
      prometheus::BuildCounter()
          .Name("mlpipe_score_fallbacks_total")
          .Help(
              "Requests routed to a version that did not answer them, by "
              "reason (error, late); the fallback version answered.")
          .Register(metrics::Registry());
  prometheus::Family<prometheus::Histogram>& seconds =
      prometheus::BuildHistogram()
          .Name("mlpipe_score_predict_seconds")
          .Help(
              "Time to score one request (parse, transform, predict), by "
              "the version that answered.")
          .Register(metrics::Registry());
};

Families& F() {
  static auto* f = new Families();
  return *f;
}

prometheus::Histogram::BucketBoundaries PredictBuckets() {
  return {0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01,
          0.02,    0.05,    0.1,    0.25,   0.5,    1,     2.5,   5,     10};
}

}  // namespace

std::shared_ptr<ServableMetrics> NewServableMetrics(
    const std::string& model, const std::string& version) {
  auto m = std::make_shared<ServableMetrics>();
  auto& f = F();
  auto rows = [&](const char* outcome) {
    return &f.predictions.Add(
        {{"model", model}, {"version", version}, {"outcome", outcome}});
  };
  m->ok = rows("ok");
  m->fallback = rows("fallback");
  m->shadow = rows("shadow");
  m->failed = rows("failed");
  m->fell_back_error = &f.fallbacks.Add(
      {{"model", model}, {"version", version}, {"reason", "error"}});
  m->fell_back_late = &f.fallbacks.Add(
      {{"model", model}, {"version", version}, {"reason", "late"}});
  m->seconds = &f.seconds.Add({{"model", model}, {"version", version}},
                              PredictBuckets());
  return m;
}

ScoreMetrics& Metrics() {
  static ScoreMetrics* m = [] {
    auto* m = new ScoreMetrics();
    auto& reg = metrics::Registry();
    auto& requests = prometheus::BuildCounter()
                         .Name("mlpipe_score_requests_total")
                         .Help(
                             "Predict requests by outcome: ok, invalid, "
                             "not_found, overloaded, unavailable, failed.")
                         .Register(reg);
    m->ok = &requests.Add({{"outcome", "ok"}});
    m->invalid = &requests.Add({{"outcome", "invalid"}});
    m->not_found = &requests.Add({{"outcome", "not_found"}});
    m->overloaded = &requests.Add({{"outcome", "overloaded"}});
    m->unavailable = &requests.Add({{"outcome", "unavailable"}});
    m->failed = &requests.Add({{"outcome", "failed"}});
    m->inflight = &prometheus::BuildGauge()
                       .Name("mlpipe_score_inflight_requests")
                       .Help("Predict requests being scored now.")
                       .Register(reg)
                       .Add({});
    m->loaded = &prometheus::BuildGauge()
                     .Name("mlpipe_score_loaded_versions")
                     .Help("Model versions loaded and served.")
                     .Register(reg)
                     .Add({});
    m->loads = &prometheus::BuildCounter()
                    .Name("mlpipe_score_model_loads_total")
                    .Help("Model version loads by outcome (ok, failed).")
                    .Register(reg);
    m->load_seconds = &prometheus::BuildHistogram()
                           .Name("mlpipe_score_model_load_seconds")
                           .Help("Time to fetch and load one model version.")
                           .Register(reg)
                           .Add({}, metrics::LatencyBuckets());
    m->log_depth = &prometheus::BuildGauge()
                        .Name("mlpipe_score_log_queue_depth")
                        .Help("Prediction records waiting to be logged.")
                        .Register(reg)
                        .Add({});
    m->log_dropped = &prometheus::BuildCounter()
                          .Name("mlpipe_score_log_dropped_total")
                          .Help(
                              "Prediction records dropped because the log "
                              "queue was full.")
                          .Register(reg)
                          .Add({});
    m->log_written = &prometheus::BuildCounter()
                          .Name("mlpipe_score_log_written_total")
                          .Help("Prediction records handed to the sink.")
                          .Register(reg)
                          .Add({});
    m->log_failed = &prometheus::BuildCounter()
                         .Name("mlpipe_score_log_write_failures_total")
                         .Help(
                             "Prediction record batches the sink refused "
                             "(kept and sent again).")
                         .Register(reg)
                         .Add({});
    m->log_rejected = &prometheus::BuildCounter()
                           .Name("mlpipe_score_log_rejected_total")
                           .Help(
                               "Prediction records the sink refused for what "
                               "they hold, each alone (dropped).")
                           .Register(reg)
                           .Add({});
    m->shadow_dropped = &prometheus::BuildCounter()
                             .Name("mlpipe_score_shadow_dropped_total")
                             .Help(
                                 "Shadow predictions skipped because the "
                                 "shadow queue was full.")
                             .Register(reg)
                             .Add({});
    m->deploys = &prometheus::BuildCounter()
                      .Name("mlpipe_score_deployments_total")
                      .Help(
                          "Deployment changes by outcome (ok, invalid, "
                          "failed) and kind (deploy, undeploy, rollback).")
                      .Register(reg);
    m->batch = &prometheus::BuildCounter()
                    .Name("mlpipe_score_batch_rows_total")
                    .Help("Rows scored by batch scoring jobs.")
                    .Register(reg);
    return m;
  }();
  return *m;
}

}  // namespace mlpipe::score
