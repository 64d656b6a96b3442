#include "services/orchestrator/ingest_steps.h"

#include "clients/dataset_versions.h"
#include "clients/ingest_request.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::orchestrator {
namespace {

using K = google::protobuf::Value::KindCase;

std::string Param(const v1::StepSpec& step, const std::string& name) {
  auto it = step.params().fields().find(name);
  return it == step.params().fields().end() ? "" : it->second.string_value();
}

std::unique_ptr<grpc::ClientContext> CallContext(const StepContext& ctx) {
  auto call = std::make_unique<grpc::ClientContext>();
  absl::Time deadline = std::min(ctx.deadline, absl::Now() + absl::Minutes(30));
  call->set_deadline(absl::ToChronoTime(deadline));
  return call;
}

void DatasetOutputs(const v1::Dataset& d, int64_t version, StepResult* r) {
  const auto* made = ingest::FindVersion(d, version);
  const int64_t rows = made != nullptr ? made->row_count() : d.row_count();
  v1::Artifact a;
  a.set_id(StrCat("dataset:", d.name(), "@v", version));
  a.set_type("dataset_version");
  (*a.mutable_properties())["dataset"] = d.name();
  (*a.mutable_properties())["version"] = std::to_string(version);
  (*a.mutable_properties())["rows"] = std::to_string(rows);
  r->outputs["dataset"] = a;
  auto& f = *r->results.mutable_fields();
  f["dataset"].set_string_value(d.name());
  f["version"].set_number_value(static_cast<double>(version));
  f["rows"].set_number_value(static_cast<double>(rows));
}

void BatchOutput(const v1::Batch& b, StepResult* r) {
  v1::Artifact a;
  a.set_id(StrCat("batch:", b.id()));
  a.set_type("batch");
  (*a.mutable_properties())["dataset"] = b.dataset();
  (*a.mutable_properties())["rows"] = std::to_string(b.row_count());
  (*a.mutable_properties())["content_hash"] = b.content_hash();
  (*a.mutable_properties())["source"] = b.source();
  r->outputs["batch"] = a;
  (*r->results.mutable_fields())["batch_rows"].set_number_value(
      static_cast<double>(b.row_count()));
}

class IngestExecutor final : public StepExecutor {
 public:
  explicit IngestExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"dataset", "version", "rows", "batch_rows", "duplicates"};
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    auto header = Header(spec, step);
    if (!header.ok()) return header.status();
    std::string file = Param(step, "file");
    if (!file.empty() && !file.starts_with("server:")) {
      return absl::InvalidArgumentError(StrCat(
          "steps.", step.name(), ".file: '", file,
          "' is a file on the client: `mlpipe run` uploads such files before "
          "submitting; a file on the server is written server:PATH"));
    }
    if (!file.empty() && !Param(step, "batch").empty()) {
      return absl::InvalidArgumentError(
          StrCat("steps.", step.name(),
                 ".batch: give either file or batch, not both"));
    }
    if (header->dataset().empty()) {
      return absl::InvalidArgumentError(StrCat(
          "steps.", step.name(), ".dataset: required (or spec.dataset)"));
    }
    if (header->format() == v1::FRAMES) {
      return absl::InvalidArgumentError(
          StrCat("steps.", step.name(), ".format: a file is csv or jsonl"));
    }
    return absl::OkStatus();
  }

  // A batch id names immutable data; a server file or "the latest version"
  // may change between runs.
  bool Cacheable(const v1::StepSpec& step) const override {
    return !Param(step, "batch").empty();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto stub = v1::Ingestion::NewStub(channel_());
    const v1::StepSpec& step = *ctx.step;
    const std::string dataset = StepDataset(*ctx.spec, step);
    StepResult r;
    int64_t version = 0;
    if (std::string batch_id = Param(step, "batch"); !batch_id.empty()) {
      v1::GetBatchRequest req;
      req.set_id(batch_id);
      v1::Batch b;
      auto call = CallContext(ctx);
      if (auto s = stub->GetBatch(call.get(), req, &b); !s.ok())
        return rpc::FromGrpcStatus(s);
      if (b.dataset() != dataset) {
        return absl::InvalidArgumentError(StrCat(
            "steps.", step.name(), ".batch: batch ", batch_id,
            " belongs to dataset '", b.dataset(), "', not '", dataset, "'"));
      }
      BatchOutput(b, &r);
      // The version `mlpipe run`'s upload made (a replace may make a version
      // of an earlier batch), else the one the batch's upload made.
      auto made = step.params().fields().find("dataset_version");
      version = made != step.params().fields().end()
                    ? static_cast<int64_t>(made->second.number_value())
                    : b.version();
    } else if (std::string file = Param(step, "file"); !file.empty()) {
      v1::IngestFileRequest req;
      auto header = Header(*ctx.spec, step);
      if (!header.ok()) return header.status();
      *req.mutable_header() = *std::move(header);
      // The same key when the step is issued again: no second batch.
      req.mutable_header()->set_idempotency_key(ctx.idempotency_key);
      req.set_path(file.substr(7));
      v1::IngestResponse resp;
      auto call = CallContext(ctx);
      if (auto s = stub->IngestFile(call.get(), req, &resp); !s.ok()) {
        return rpc::FromGrpcStatus(s);
      }
      BatchOutput(resp.batch(), &r);
      version = resp.version().version();
      (*r.results.mutable_fields())["duplicates"].set_number_value(
          static_cast<double>(resp.duplicates()));
    } else {
      // The latest version: with the rows pushed to the dataset so far (a
      // compaction now, not at its next interval).
      v1::FlushPushesRequest req;
      req.set_dataset(dataset);
      v1::FlushPushesResponse resp;
      auto call = CallContext(ctx);
      if (auto s = stub->FlushPushes(call.get(), req, &resp); !s.ok())
        return rpc::FromGrpcStatus(s);
    }
    v1::GetDatasetRequest req;
    req.set_name(dataset);
    v1::GetDatasetResponse resp;
    auto call = CallContext(ctx);
    if (auto s = stub->GetDataset(call.get(), req, &resp); !s.ok())
      return rpc::FromGrpcStatus(s);
    if (version == 0) version = resp.dataset().versions_size();
    DatasetOutputs(resp.dataset(), version, &r);
    return r;
  }

 private:
  static absl::StatusOr<v1::IngestHeader> Header(const v1::PipelineSpec& spec,
                                                 const v1::StepSpec& step) {
    return ingest::IngestHeaderFromParams(step.params(), spec.dataset(),
                                          StrCat("steps.", step.name()));
  }

  ChannelProvider channel_;
};

