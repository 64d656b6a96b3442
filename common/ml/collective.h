// One GBDT model trained over several processes, each holding only its
// shard of the rows, with XGBoost's own collective (the rabit communicator
// of Debian's libxgboost 1.7): the hist method all-reduces its histograms,
// and the metrics, so every process grows the same trees. The processes
// meet through XGBoost's tracker, the one Debian's python3-xgboost ships
// (xgboost/tracker.py, standard library only), run as a child process.
// gRPC-free.
#ifndef MLPIPE_COMMON_ML_COLLECTIVE_H_
#define MLPIPE_COMMON_ML_COLLECTIVE_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace mlpipe::ml {

// Where XGBoost's tracker script is (python3-xgboost).
inline constexpr char kXgboostTrackerScript[] =
    "/usr/lib/python3/dist-packages/xgboost/tracker.py";

// How one process joins a collective fit (FitOptions::collective).
struct Collective {
  std::string tracker_host;
  int tracker_port = 0;
  int workers = 0;      // World size.
  std::string task_id;  // Distinct per process; ranks follow it.
};

// The tracker of one collective fit: `python3 SCRIPT --num-workers N
// --host-ip HOST`, listening once Start returns. It ends by itself once
// every worker has finished; killed when destroyed otherwise.
class Tracker {
 public:
  static absl::StatusOr<std::unique_ptr<Tracker>> Start(
      int workers, const std::string& host,
      const std::string& script = kXgboostTrackerScript);
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  // What worker `task_id` joins with.
  Collective For(const std::string& task_id) const;

 private:
  Tracker() = default;
  pid_t pid_ = -1;
  std::thread drain_;  // Reads the tracker's output to its end.
  std::string host_;
  int port_ = 0;
  int workers_ = 0;
};

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_COLLECTIVE_H_
