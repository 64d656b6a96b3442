#include "services/score/score_flags.h"

#include "absl/flags/flag.h"
#include "services/host/flags.h"

ABSL_FLAG(std::string, score_default_alias, "production",
          "The alias Predict uses when a request names no model.");
ABSL_FLAG(int, score_max_concurrent, 64,
          "Predict requests scored at once; more get RESOURCE_EXHAUSTED at "
          "once.");
ABSL_FLAG(int, score_max_rows, 10000, "Rows per Predict request, at most.");
ABSL_FLAG(int, score_worker_threads, 4,
          "Threads for versions under a latency budget and for shadows.");
ABSL_FLAG(int, score_log_queue, 100000,
          "Prediction records waiting to be logged; more are dropped.");
ABSL_FLAG(bool, score_log_inputs, true,
          "Log the raw fields of every prediction.");
ABSL_FLAG(int, score_batch_threads, 2, "Threads per batch scoring job.");
ABSL_FLAG(int, score_route_sync_ms, 1000,
          "How often routes changed through other scoring replicas are taken "
          "from the registry (0: never).");

namespace mlpipe::score {

ScoreModuleOptions ScoreOptionsFromFlags() {
  ScoreModuleOptions o;
  o.train_address = absl::GetFlag(FLAGS_train_address);
  o.prep_address = absl::GetFlag(FLAGS_prep_address);
  o.ingest_address = absl::GetFlag(FLAGS_ingest_address);
  o.orchestrator_address = absl::GetFlag(FLAGS_orchestrator_address);
  o.monitor_address = absl::GetFlag(FLAGS_monitor_address);
  o.default_alias = absl::GetFlag(FLAGS_score_default_alias);
  o.predictor.max_concurrent = absl::GetFlag(FLAGS_score_max_concurrent);
  o.predictor.max_rows =
      static_cast<size_t>(absl::GetFlag(FLAGS_score_max_rows));
  o.predictor.worker_threads = absl::GetFlag(FLAGS_score_worker_threads);
  o.predictor.log_inputs = absl::GetFlag(FLAGS_score_log_inputs);
  o.log.queue_capacity =
      static_cast<size_t>(absl::GetFlag(FLAGS_score_log_queue));
  o.batch.threads = absl::GetFlag(FLAGS_score_batch_threads);
  o.route_sync =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_score_route_sync_ms));
  return o;
}

}  // namespace mlpipe::score
