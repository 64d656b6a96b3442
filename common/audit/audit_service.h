// mlpipe.v1.Audit over an AuditLog (the host serves its process's trail).
#ifndef MLPIPE_COMMON_AUDIT_AUDIT_SERVICE_H_
#define MLPIPE_COMMON_AUDIT_AUDIT_SERVICE_H_

#include "common/audit/audit_log.h"
#include "mlpipe/v1/audit.grpc.pb.h"

namespace mlpipe::audit {

class AuditService final : public v1::Audit::CallbackService {
 public:
  // `log` is not owned and must outlive the service.
  explicit AuditService(const AuditLog* log) : log_(log) {}

  grpc::ServerUnaryReactor* ListAuditRecords(
      grpc::CallbackServerContext* context,
      const v1::ListAuditRecordsRequest* request,
      v1::ListAuditRecordsResponse* response) override;

 private:
  const AuditLog* const log_;
};

}  // namespace mlpipe::audit

#endif  // MLPIPE_COMMON_AUDIT_AUDIT_SERVICE_H_
