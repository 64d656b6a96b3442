#include "cli/dataset_commands.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "clients/dataset_versions.h"
#include "common/table/csv.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"
#include "google/protobuf/struct.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

void PrintIngestResult(const v1::IngestResponse& response, const Context& ctx) {
  if (ctx.json) {
    PrintStructured(ctx, response);
    return;
  }
  const v1::Batch& b = response.batch();
  const v1::DatasetVersion& v = response.version();
  if (!response.new_version()) {
    std::cout << "unchanged: '" << b.dataset() << "' version " << v.version()
              << " is this data already (batch " << b.id() << ", "
              << FormatCount(v.row_count()) << " rows)\n";
    return;
  }
  double secs = b.timings().receive_seconds() + b.timings().commit_seconds();
  const bool replaced = v.change() == "replace";
  std::cout << "ingested " << FormatCount(b.row_count()) << " rows into '"
            << b.dataset() << "' version " << v.version()
            << (replaced ? ", replacing its rows" : "") << " ("
            << (replaced ? "" : FormatCount(v.row_count()) + " rows in all; ")
            << "batch " << b.id() << ", " << FormatBytes(b.bytes_received())
            << ", " << b.schema().fields_size() << " columns";
  if (!response.deduplicated() && secs > 0) {
    std::cout << ", " << FormatCount(static_cast<int64_t>(b.row_count() / secs))
              << " rows/s";
  }
  std::cout << ")\n";
  for (const auto& w : response.warnings())
    std::cerr << "warning: " << w << "\n";
  if (response.duplicates() > 0) {
    std::cerr << "warning: " << FormatCount(response.duplicates()) << " of "
              << FormatCount(b.row_count())
              << " rows were in the dataset already (an append of data "
                 "uploaded before? --mode replace makes the file the "
                 "dataset; `mlpipe datasets revert` undoes this upload)\n";
  }
}

void PrintDataset(const v1::GetDatasetResponse& resp) {
  const auto& d = resp.dataset();
  std::cout << "dataset  " << d.name() << "\nrows     "
            << FormatCount(d.row_count()) << "\nversions " << d.versions_size()
            << "\ncreated  " << FormatTime(d.created_at()) << "\nupdated  "
            << FormatTime(d.updated_at()) << "\n";
  if (resp.pushed_rows_pending() > 0) {
    std::cout << "pushed   " << FormatCount(resp.pushed_rows_pending())
              << " rows durable, not yet in a version (next compaction)\n";
  }
  std::cout << "\n";
  TablePrinter cols({"COLUMN", "TYPE", "FORMAT"});
  for (const auto& f : d.schema().fields()) {
    cols.Row({f.name(), std::string(table::ColumnTypeName(f.type())),
              f.timestamp_format()});
  }
  cols.Print();
  std::cout << "\n";
  TablePrinter versions(
      {"VERSION", "ROWS", "DUPLICATES", "BATCHES", "CHANGE", "CREATED"});
  for (const auto& v : d.versions()) {
    const auto batches = ingest::VersionBatches(d, v);
    std::string change = v.change().empty() ? "append" : v.change();
    if (!v.deleted_batch().empty())
      change += " (unreadable: " + v.deleted_batch() + " deleted)";
    versions.Row(
        {std::to_string(v.version()), FormatCount(v.row_count()),
         FormatCount(v.duplicate_rows()) +
             (v.duplicates_within_batches() ? " (within batches)" : ""),
         std::to_string(batches.size()), change, FormatTime(v.created_at())});
  }
  versions.Print();
  std::cout << "\n";
  TablePrinter batches({"BATCH", "ROWS", "SOURCE", "HASH", "CREATED"});
  for (const auto& b : resp.batches()) {
    batches.Row({b.id(), FormatCount(b.row_count()), b.source(),
                 b.content_hash().substr(0, 19), FormatTime(b.created_at())});
  }
  batches.Print();
}

// `datasets revert NAME --to-version N` and `datasets delete-batch NAME B`.
int ChangeDataset(const std::string& verb, const std::string& name,
                  const Args& args, v1::Ingestion::Stub* stub, Context& ctx) {
  UnaryCall call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(60));
  v1::Dataset ds;
  grpc::Status s;
  if (verb == "revert") {
    int64_t to = 0;
    if (!absl::SimpleAtoi(args.Get("to-version"), &to) || to < 1)
      return UsageError("datasets revert: --to-version N (>= 1) is required");
    v1::RevertDatasetRequest req;
    req.set_name(name);
    req.set_version(to);
    s = stub->RevertDataset(&call, req, &ds);
  } else {
    const auto& pos = args.positional();
    if (pos.size() < 4)
      return UsageError("datasets delete-batch: NAME BATCH is required");
    v1::DeleteBatchRequest req;
    req.set_dataset(name);
    req.set_batch_id(pos[3]);
    s = stub->DeleteBatch(&call, req, &ds);
  }
  if (!s.ok()) return Fail(s, ctx);
  const v1::DatasetVersion& v = ds.versions(ds.versions_size() - 1);
  if (ctx.json) {
    PrintStructured(ctx, v);
  } else {
    std::cout << "dataset '" << name << "' version " << v.version() << ": "
              << v.change() << " (" << FormatCount(v.row_count()) << " rows)\n";
  }
  return kOk;
}

}  // namespace

