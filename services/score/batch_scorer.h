// Batch scoring, gRPC-free: the "batch_score" operation reads a dataset (raw
// rows, through the model's fitted transform - the same code as Predict and
// prep) or a feature set (rows already transformed), predicts in row blocks
// on several threads, and stores the results as frames: the kept input
// columns, then the predictions (label and p_<class> per class, prediction,
// or cluster).
//
// Column families:
//   batch_jobs     id -> v1::BatchScoring
//   batch_results  id \0 <chunk, 8 bytes big-endian> -> v1::Frame
#ifndef MLPIPE_SERVICES_SCORE_BATCH_SCORER_H_
#define MLPIPE_SERVICES_SCORE_BATCH_SCORER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ops/operation_manager.h"
#include "common/serving/servable.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "common/table/table.h"
#include "mlpipe/v1/score_service.pb.h"
#include "services/score/model_manager.h"

namespace mlpipe::score {

inline constexpr char kBatchJobs[] = "batch_jobs";
inline constexpr char kBatchResults[] = "batch_results";

// Where batch scoring reads rows (ingest and prep over gRPC).
class BatchSources {
 public:
  virtual ~BatchSources() = default;
  // A dataset version's rows (0: the latest); `*version` gets the version.
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t* version) = 0;
  // A feature set's rows, only `columns`.
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const std::string& feature_set,
      const std::vector<std::string>& columns) = 0;
};

struct BatchScorerOptions {
  int threads = 2;  // Predicting row blocks.
};

// The prediction columns of `s`'s outputs for `rows` rows (`scores` is
// rows x s.width()).
std::vector<table::Column> PredictionColumns(const serving::Servable& s,
                                             const std::vector<double>& scores,
                                             size_t rows);

// Thread-safe.
class BatchScorer {
 public:
  // Not owned; all outlive the scorer.
  BatchScorer(BatchScorerOptions options, storage::Store* store,
              ModelManager* manager, ModelSource* models,
              BatchSources* sources);

  // INVALID_ARGUMENT naming the field.
  absl::Status Check(const v1::StartBatchScoringRequest& request) const;
  // The work of operation `progress.operation_id()` (the job's id).
  absl::StatusOr<v1::BatchScoring> Run(
      const v1::StartBatchScoringRequest& request, ops::Progress& progress);
  absl::StatusOr<v1::BatchScoring> Get(const std::string& id) const;
  // Newest first.
  absl::StatusOr<std::vector<v1::BatchScoring>> List(int limit) const;
  // The stored result frames, in order.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> Read(
      const std::string& id) const;

 private:
  // A deployed version or alias, else the model fetched from train.
  absl::StatusOr<std::shared_ptr<const serving::Servable>> Model(
      const std::string& model) const;
  // Deletes the result frames of an earlier run of job `id`.
  absl::Status ClearResults(const std::string& id);
  // The rows to score, from the dataset or the feature set; sets job->source.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> OpenRows(
      const v1::StartBatchScoringRequest& request, const serving::Servable& s,
      v1::BatchScoring* job);
  // Scores and stores `reader`'s frames as chunks; sets job's columns, counts.
  absl::Status ScoreRows(const v1::StartBatchScoringRequest& request,
                         const serving::Servable& s, table::FrameReader& reader,
                         ops::Progress& progress, v1::BatchScoring* job);

  const BatchScorerOptions options_;
  storage::Store* const store_;
  ModelManager* const manager_;
  ModelSource* const models_;
  BatchSources* const sources_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_BATCH_SCORER_H_
