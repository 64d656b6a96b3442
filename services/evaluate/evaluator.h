// The evaluation domain (no gRPC): runs evaluations (the "evaluate"
// operation). Loads the candidate models and the baseline from the model
// store (train), reads the chosen part of their split from each model's
// feature set (one pass per feature set; slice columns kept as text),
// predicts, evaluates them side by side (evaluate_models.h), stores the
// evaluation and emits model.blessed / model.rejected per candidate, with
// the evaluation atomically.
//
// Column families: evaluations (id -> v1::Evaluation), operations, events.
#ifndef MLPIPE_SERVICES_EVALUATE_EVALUATOR_H_
#define MLPIPE_SERVICES_EVALUATE_EVALUATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/ops/operation_manager.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "mlpipe/v1/evaluate_service.pb.h"
#include "mlpipe/v1/evaluation.pb.h"
#include "mlpipe/v1/split.pb.h"
#include "mlpipe/v1/split_service.pb.h"

namespace mlpipe::v1 {
class ModelArtifact;        // mlpipe/v1/model.pb.h
class ReadFeaturesRequest;  // mlpipe/v1/prep_service.pb.h
}  // namespace mlpipe::v1

namespace mlpipe::ml {
struct PartRows;  // common/ml/table_data.h
}  // namespace mlpipe::ml

namespace mlpipe::evaluate {

inline constexpr char kEvaluations[] = "evaluations";

// Where an evaluation reads models and rows (train, split and prep over
// gRPC in the service).
class EvaluateSources {
 public:
  virtual ~EvaluateSources() = default;
  // "name:version", or "name" for its latest version.
  virtual absl::StatusOr<v1::ModelArtifact> GetModel(
      const std::string& model) = 0;
  virtual absl::StatusOr<v1::Split> GetSplit(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& split) = 0;
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) = 0;
  // The raw rows of a dataset version, in order, with only `columns` (for a
  // baseline of another dataset version).
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) = 0;
};

struct EvaluatorOptions {
  int threads = 2;             // Predicting and evaluating.
  int64_t frame_rows = 65536;  // Rows per frame read.
};

// Thread-safe.
class Evaluator {
 public:
  static storage::Options StorageOptions();
  // Not owned; all outlive the evaluator.
  Evaluator(EvaluatorOptions options, storage::Store* store,
            events::EventLog* events, EvaluateSources* sources);

  // The work of operation `progress.operation_id()` (the evaluation's id).
  // INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND naming the field.
  absl::StatusOr<v1::Evaluation> Run(const v1::EvaluateRequest& request,
                                     ops::Progress& progress);
  // CheckRequest, counting a rejected request.
  absl::Status Check(const v1::EvaluateRequest& request) const;
  absl::StatusOr<v1::Evaluation> Get(const std::string& id) const;
  // Newest first; only those with `model` among candidates or baseline when
  // given; without curves, slices and calibration (see GetEvaluation).
  absl::StatusOr<std::vector<v1::Evaluation>> List(const std::string& model,
                                                   int limit) const;

 private:
  // One evaluation's models, the part of a split they are scored on, and
  // their predictions (defined in evaluator.cc).
  struct Subject;

  absl::StatusOr<v1::Evaluation> RunOnce(const v1::EvaluateRequest& request,
                                         ops::Progress& progress);
  // The request's models: candidates, then the baseline.
  absl::Status LoadModels(const v1::EvaluateRequest& request, Subject* s);
  // The split's part to score on, checked against the models' datasets, and
  // every row's part. REQUIRES: LoadModels.
  absl::Status ResolvePart(const v1::EvaluateRequest& request, Subject* s);
  // The slice columns: the part's raw values (numbers in ranges) from the
  // split's dataset version. REQUIRES: ResolvePart.
  absl::Status ReadSliceColumns(const v1::EvaluateRequest& request, Subject* s);
  // Every model's predictions on the part. REQUIRES: ResolvePart.
  absl::Status ScoreModels(const v1::EvaluateRequest& request,
                           ops::Progress& progress, Subject* s);
  // The part's rows as `model` reads them (its features and label); `raw`:
  // through its own transform.
  absl::StatusOr<ml::PartRows> ReadPartRows(const v1::ModelArtifact& model,
                                            const Subject& s, bool raw);
  // Stores `e` with a model.blessed / model.rejected event per candidate,
  // atomically, then counts the verdicts.
  absl::Status Commit(const v1::Evaluation& e);
  // The split's raw rows through `model`'s transform, with `keep` raw
  // columns and the label beside its features.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadTransformed(
      const v1::ModelArtifact& model, const v1::Split& split,
      const std::vector<std::string>& keep);

  const EvaluatorOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  EvaluateSources* const sources_;
};

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_SERVICES_EVALUATE_EVALUATOR_H_
