#include "clients/registry_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "clients/routes.h"
#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"

namespace mlpipe::orchestrator {

absl::StatusOr<std::string> ResolveAlias(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& alias) {
  auto registry = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetAliasRequest req;
  req.set_alias(alias);
  v1::AliasRecord record;
  grpc::Status s = registry->GetAlias(&call, req, &record);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return std::string();
  if (!s.ok()) return rpc::FromGrpcStatus(s);
  return record.model_version();
}

absl::StatusOr<std::string> ResolveAliasOf(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& model,
    const std::string& alias, std::string* qualified) {
  auto key = score::QualifiedAlias(
      score::IsQualifiedAlias(alias) ? "" : score::ModelNameOf(model), alias);
  if (!key.ok()) return key.status();
  *qualified = *key;
  return ResolveAlias(channel, *key);
}

absl::StatusOr<std::vector<v1::Route>> ListRoutes(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto registry = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  v1::ListAliasesResponse resp;
  if (auto s = registry->ListAliases(&call, {}, &resp); !s.ok())
    return rpc::FromGrpcStatus(s);
  std::vector<v1::Route> out;
  for (const auto& a : resp.aliases())
    if (a.has_route()) out.push_back(a.route());
  return out;
}

absl::StatusOr<std::vector<v1::Route>> RouteHistory(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& alias) {
  auto registry = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  v1::AliasHistoryRequest req;
  req.set_alias(alias);
  v1::AliasHistoryResponse resp;
  if (auto s = registry->AliasHistory(&call, req, &resp); !s.ok())
    return rpc::FromGrpcStatus(s);
  std::vector<v1::Route> routes;
  for (const auto& r : resp.records())
    if (r.has_route()) routes.push_back(r.route());
  if (routes.empty()) {
    return absl::NotFoundError(
        absl::StrCat("alias '", alias, "' was never deployed"));
  }
  return score::RouteHistory(std::move(routes));
}

absl::Status PublishRoute(const std::shared_ptr<grpc::Channel>& channel,
                          const v1::Route& route, int64_t expected_revision,
                          const std::string& set_by) {
  auto registry = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::SetAliasRequest req;
  req.set_alias(route.alias());
  req.set_model_version(score::PrimaryOf(route));
  req.set_set_by(set_by);
  *req.mutable_route() = route;
  req.set_expected_route_revision(expected_revision);
  v1::AliasRecord out;
  return rpc::FromGrpcStatus(registry->SetAlias(&call, req, &out));
}

}  // namespace mlpipe::orchestrator