namespace {

// An Ingest stream driven through a completion queue, one operation at a
// time: gRPC 1.51's blocking ClientWriter::Finish aborts the process when
// the reply cannot be parsed (e.g. text that is not UTF-8); this reports it.
class UploadCall {
 public:
  UploadCall(v1::Ingestion::Stub* stub, v1::IngestResponse* response)
      : writer_(stub->PrepareAsyncIngest(&ctx_, response, &cq_)) {
    writer_->StartCall(Tag());
    open_ = Wait();
  }
  ~UploadCall() {
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool Write(const v1::IngestRequest& req) {
    if (!open_) return false;
    writer_->Write(req, Tag());
    return open_ = Wait();
  }

  grpc::Status Finish() {
    if (open_) {
      writer_->WritesDone(Tag());
      Wait();
    }
    grpc::Status status;
    writer_->Finish(&status, Tag());
    if (!Wait() && status.ok()) {
      return grpc::Status(grpc::StatusCode::INTERNAL, kUnreadableReply);
    }
    return status;
  }

 private:
  void* Tag() { return reinterpret_cast<void*>(++tags_); }
  bool Wait() {
    void* tag = nullptr;
    bool ok = false;
    return cq_.Next(&tag, &ok) && ok;
  }

  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientAsyncWriter<v1::IngestRequest>> writer_;
  bool open_ = false;
  intptr_t tags_ = 0;
};

}  // namespace

grpc::Status UploadFile(const std::string& path, v1::IngestHeader header,
                        v1::Ingestion::Stub* stub,
                        v1::IngestResponse* response) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "cannot open " + path + ": " + std::strerror(errno));
  }
  std::error_code ec;
  int64_t total = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  header.set_source(std::filesystem::path(path).filename().string());
  UploadCall call(stub, response);
  v1::IngestRequest req;
  *req.mutable_header() = std::move(header);
  bool open = call.Write(req);
  Progress progress("ingest " + req.header().dataset(), total);
  int64_t sent = 0, lines = 0;
  while (open && in) {
    std::string& chunk = *req.mutable_chunk();  // Read into in place.
    chunk.resize(1 << 20);
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    chunk.resize(static_cast<size_t>(n));
    if (progress.shown()) lines += std::count(chunk.begin(), chunk.end(), '\n');
    open = call.Write(req);
    sent += n;
    progress.Update(sent, lines);
  }
  grpc::Status status = call.Finish();
  progress.Done();
  return status;
}

int RunIngest(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"dataset", "file", "format", "delimiter",
                                 "no-header", "null-values", "idempotency-key",
                                 "mode", "encoding", "types"});
      rc != kOk) {
    return rc;
  }
  std::string dataset = args.Get("dataset");
  std::string path = args.Get("file");
  if (dataset.empty()) return UsageError("ingest: --dataset NAME is required");
  if (path.empty()) return UsageError("ingest: --file PATH is required");
  std::string format = args.Get("format");
  if (format.empty()) {
    format =
        path.ends_with(".jsonl") || path.ends_with(".ndjson") ? "jsonl" : "csv";
  }
  if (format != "csv" && format != "jsonl") {
    return UsageError("ingest: --format must be csv or jsonl");
  }
  const std::string mode = args.Has("mode") ? args.Get("mode") : "append";
  if (mode != "append" && mode != "replace")
    return UsageError("ingest: --mode must be append or replace");
  v1::IngestHeader header;
  header.set_dataset(dataset);
  header.set_format(format == "jsonl" ? v1::JSONL : v1::CSV);
  header.set_mode(mode == "replace" ? v1::REPLACE : v1::APPEND);
  header.set_delimiter(args.Get("delimiter"));
  header.set_no_header(args.Has("no-header"));
  header.set_idempotency_key(args.Get("idempotency-key"));
  if (args.Has("null-values")) {
    for (auto v : absl::StrSplit(args.Get("null-values"), ',')) {
      header.add_null_values(std::string(v));
    }
  }
  header.set_encoding(args.Get("encoding"));
  if (args.Has("types")) {
    const std::vector<std::string> pairs =
        absl::StrSplit(args.Get("types"), ',', absl::SkipEmpty());
    for (const std::string& pair : pairs) {
      std::pair<std::string, std::string> kv = absl::StrSplit(pair, '=');
      v1::ColumnType type;
      if (kv.first.empty() ||
          !v1::ColumnType_Parse(absl::AsciiStrToUpper(kv.second), &type))
        return UsageError(
            "ingest: --types is COLUMN=TYPE,... (TYPE: "
            "categorical, text or numeric), not '" +
            pair + "'");
      (*header.mutable_types())[kv.first] = type;
    }
  }
  auto stub = v1::Ingestion::NewStub(ctx.ingest_channel);
  v1::IngestResponse response;
  grpc::Status status;
  if (path.starts_with("server:")) {
    // A file under the server's import root: the server reads it.
    v1::IngestFileRequest req;
    *req.mutable_header() = header;
    req.set_path(path.substr(7));
    UnaryCall call(std::chrono::hours(1));  // The server reads the file.
    status = stub->IngestFile(&call, req, &response);
  } else {
    status = UploadFile(path, header, stub.get(), &response);
  }
  if (!status.ok()) return Fail(status, ctx);
  PrintIngestResult(response, ctx);
  return kOk;
}

