// The audit trail of one server process: every call that changes something
// (auth::IsAuditedMethod), refused or not, with the principal that made it,
// what it was about and how it ended, kept in RocksDB, newest last, at most
// max_records (the oldest go first). No gRPC here: the interceptor that
// feeds it is common/rpc/audit.h.
#ifndef MLPIPE_COMMON_AUDIT_AUDIT_LOG_H_
#define MLPIPE_COMMON_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/audit.pb.h"

namespace mlpipe::audit {

struct AuditLogOptions {
  // Records kept; beyond it the oldest are deleted. Default 1,000,000
  // (a few hundred bytes each).
  int64_t max_records = 1'000'000;
};

// Thread-safe.
class AuditLog {
 public:
  // The column families it uses in its store.
  static std::vector<storage::ColumnFamilyOptions> ColumnFamilies();
  // `store` is not owned and must outlive the log.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      storage::Store* store, AuditLogOptions options = {});

  // Stores `record` (its sequence set here; its time, when unset, now).
  // Target and message are cut to 512 bytes. Not synced: a machine crash
  // may lose the last records, a process crash does not.
  absl::Status Append(v1::AuditRecord record);
  // Newest first, as the request filters them.
  absl::StatusOr<v1::ListAuditRecordsResponse> List(
      const v1::ListAuditRecordsRequest& request) const;

 private:
  AuditLog(storage::Store* store, AuditLogOptions options)
      : store_(store), options_(options) {}
  storage::Store* const store_;
  const AuditLogOptions options_;
  mutable std::mutex mu_;
  uint64_t first_ = 1;  // GUARDED_BY(mu_): the oldest sequence kept.
  uint64_t next_ = 1;   // GUARDED_BY(mu_)
};

}  // namespace mlpipe::audit

#endif  // MLPIPE_COMMON_AUDIT_AUDIT_LOG_H_
