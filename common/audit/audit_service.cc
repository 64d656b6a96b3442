#include "common/audit/audit_service.h"

#include "common/rpc/status.h"

namespace mlpipe::audit {

grpc::ServerUnaryReactor* AuditService::ListAuditRecords(
    grpc::CallbackServerContext* context,
    const v1::ListAuditRecordsRequest* request,
    v1::ListAuditRecordsResponse* response) {
  return rpc::FinishUnary(context, log_->List(*request), response);
}

}  // namespace mlpipe::audit
