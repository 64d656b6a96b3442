#include "common/audit/audit_interceptor.h"

#include "common/auth/policy.h"
#include "common/metrics/metrics.h"
#include "common/rpc/auth.h"
#include "common/util/log.h"
#include "common/util/per_second.h"
#include "common/util/strings.h"
#include "google/protobuf/text_format.h"

namespace mlpipe::audit {
namespace {

using google::protobuf::FieldDescriptor;

constexpr size_t kMaxTarget = 300;
constexpr size_t kMaxValue = 120;

void AddField(const google::protobuf::Message& m, const FieldDescriptor* f,
              const std::string& prefix, std::string* out) {
  const auto* r = m.GetReflection();
  std::string value;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (f->type() == FieldDescriptor::TYPE_BYTES) return;
      value = r->GetString(m, f);
      if (value.size() > kMaxValue) value = value.substr(0, kMaxValue) + "...";
      break;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_BOOL:
    case FieldDescriptor::CPPTYPE_ENUM: {
      // The names and ids matter; numbers in general are settings.
      if (!f->name().ends_with("id") && !f->name().ends_with("version")) return;
      google::protobuf::TextFormat::PrintFieldValueToString(m, f, -1, &value);
      break;
    }
    default:
      return;
  }
  if (value.empty()) return;
  if (!out->empty()) out->push_back(' ');
  out->append(prefix).append(f->name()).append("=").append(value);
}

void Describe(const google::protobuf::Message& m, const std::string& prefix,
              int depth, std::string* out) {
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (out->size() > kMaxTarget) return;
    if (f->is_repeated()) continue;
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      if (depth > 0)
        Describe(m.GetReflection()->GetMessage(m, f), prefix + f->name() + ".",
                 depth - 1, out);
      continue;
    }
    AddField(m, f, prefix, out);
  }
}

std::string PrincipalName(const grpc::ServerContextBase& ctx) {
  std::string p = rpc::PrincipalOf(ctx);
  if (!p.empty()) return p;
  return rpc::PolicyActive() ? "(this process)" : "(anonymous)";
}

void Store(AuditLog* log, v1::AuditRecord record) {
  if (auto s = log->Append(std::move(record)); !s.ok()) {
    static auto& failed = prometheus::BuildCounter()
                              .Name("mlpipe_audit_write_failures_total")
                              .Help("Audit records that could not be stored.")
                              .Register(metrics::Registry())
                              .Add({});
    failed.Increment();
    LogError("audit record not stored", {{"error", std::string(s.message())}});
  }
}

class AuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  AuditInterceptor(grpc::experimental::ServerRpcInfo* info, AuditLog* log)
      : info_(info), log_(log) {}
  ~AuditInterceptor() override {
    if (!recorded_) Record("CANCELLED", "");
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using grpc::experimental::InterceptionHookPoints;
    if (principal_.empty() &&
        m->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      // Now, while the call's context is whole (not at destruction).
      principal_ = PrincipalName(*info_->server_context());
    }
    if (!read_ && m->QueryInterceptionHookPoint(
                      InterceptionHookPoints::POST_RECV_MESSAGE)) {
      read_ = true;
      if (const auto* msg = static_cast<const google::protobuf::Message*>(
              m->GetRecvMessage()))
        Describe(*msg, "", 1, &target_);
    }
    if (m->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status s = m->GetSendStatus();
      Record(metrics::StatusCodeName(s.error_code()), s.error_message());
    }
    m->Proceed();
  }

 private:
  void Record(const std::string& outcome, const std::string& message) {
    recorded_ = true;
    v1::AuditRecord r;
    r.set_principal(principal_.empty() ? "(unknown)" : principal_);
    std::string_view method = info_->method();
    if (method.starts_with('/')) method.remove_prefix(1);
    r.set_method(std::string(method));
    r.set_target(std::move(target_));
    r.set_outcome(outcome);
    r.set_message(message);
    Store(log_, std::move(r));
  }

  grpc::experimental::ServerRpcInfo* const info_;
  AuditLog* const log_;
  std::string principal_, target_;
  bool read_ = false, recorded_ = false;
};

class Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(AuditLog* log) : log_(log) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    if (!auth::IsAuditedMethod(info->method())) return nullptr;
    return new AuditInterceptor(info, log_);
  }

 private:
  AuditLog* const log_;
};

}  // namespace

std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewAuditInterceptorFactory(AuditLog* log) {
  rpc::SetDenialObserver(
      [log](std::string_view method, const auth::Decision& d) {
        if (!auth::IsAuditedMethod(method)) return;
        // At most 20 refusals recorded a second: a flood of refused calls
        // must not push the trail's real records out. The rest are counted
        // into the next record.
        static auto* budget = new PerSecondBudget(20);
        int64_t before = 0;
        if (!budget->Take(&before)) return;
        v1::AuditRecord r;
        r.set_principal(d.principal.empty() ? "(unknown)" : d.principal);
        if (method.starts_with('/')) method.remove_prefix(1);
        r.set_method(std::string(method));
        r.set_outcome(d.outcome == auth::Outcome::kUnauthenticated
                          ? "UNAUTHENTICATED"
                          : "PERMISSION_DENIED");
        r.set_message(before == 0
                          ? d.message
                          : StrCat(d.message, " (", before,
                                   " refused calls before it not recorded)"));
        Store(log, std::move(r));
      });
  return std::make_shared<Factory>(log);
}

std::string TargetOf(const google::protobuf::Message& request) {
  std::string out;
  Describe(request, "", 1, &out);
  return out;
}

}  // namespace mlpipe::audit