int RunDatasets(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"to-version"}); rc != kOk) return rc;
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "list";
  auto stub = v1::Ingestion::NewStub(ctx.ingest_channel);
  UnaryCall call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  if (verb == "list") {
    v1::ListDatasetsResponse resp;
    auto s = stub->ListDatasets(&call, {}, &resp);
    if (!s.ok()) return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, resp);
      return kOk;
    }
    TablePrinter t({"NAME", "VERSIONS", "ROWS", "COLUMNS", "UPDATED"});
    for (const auto& d : resp.datasets()) {
      t.Row({d.name(), std::to_string(d.versions_size()),
             FormatCount(d.row_count()),
             std::to_string(d.schema().fields_size()),
             FormatTime(d.updated_at())});
    }
    t.Print();
    return kOk;
  }
  if (pos.size() < 3)
    return UsageError("datasets " + verb + ": NAME is required");
  const std::string& name = pos[2];
  if (verb == "show") {
    v1::GetDatasetRequest req;
    req.set_name(name);
    v1::GetDatasetResponse resp;
    auto s = stub->GetDataset(&call, req, &resp);
    if (!s.ok()) return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, resp);
      return kOk;
    }
    PrintDataset(resp);
    return kOk;
  }
  if (verb == "revert" || verb == "delete-batch")
    return ChangeDataset(verb, name, args, stub.get(), ctx);
  if (verb == "delete") {
    v1::DeleteDatasetRequest req;
    req.set_name(name);
    v1::DeleteDatasetResponse resp;
    auto s = stub->DeleteDataset(&call, req, &resp);
    if (!s.ok()) return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, resp);
    } else {
      std::cout << "deleted dataset '" << name << "' ("
                << resp.batches_deleted() << " batches)\n";
    }
    return kOk;
  }
  return UsageError("datasets: unknown command '" + verb +
                    "' (list, show, revert, delete-batch, delete)");
}

int RunExport(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"dataset", "out", "columns", "version"});
      rc != kOk) {
    return rc;
  }
  std::string dataset = args.Get("dataset");
  std::string out_path = args.Get("out");
  if (dataset.empty()) return UsageError("export: --dataset NAME is required");
  if (out_path.empty())
    return UsageError("export: --out FILE.csv is required (- for stdout)");
  v1::ReadBatchesRequest req;
  req.set_dataset(dataset);
  if (args.Has("columns")) {
    for (auto c : absl::StrSplit(args.Get("columns"), ','))
      req.add_columns(std::string(c));
  }
  if (args.Has("version")) req.set_up_to_version(args.Int("version"));
  auto stub = v1::Ingestion::NewStub(ctx.ingest_channel);
  return WriteFramesAsCsv(
      [&](grpc::ClientContext* call) { return stub->ReadBatches(call, req); },
      out_path, "'" + dataset + "'", ctx);
}

