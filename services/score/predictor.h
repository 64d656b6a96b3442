// Online prediction, gRPC-free: admission (bounded concurrency; excess
// requests are refused at once), routing (an explicit version, an alias or
// the default alias; weighted split sticky by a routing key), features (the
// model's fitted transform over raw fields, through the shared code of
// common/features, or vectors from the online store), the model, the
// latency budget and fallback ("better wrong than late"), shadow copies, and
// asynchronous prediction logging. The RPC adapters (mlpipe.v1.Scoring and
// the Open Inference Protocol) only convert messages.
#ifndef MLPIPE_SERVICES_SCORE_PREDICTOR_H_
#define MLPIPE_SERVICES_SCORE_PREDICTOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/serving/servable.h"
#include "common/util/task_pool.h"
#include "services/score/model_manager.h"
#include "services/score/prediction_log.h"

namespace mlpipe::score {

// Feature vectors of entities (prep's online store).
class OnlineFeatures {
 public:
  virtual ~OnlineFeatures() = default;
  // One vector per key, in `features` order; nullopt for an unknown key.
  virtual absl::StatusOr<std::vector<std::optional<std::vector<double>>>> Get(
      const std::string& feature_set, const std::vector<std::string>& keys,
      const std::vector<std::string>& features) = 0;
};

struct PredictorOptions {
  // Requests admitted at once, waiting for a scoring thread or running; more
  // are refused at once (RESOURCE_EXHAUSTED), so a queue never builds.
  int max_concurrent = 64;
  int threads = 2;  // Scoring threads.
  // Requests of at most this many raw rows always run on the caller's
  // thread: a hand-off to a scoring thread costs more than scoring them.
  size_t inline_rows = 16;
  size_t max_rows = 10000;  // Rows per request.
  // Bytes of one string value (INVALID_ARGUMENT past it): a request's
  // values reach the prediction log and the monitor's profiles.
  size_t max_field_bytes = 65536;
  int worker_threads = 4;     // Run versions under a budget, and shadows.
  size_t shadow_queue = 256;  // Shadow requests waiting; more are skipped.
  bool log_inputs = true;     // Log raw fields with predictions.
  // Log the feature vector of predictions from raw rows too (from entity
  // keys it always is; from rows with log_inputs the row gives it again).
  bool log_features = false;
};

// One request, whatever protocol it came by.
struct PredictInput {
  std::string model;  // Version, alias, model name, or "": default alias.
  std::vector<serving::RawRow> rows;
  std::vector<std::string> entity_keys;  // Instead of rows.
  std::string routing_key;
  bool ignore_extra = false;
  // When the request arrived (the RPC adapters set it before decoding);
  // unset: when Predict is called. The latency budget counts from here.
  absl::Time arrived = absl::InfinitePast();
};

// One version's outputs for every row.
struct PredictOutput {
  std::shared_ptr<const serving::Servable>
      servable;                  // The version that answered.
  std::string alias;             // "" when named explicitly.
  std::vector<double> scores;    // rows x servable->width().
  std::vector<std::string> ids;  // Prediction ids.
  bool fallback = false;
  // The prediction log's records of the answer (serialized
  // v1::PredictionRecord), for Predictor::Commit.
  std::vector<std::string> log;
  size_t rows() const { return ids.size(); }
};

// Appends the wire form of the google.protobuf.Struct of `row` (what
// serializing the Struct of its fields gives, parsed) to `out`.
void AppendStructBytes(const serving::RawRow& row, std::string* out);

// Thread-safe.
class Predictor {
 public:
  // Not owned; all outlive the predictor. `online` and `log` may be null.
  Predictor(PredictorOptions options, ModelManager* manager,
            OnlineFeatures* online, PredictionLogger* log);
  ~Predictor();  // Waits for shadow work.

