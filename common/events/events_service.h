// mlpipe.v1.Events: streams a service's outbox to subscribers. One instance
// serves the logs of every service in the process, chosen by `source`.
#ifndef MLPIPE_COMMON_EVENTS_EVENTS_SERVICE_H_
#define MLPIPE_COMMON_EVENTS_EVENTS_SERVICE_H_

#include <map>
#include <string>

#include "common/events/event_log.h"
#include "mlpipe/v1/events.grpc.pb.h"

namespace mlpipe::events {

class EventsService final : public v1::Events::CallbackService {
 public:
  // Logs are not owned and must outlive the service.
  void AddLog(EventLog* log) { logs_[log->source()] = log; }

  grpc::ServerWriteReactor<v1::Event>* Subscribe(
      grpc::CallbackServerContext* context,
      const v1::SubscribeRequest* request) override;

 private:
  std::map<std::string, EventLog*> logs_;
};

}  // namespace mlpipe::events

#endif  // MLPIPE_COMMON_EVENTS_EVENTS_SERVICE_H_
