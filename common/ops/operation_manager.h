// Long-running work behind an RPC that returns at once (DESIGN.md §1): the
// caller gets an Operation (id, state, progress, result or error); the work
// runs on a bounded pool; watchers see every change. Operations are kept in
// the service's store, with the request that started them, so work that a
// crash or shutdown interrupted runs again when the service restarts (work
// must therefore be idempotent: same request, same result). gRPC-free; the
// Operations service (operations_service.h) is its adapter.
//
// Store layout (column family "operations"):
//   o/<id>  -> v1::OperationRecord
//   k/<idempotency key> -> <id>
#ifndef MLPIPE_COMMON_OPS_OPERATION_MANAGER_H_
#define MLPIPE_COMMON_OPS_OPERATION_MANAGER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/storage/store.h"
#include "google/protobuf/any.pb.h"
#include "mlpipe/v1/operation.pb.h"

namespace mlpipe::ops {

inline constexpr char kOperationsColumnFamily[] = "operations";

// What a piece of work sees of its operation. The manager's is thread-safe
// (a job's threads may report at once); a test's may be thread-compatible
// when its work reports from one thread.
class Progress {
 public:
  virtual ~Progress() = default;
  // True once CancelOperation (or shutdown) asked the work to stop; the work
  // should return absl::CancelledError soon after.
  virtual bool Cancelled() const = 0;
  // Reports progress (watchers see it; the store gets it at most once a
  // second). `total` 0 when unknown. `fraction` (0..1) when the units done
  // are not the whole story (a trial part-way); < 0: done / total.
  virtual void Update(int64_t done, int64_t total, const std::string& message,
                      double fraction) = 0;
  void Update(int64_t done, int64_t total, const std::string& message) {
    Update(done, total, message, -1);
  }
  // The id of the operation the work runs for ("" outside a manager).
  virtual std::string operation_id() const { return ""; }
};

// Runs one operation: its result (packed in an Any) or an error.
using Work = std::function<absl::StatusOr<google::protobuf::Any>(
    const google::protobuf::Any& request, Progress& progress)>;

struct OperationManagerOptions {
  // Ids are "<service>-op-..."; the Operations service routes by it.
  std::string service;
  // Operations running at once; the rest wait PENDING. Default 2.
  int workers = 2;
};

// Thread-safe.
class OperationManager {
 public:
  // `store` must have kOperationsColumnFamily and outlive the manager.
  OperationManager(OperationManagerOptions options, storage::Store* store);
  ~OperationManager();  // Stop().
  OperationManager(const OperationManager&) = delete;

  const std::string& service() const { return options_.service; }

  // Declares a kind of work. Call before Resume / Start.
  void Register(const std::string& kind, Work work);
  // Queues again the operations a previous process left PENDING or RUNNING
  // (FAILED when their kind is no longer registered), then starts the
  // workers. Call once.
  absl::Status Resume();

  // Starts `kind` with `request`. With a non-empty idempotency key, the
  // operation first started with that key is returned instead of a new one.
  // INVALID_ARGUMENT for an unknown kind; UNAVAILABLE when stopping.
  absl::StatusOr<v1::Operation> Start(const std::string& kind,
                                      const google::protobuf::Message& request,
                                      const std::string& idempotency_key = "");
  // NOT_FOUND when absent.
  absl::StatusOr<v1::Operation> Get(const std::string& id) const;
  // Newest first; `kind` empty for every kind; limit 0: 50.
  absl::StatusOr<std::vector<v1::Operation>> List(const std::string& kind,
                                                  int limit) const;
  // Asks the work to stop; returns the operation (unchanged if it ended).
  absl::StatusOr<v1::Operation> Cancel(const std::string& id);
  // Blocks until the operation ends or `timeout` passes; returns it as it is.
  absl::StatusOr<v1::Operation> Wait(const std::string& id,
                                     absl::Duration timeout);

  // Calls `fn` with every change of every operation (under a lock: `fn` must
  // not call back into the manager). Returns a handle.
  int AddListener(std::function<void(const v1::Operation&)> fn);
  // After it returns, the listener is not running and will not run.
  void RemoveListener(int handle);

  // Stops the workers: running work is asked to stop and stays RUNNING in
  // the store, to run again after a restart. Idempotent.
  void Stop();

 private:
  struct Live;
  class LiveProgress;
  void WorkerLoop();
  void RunOne(const std::string& id);
  // Bumps the revision and time, notifies listeners, persists when `persist`.
  // REQUIRES: mu_ held.
  absl::Status ChangedLocked(Live& live, bool persist);

  const OperationManagerOptions options_;
  storage::Store* const store_;
  std::map<std::string, Work> kinds_;  // Read-only after Resume.

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::shared_ptr<Live>> live_;  // GUARDED_BY(mu_)
  std::deque<std::string> queue_;                      // GUARDED_BY(mu_)
  bool stopping_ = false;                              // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;

  std::mutex listeners_mu_;
  std::map<int, std::function<void(const v1::Operation&)>>
      listeners_;          // GUARDED_BY(listeners_mu_)
  int next_listener_ = 0;  // GUARDED_BY(listeners_mu_)
};

// True for SUCCEEDED, FAILED and CANCELLED.
bool Ended(const v1::Operation& op);

}  // namespace mlpipe::ops

#endif  // MLPIPE_COMMON_OPS_OPERATION_MANAGER_H_
