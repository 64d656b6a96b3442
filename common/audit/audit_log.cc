#include "common/audit/audit_log.h"

#include <algorithm>
#include <string>

#include "absl/strings/numbers.h"
#include "common/storage/key_codec.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::audit {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kRecords[] = "audit_records";  // Sequence (BE u64) -> record.
constexpr char kMeta[] = "audit_meta";        // "first" -> oldest sequence.
constexpr size_t kMaxText = 512;
constexpr int kDefaultLimit = 100, kMaxLimit = 10'000;
// Records read at a time walking back from the newest.
constexpr uint64_t kChunk = 1024;
constexpr uint64_t kMaxScanned = 200'000;

std::string Key(uint64_t sequence) {
  std::string k;
  storage::AppendU64(&k, sequence);
  return k;
}

void Cut(std::string* s) {
  if (s->size() <= kMaxText) return;
  size_t n = kMaxText;
  // Not inside a UTF-8 sequence.
  while (n > 0 && (static_cast<unsigned char>((*s)[n]) & 0xC0) == 0x80) --n;
  s->resize(n);
  s->append("...");
}

bool Matches(const v1::AuditRecord& r, const v1::ListAuditRecordsRequest& q) {
  return (q.principal().empty() || r.principal() == q.principal()) &&
         (q.method().empty() ||
          r.method().find(q.method()) != std::string::npos);
}

}  // namespace

std::vector<storage::ColumnFamilyOptions> AuditLog::ColumnFamilies() {
  return {{kRecords}, {kMeta}};
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    storage::Store* store, AuditLogOptions options) {
  std::unique_ptr<AuditLog> log(new AuditLog(store, options));
  auto last = store->LastKey(kRecords);
  if (!last.ok()) return last.status();
  if (*last) log->next_ = storage::DecodeU64(**last) + 1;
  auto first = store->Get(kMeta, "first");
  if (first.ok()) {
    log->first_ = storage::DecodeU64(*first);
  } else if (!absl::IsNotFound(first.status())) {
    return first.status();
  }
  log->first_ = std::min(log->first_, log->next_);
  return log;
}

absl::Status AuditLog::Append(v1::AuditRecord record) {
  if (!record.has_time()) *record.mutable_time() = TimeUtil::GetCurrentTime();
  Cut(record.mutable_target());
  Cut(record.mutable_message());
  std::lock_guard lock(mu_);
  record.set_sequence(next_);
  storage::WriteBatch wb;
  wb.Put(kRecords, Key(next_), record.SerializeAsString());
  uint64_t first = first_;
  const auto max =
      static_cast<uint64_t>(std::max<int64_t>(1, options_.max_records));
  if (next_ + 1 - first > max) {
    // Past the bound: drop the oldest tenth at once, not one per append.
    first = next_ + 1 - max + max / 10;
    wb.DeleteRange(kRecords, Key(first_), Key(first));
    wb.Put(kMeta, "first", Key(first));
  }
  if (auto s = store_->Write(wb); !s.ok()) return s;
  first_ = first;
  ++next_;
  return absl::OkStatus();
}

absl::StatusOr<v1::ListAuditRecordsResponse> AuditLog::List(
    const v1::ListAuditRecordsRequest& request) const {
  const int limit = request.limit() <= 0 ? kDefaultLimit
                                         : std::min(request.limit(), kMaxLimit);
  uint64_t first, end;
  {
    std::lock_guard lock(mu_);
    first = first_;
    end = next_;
  }
  if (!request.page_token().empty()) {
    uint64_t before = 0;
    if (!absl::SimpleAtoi(request.page_token(), &before)) {
      return absl::InvalidArgumentError(
          "page_token: not one a previous response gave");
    }
    end = std::min(end, before);
  }
  v1::ListAuditRecordsResponse out;
  // Walks back from the newest, a chunk at a time, each read forward; a
  // filter that matches little reads at most kMaxScanned records.
  uint64_t scanned = 0;
  while (end > first && out.records_size() < limit && scanned < kMaxScanned) {
    const uint64_t start = end - first > kChunk ? end - kChunk : first;
    std::vector<v1::AuditRecord> chunk;
    auto it = store_->Scan(kRecords, "", Key(start));
    for (; it->Valid(); it->Next()) {
      if (storage::DecodeU64(it->key()) >= end) break;
      v1::AuditRecord r;
      if (!r.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size())))
        return absl::DataLossError(
            "audit record " + std::to_string(storage::DecodeU64(it->key())) +
            " is unreadable");
      chunk.push_back(std::move(r));
    }
    if (auto s = it->status(); !s.ok()) return s;
    bool older = false;
    for (auto r = chunk.rbegin(); r != chunk.rend(); ++r) {
      if (request.has_since() && r->time() < request.since()) {
        older = true;
        break;
      }
      if (!Matches(*r, request)) continue;
      *out.add_records() = std::move(*r);
      if (out.records_size() == limit) break;
    }
    if (older) return out;
    if (out.records_size() == limit) {
      // Older records may match too: the next page starts below this one.
      const uint64_t last = out.records(limit - 1).sequence();
      if (last > first) out.set_next_page_token(std::to_string(last));
      return out;
    }
    scanned += end - start;
    end = start;
  }
  // The scan's bound reached with older records unread.
  if (end > first) out.set_next_page_token(std::to_string(end));
  return out;
}

}  // namespace mlpipe::audit