int WriteFramesAsCsv(const OpenFrameReader& open, const std::string& out_path,
                     const std::string& what, Context& ctx) {
  std::ofstream file;
  std::ostream* out = &std::cout;
  // A regular file is written whole or not at all (a temporary renamed onto
  // it); anything else (/dev/stdout, a pipe) is written in place.
  std::error_code ec;
  const bool in_place = out_path != "-" &&
                        std::filesystem::exists(out_path, ec) &&
                        !std::filesystem::is_regular_file(out_path, ec);
  const std::string tmp = in_place ? out_path : out_path + ".partial";
  if (out_path != "-") {
    file.open(tmp, std::ios::binary | std::ios::trunc);
    if (!file) {
      std::cerr << "error: cannot write " << tmp << ": " << std::strerror(errno)
                << "\n";
      return kError;
    }
    out = &file;
  }
  grpc::ClientContext call;
  auto reader = open(&call);
  v1::Frame frame;
  bool header = false;
  int64_t rows = 0, bytes = 0;
  Progress progress("export " + what, 0);
  std::string text;
  std::vector<table::TimestampFormat> formats;
  while (reader->Read(&frame)) {
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) {
      std::cerr << "error: bad frame from server: " << t.status().message()
                << "\n";
      return kError;
    }
    text.clear();
    if (!header) {
      for (size_t c = 0; c < t->columns.size(); ++c) {
        if (c > 0) text.push_back(',');
        table::AppendCsvField(t->columns[c].name, ',', &text);
        formats.push_back(
            table::TimestampFormat::FromString(t->columns[c].timestamp_format)
                .value_or(table::TimestampFormat{}));
      }
      text.push_back('\n');
      header = true;
    }
    for (size_t r = 0; r < t->num_rows; ++r) {
      for (size_t c = 0; c < t->columns.size(); ++c) {
        if (c > 0) text.push_back(',');
        const auto& col = t->columns[c];
        if (!col.IsValid(r)) continue;
        switch (col.type) {
          case table::ColumnType::kNumeric:
            table::AppendNumber(col.numbers[r], &text);
            break;
          case table::ColumnType::kTimestamp:
            table::AppendTimestamp(col.timestamps[r], formats[c], &text);
            break;
          default:
            table::AppendCsvField(col.strings[r], ',', &text);
        }
      }
      text.push_back('\n');
    }
    out->write(text.data(), static_cast<std::streamsize>(text.size()));
    rows += static_cast<int64_t>(t->num_rows);
    bytes += static_cast<int64_t>(text.size());
    progress.Update(bytes, rows);
  }
  grpc::Status s = reader->Finish();
  progress.Done();
  if (!s.ok()) {
    if (out_path != "-" && !in_place) std::filesystem::remove(tmp, ec);
    return Fail(s, ctx);
  }
  if (out_path != "-") {
    file.close();
    if (!in_place) std::filesystem::rename(tmp, out_path);
    std::cerr << "exported " << FormatCount(rows) << " rows of " << what
              << " to " << out_path << "\n";
  }
  return kOk;
}

int RunStatus(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
  auto stub = grpc::health::v1::Health::NewStub(ctx.channel);
  using Health = grpc::health::v1::HealthCheckResponse;
  // The server's status, then each service's it hosts (a service whose
  // store refuses writes, or that is still loading, is NOT_SERVING while the
  // server serves).
  Health overall;
  std::vector<std::pair<std::string, Health>> services;
  for (const char* name :
       {"", "mlpipe.v1.Ingestion", "mlpipe.v1.Prep", "mlpipe.v1.Splits",
        "mlpipe.v1.Training", "mlpipe.v1.Evaluator", "mlpipe.v1.Scoring",
        "inference.GRPCInferenceService", "mlpipe.v1.Monitor",
        "mlpipe.v1.Orchestrator"}) {
    UnaryCall call(std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(name);
    Health resp;
    auto s = stub->Check(&call, req, &resp);
    if (*name == '\0') {
      if (!s.ok()) return Fail(s, ctx);
      overall = resp;
    } else if (s.ok()) {
      services.emplace_back(name, resp);
    }
  }
  if (ctx.json) {
    google::protobuf::Struct out;
    auto& f = *out.mutable_fields();
    f["server"].set_string_value(ctx.server);
    f["status"].set_string_value(Health::ServingStatus_Name(overall.status()));
    auto& by_service = *f["services"].mutable_struct_value()->mutable_fields();
    for (const auto& [service, health] : services)
      by_service[service].set_string_value(
          Health::ServingStatus_Name(health.status()));
    PrintStructured(ctx, out);
  } else {
    std::cout << ctx.server << " "
              << Health::ServingStatus_Name(overall.status()) << "\n";
    for (const auto& [name, h] : services) {
      std::cout << "  " << name << " " << Health::ServingStatus_Name(h.status())
                << "\n";
    }
  }
  return overall.status() == Health::SERVING ? kOk : kUnavailable;
}

}  // namespace mlpipe::cli
