#include "services/train/train_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(
    std::string, train_replicas, "",
    "Train replicas that run trials, round robin: "
    "\"ipv4:10.0.0.1:7000,10.0.0.2:7000\" "
    "or \"dns:///train-headless:7000\"; empty: trials run in this process.");
ABSL_FLAG(int, train_parallel_trials, 2, "Trials of one job trained at once.");
ABSL_FLAG(int, train_threads_per_candidate, 1,
          "Threads per trial when the request does not say.");
ABSL_FLAG(
    int, train_checkpoint_every, 10,
    "Rounds / iterations between checkpoints when the request does not say.");
ABSL_FLAG(int, train_parallel_jobs, 1, "Training jobs run at once.");

namespace mlpipe::train {

TrainModuleOptions TrainOptionsFromFlags() {
  TrainModuleOptions o;
  o.replicas = absl::GetFlag(FLAGS_train_replicas);
  o.parallel_jobs = absl::GetFlag(FLAGS_train_parallel_jobs);
  o.trainer.parallel_trials = absl::GetFlag(FLAGS_train_parallel_trials);
  o.trainer.threads_per_candidate =
      absl::GetFlag(FLAGS_train_threads_per_candidate);
  o.trainer.checkpoint_every = absl::GetFlag(FLAGS_train_checkpoint_every);
  return o;
}

}  // namespace mlpipe::train