  using Done = std::function<void(absl::Status)>;
  // Admission: runs `work`, which calls its argument with the request's
  // status when it is done (at once, or later from another thread: after
  // Commit), then `reply` with that status; unless max_concurrent requests
  // are admitted already: RESOURCE_EXHAUSTED at once then (counted; nothing
  // runs), UNAVAILABLE once the predictor is stopping. One request at a time
  // runs on the calling thread (no hand-off when lightly loaded), the others
  // on scoring threads, so the caller (gRPC's threads) stays free to admit or
  // refuse what arrives: no queue builds where it cannot be counted. A
  // `small` request (InlineRows) always runs on the calling thread: it takes
  // less time than handing it off would. `reply` runs after the request's
  // place is freed, so a caller's next request finds it free.
  absl::Status Submit(std::function<void(Done)> work, Done reply,
                      bool small = false);
  // Whether a request of `rows` raw rows is small (Submit's `small`).
  bool InlineRows(size_t rows) const {
    return rows > 0 && rows <= options_.inline_rows;
  }

  // From now on Submit refuses with UNAVAILABLE (the server is stopping);
  // what was admitted still runs.
  void Stop() { stopping_.store(true, std::memory_order_release); }

  // Scores on the calling thread (inside Submit's work). INVALID_ARGUMENT
  // naming the fields; NOT_FOUND for an unknown model; UNAVAILABLE when the
  // route has no loaded version. Counted in mlpipe_score_requests_total.
  // The answer's log records are in `log`: Commit them before answering.
  absl::StatusOr<PredictOutput> Score(const PredictInput& input);
  // Appends `out.log` to the prediction log (group commit), then runs
  // `then`: once the records are durable (or dropped, which is counted).
  void Commit(PredictOutput& out, std::function<void()> then);

  // Submit + Score, waiting for the outcome (RESOURCE_EXHAUSTED when not
  // admitted).
  absl::StatusOr<PredictOutput> Predict(const PredictInput& input);

  // Rows a request may carry.
  size_t max_rows() const { return options_.max_rows; }

  // The servable `model` names now (for metadata); NOT_FOUND otherwise.
  absl::StatusOr<std::shared_ptr<const serving::Servable>> Resolve(
      const std::string& model) const;

 private:
  struct Routed;
  // `arrived`: the request's arrival (the budget and latency count from it).
  absl::StatusOr<PredictOutput> PredictAdmitted(const PredictInput& input,
                                                absl::Time arrived);
  absl::StatusOr<Routed> Route(const ServingState& state,
                               const PredictInput& input) const;
  // The features of the input for `s` (rows x s.num_features()).
  absl::Status Features(const serving::Servable& s, const PredictInput& input,
                        std::vector<double>* x);
  // Features + model on the calling thread.
  absl::Status Run(const serving::Servable& s, const PredictInput& input,
                   std::vector<double>* x, std::vector<double>* scores);
  // Runs `s` on a worker and waits until `deadline` (the request's arrival
  // plus the budget); DEADLINE_EXCEEDED when late, however little (the work
  // finishes unobserved).
  absl::Status RunWithin(std::shared_ptr<const serving::Servable> s,
                         const PredictInput& input, absl::Time arrived,
                         absl::Time deadline, std::vector<double>* x,
                         std::vector<double>* scores);
  void Shadow(const ServingRoute& route, const PredictInput& input,
              const std::vector<std::string>& ids);
  // The prediction log's records of one answer (none without a log);
  // `fell_back_from`: the routed version `s` answered for (null: none).
  std::vector<std::string> Records(
      const serving::Servable& s, const std::string& alias,
      const PredictInput& input, const std::vector<double>& x,
      const std::vector<double>& scores, const std::vector<std::string>& ids,
      bool shadow, const serving::Servable* fell_back_from,
      double seconds) const;

  const PredictorOptions options_;
  ModelManager* const manager_;
  OnlineFeatures* const online_;
  PredictionLogger* const log_;
  std::atomic<int> inflight_{0};          // Admitted: waiting or running.
  std::atomic<bool> inline_busy_{false};  // One runs on the caller's thread.
  std::atomic<bool> stopping_{false};
  TaskPool workers_;
  TaskPool scoring_;  // Admitted requests; drained first at destruction.
};

// A new prediction id: 24 hex digits, unique across processes and restarts.
std::string NewPredictionId();

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_PREDICTOR_H_
