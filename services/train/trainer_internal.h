// What the trainer's files share: its column families, metrics, a job's
// resolved task, and the trainer's private structures. Internal to
// services/train.
#ifndef MLPIPE_SERVICES_TRAIN_TRAINER_INTERNAL_H_
#define MLPIPE_SERVICES_TRAIN_TRAINER_INTERNAL_H_

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/ml/table_data.h"
#include "services/train/trainer.h"

namespace mlpipe::train {

using Clock = std::chrono::steady_clock;

inline constexpr char kJobs[] = "jobs";
inline constexpr char kCheckpoints[] = "checkpoints";
inline constexpr char kTrialModels[] = "trial_models";
inline constexpr char kCandidateCache[] = "candidate_cache";

struct Metrics {
  prometheus::Family<prometheus::Counter>& jobs;
  prometheus::Family<prometheus::Counter>& trials;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Gauge& running;
  prometheus::Counter& resumed;
  // Attempts of distributed trials, by outcome.
  prometheus::Family<prometheus::Counter>& shard_attempts;
  static Metrics& Get();
};

const prometheus::Histogram::BucketBoundaries& FitBuckets();

std::string TaskName(v1::Task t);
// `a`, or `b` when `a` is empty.
std::string Or(const std::string& a, const std::string& b);
// True when `a` is a better value of `metric` than `b` (NaN is worst).
bool Better(const std::string& metric, double a, double b);
double Seconds(Clock::time_point since);

// What a job trains on, decided once from its request and split.
struct Resolved {
  v1::Task task = v1::TASK_UNSPECIFIED;
  std::string label;
  std::vector<std::string> classes;
  std::string metric;
};

namespace internal {

struct Job {
  std::mutex mu;
  v1::TrainingJob job;  // GUARDED_BY(mu)
  Clock::time_point last_persist;
};

struct Data {
  std::string job;
  v1::Split split;
  v1::FeatureSet fs;
  Resolved resolved;
  ml::TrainingData train;
  ml::TrainingData eval;       // Empty without an eval part.
  std::vector<uint8_t> folds;  // One per train row with cross-validation.
  double read_seconds = 0;
};

struct Outcome {
  v1::Trial trial;
  std::optional<v1::LearnedParameters> learned;
  std::vector<v1::MetricValue> train_metrics, eval_metrics;
  double fit_seconds = 0;
  // The rows fitted and scored, and how long reading them took.
  int64_t train_rows = 0, eval_rows = 0;
  double read_seconds = 0;
};

struct LoadOptions {
  int64_t frame_rows = 65536;  // Max rows per frame read from prep.
  // False: the lineage only (split, feature set, task), no rows (a
  // coordinator whose trials run on replicas).
  bool rows = true;
  // shards > 1: only the rows with ShardOf(row, shards) == shard.
  int shards = 0;
  int shard = 0;
};

// Which of `shards` shards a row of the split (its index) belongs to: the
// same in every process.
int ShardOf(size_t row, int shards);

// A job's rows (its split's train and eval parts of its feature set) and
// what they come from.
absl::StatusOr<std::shared_ptr<Data>> LoadData(TrainSources& sources,
                                               const v1::TrainingJob& job,
                                               const LoadOptions& options);

}  // namespace internal
}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAINER_INTERNAL_H_
