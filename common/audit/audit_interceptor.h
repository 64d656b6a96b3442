// Feeds an AuditLog: a server interceptor recording every audited call
// (auth::IsAuditedMethod) with its principal, target and outcome, and a
// record of each such call the auth policy refused.
#ifndef MLPIPE_COMMON_AUDIT_AUDIT_INTERCEPTOR_H_
#define MLPIPE_COMMON_AUDIT_AUDIT_INTERCEPTOR_H_

#include <memory>
#include <string>

#include "common/audit/audit_log.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/server_interceptor.h"

namespace mlpipe::audit {

// `log` is not owned and must outlive the servers using the factory. Also
// makes the auth policy's refusals of audited methods records of `log`
// (rpc::SetDenialObserver; one log per process).
std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewAuditInterceptorFactory(AuditLog* log);

// What a request is about, as "field=value" of its names and ids (strings
// and integers, one level into messages), at most ~300 bytes.
std::string TargetOf(const google::protobuf::Message& request);

}  // namespace mlpipe::audit

#endif  // MLPIPE_COMMON_AUDIT_AUDIT_INTERCEPTOR_H_
