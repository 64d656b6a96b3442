// Keeps the online views of datasets that receive pushed rows fresh within
// the push commit interval: a thread per dataset with online views follows
// Ingestion/WatchPushes from the lowest push log position its views applied
// and hands each message of rows to Preparer::ApplyPushed as it commits. A
// stream that ends is opened again after a second; a view added meanwhile
// makes it open again from that view's position (the oldest rows not yet in
// a version: the rows before are in the versions the view was made from).
#ifndef MLPIPE_SERVICES_PREP_PUSH_FOLLOWER_H_
#define MLPIPE_SERVICES_PREP_PUSH_FOLLOWER_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "services/prep/online_store.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {

// Thread-safe.
class PushFollower {
 public:
  // `preparer` and `online` are not owned and outlive the follower;
  // `channel` gives the ingestion service's.
  PushFollower(Preparer* preparer, OnlineStore* online,
               std::function<std::shared_ptr<grpc::Channel>()> channel)
      : preparer_(preparer), online_(online), channel_(std::move(channel)) {}
  ~PushFollower();  // Stop().

  // Follows each dataset with online views not followed yet.
  void Sync();
  // Ends every stream and joins the threads. Idempotent.
  void Stop();

 private:
  void Follow(const std::string& dataset);
  // Reads one stream until it ends or the views change; the error that
  // ended it (OK: the views changed, or stopping).
  absl::Status FollowOnce(const std::string& dataset);

  Preparer* const preparer_;
  OnlineStore* const online_;
  const std::function<std::shared_ptr<grpc::Channel>()> channel_;
  std::mutex mu_;
  std::condition_variable stopped_;
  bool stop_ = false;                                  // GUARDED_BY(mu_)
  std::map<std::string, std::thread> threads_;         // GUARDED_BY(mu_)
  std::map<std::string, grpc::ClientContext*> calls_;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PUSH_FOLLOWER_H_
