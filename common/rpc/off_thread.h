// Long unary calls (reading a file, a whole dataset) run on threads of their
// own, and admitted ones on a pool's, so they never block gRPC's callback
// threads.
#ifndef MLPIPE_COMMON_RPC_OFF_THREAD_H_
#define MLPIPE_COMMON_RPC_OFF_THREAD_H_

#include <condition_variable>
#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"

namespace mlpipe::rpc {

// Thread-safe. Destroying it waits for the calls still running, so a
// service that owns one outlives its work.
class OffThreadCalls {
 public:
  OffThreadCalls() = default;
  OffThreadCalls(const OffThreadCalls&) = delete;
  ~OffThreadCalls();
  // Runs `work` on a new thread and finishes the call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx,
                                std::function<absl::Status()> work);

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  int running_ = 0;  // GUARDED_BY(mu_)
};

// Finishes the call with the status `work` gives its argument (at once or
// later, from any thread), `work` being run by `submit` (a bounded pool's
// admission, e.g. Predictor::Submit(work, reply)); or at once with the
// status `submit` refuses with.
using Done = std::function<void(absl::Status)>;
using Submitter = std::function<absl::Status(std::function<void(Done)>, Done)>;
grpc::ServerUnaryReactor* RunAdmitted(grpc::CallbackServerContext* ctx,
                                      const Submitter& submit,
                                      std::function<void(Done)> work);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_OFF_THREAD_H_