class WaitForDataExecutor final : public StepExecutor {
 public:
  explicit WaitForDataExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"dataset", "version", "rows"};
  }
  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    if (auto s = CheckParams(step, {{"dataset", K::kStringValue},
                                    {"min_version", K::kNumberValue},
                                    {"min_rows", K::kNumberValue},
                                    {"poll_seconds", K::kNumberValue}});
        !s.ok()) {
      return s;
    }
    if (StepDataset(spec, step).empty()) {
      return absl::InvalidArgumentError(StrCat(
          "steps.", step.name(), ".dataset: required (or spec.dataset)"));
    }
    return absl::OkStatus();
  }
  bool Cacheable(const v1::StepSpec&) const override { return false; }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto min_version = ctx.NumberParam("min_version", 1);
    auto min_rows = ctx.NumberParam("min_rows", 0);
    auto poll = ctx.NumberParam("poll_seconds", 1);
    if (!min_version.ok()) return min_version.status();
    if (!min_rows.ok()) return min_rows.status();
    if (!poll.ok()) return poll.status();
    auto stub = v1::Ingestion::NewStub(channel_());
    const std::string dataset = StepDataset(*ctx.spec, *ctx.step);
    while (true) {
      v1::GetDatasetRequest req;
      req.set_name(dataset);
      v1::GetDatasetResponse resp;
      auto call = CallContext(ctx);
      grpc::Status s = stub->GetDataset(call.get(), req, &resp);
      if (s.ok() && resp.dataset().versions_size() >= *min_version &&
          resp.dataset().row_count() >= *min_rows) {
        StepResult r;
        DatasetOutputs(resp.dataset(), resp.dataset().versions_size(), &r);
        return r;
      }
      if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
        return rpc::FromGrpcStatus(s);
      }
      ctx.SleepFor(absl::Seconds(std::max(0.01, *poll)));
      if (auto alive = ctx.CheckAlive(); !alive.ok()) return alive;
    }
  }

 private:
  ChannelProvider channel_;
};

}  // namespace

void RegisterIngestExecutors(ExecutorRegistry* registry,
                             ChannelProvider ingest) {
  registry->Register("ingest", std::make_unique<IngestExecutor>(ingest));
  registry->Register("wait_for_data",
                     std::make_unique<WaitForDataExecutor>(ingest));
}

}  // namespace mlpipe::orchestrator
