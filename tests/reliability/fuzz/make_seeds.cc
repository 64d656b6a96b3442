// Writes the generated part of the fuzz corpus (frames, KServe and Predict
// requests, model artifacts, ingest stores) from credit.csv, through the
// project's own encoders, trainers and ingestor, so that the seeds are what
// the services really exchange and store. Run once after a format change:
//   ninja -C build fuzz_seeds && build/bin/fuzz_seeds
//   tests/reliability/fuzz/corpus
// The CSV, JSON-lines and YAML seeds are excerpts of examples/, copied.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/events/event_log.h"
#include "common/features/test_data.h"
#include "common/features/transform.h"
#include "common/ml/artifact.h"
#include "common/ml/model.h"
#include "common/ml/table_data.h"
#include "common/table/frame_codec.h"
#include "google/protobuf/util/json_util.h"
#include "inference/grpc_predict_v2.pb.h"
#include "mlpipe/v1/score_service.pb.h"
#include "services/ingest/ingestor.h"
#include "tests/reliability/fuzz/stored_records.h"

namespace mlpipe::fuzz {
namespace {

std::filesystem::path out_dir;

void Write(const std::string& name, const std::string& bytes) {
  const auto path = out_dir / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
  std::cout << path.string() << ": " << bytes.size() << " bytes\n";
}

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::cerr << v.status() << "\n";
    std::exit(1);
  }
  return *std::move(v);
}

// Rows [0, n) of credit.csv as typed by ingest.
table::Table CreditRows(size_t n) {
  static const table::Table credit = features::testdata::Credit();
  table::Table t;
  t.num_rows = n;
  for (const auto& c : credit.columns) t.columns.push_back(c.Slice(0, n));
  return t;
}

void Frames() {
  for (size_t n : {3, 64}) {
    table::Table t = CreditRows(n);
    table::Column flag;  // 0/1 numbers: the bits layout.
    flag.name = "flag";
    flag.type = table::ColumnType::kNumeric;
    for (size_t i = 0; i < n; ++i) flag.numbers.push_back(i % 3 == 0);
    flag.valid.Resize(n, true);
    table::Column when;
    when.name = "when";
    when.type = table::ColumnType::kTimestamp;
    when.timestamp_format = "%Y-%m-%d";
    for (size_t i = 0; i < n; ++i)
      when.timestamps.push_back(int64_t{86400000000} * i);
    when.valid.Resize(n, true);
    t.columns.push_back(flag);
    t.columns.push_back(when);
    v1::Frame frame;
    table::TableToFrame(t, &frame);
    Write("frame/credit-" + std::to_string(n), frame.SerializeAsString());
  }
}

using Tensor = inference::ModelInferRequest::InferInputTensor;

// Credit rows as KServe tensors: typed contents, or raw little-endian bytes.
void InferRequests() {
  const table::Table t = CreditRows(3);
  for (bool raw : {false, true}) {
    inference::ModelInferRequest r;
    r.set_model_name("credit");
    r.set_id("fuzz-1");
    for (const auto& c : t.columns) {
      if (c.name == "Status") continue;
      Tensor* in = r.add_inputs();
      in->set_name(c.name);
      in->add_shape(static_cast<int64_t>(t.num_rows));
      if (raw) in->add_shape(1);
      const bool numeric = c.type == table::ColumnType::kNumeric;
      in->set_datatype(numeric ? "FP64" : "BYTES");
      std::string* bytes = raw ? r.add_raw_input_contents() : nullptr;
      for (size_t i = 0; i < t.num_rows; ++i) {
        const double v = c.IsValid(i) && numeric ? c.numbers[i] : std::nan("");
        const std::string s = c.IsValid(i) && !numeric ? c.strings[i] : "";
        if (!raw && numeric) in->mutable_contents()->add_fp64_contents(v);
        if (!raw && !numeric) in->mutable_contents()->add_bytes_contents(s);
        if (raw && numeric) bytes->append(reinterpret_cast<const char*>(&v), 8);
        if (raw && !numeric) {
          const auto len = static_cast<uint32_t>(s.size());
          bytes->append(reinterpret_cast<const char*>(&len), 4).append(s);
        }
      }
    }
    r.add_outputs()->set_name("label");
    Write(raw ? "infer/credit-raw" : "infer/credit-contents",
          r.SerializeAsString());
  }
}

void PredictRequests() {
  const table::Table t = CreditRows(2);
  v1::PredictRequest r;
  r.set_model("credit@production");
  for (size_t i = 0; i < t.num_rows; ++i) {
    auto* fields = r.add_rows()->mutable_fields();
    for (const auto& c : t.columns) {
      if (c.name == "Status") continue;
      google::protobuf::Value& v = (*fields)[c.name];
      if (!c.IsValid(i)) {
        v.set_null_value(google::protobuf::NULL_VALUE);
      } else if (c.type == table::ColumnType::kNumeric) {
        v.set_number_value(c.numbers[i]);
      } else {
        v.set_string_value(c.strings[i]);
      }
    }
  }
  Write("predict/credit-2-rows", r.SerializeAsString());
  (*r.mutable_rows(0)->mutable_fields())["Extra"].set_string_value("x");
  r.set_ignore_extra_fields(true);
  Write("predict/credit-extra-field", r.SerializeAsString());
}

// A model of credit.csv's first 400 rows with its transform, as train
// stores it.
v1::ModelArtifact Artifact(const std::string& algorithm,
                           const std::string& params_json) {
  const table::Table data = CreditRows(400);
  google::protobuf::ListValue list;
  (void)google::protobuf::util::JsonStringToMessage(
      R"([{"columns": ["Income", "Assets", "Debt", "Age"], "impute": "median",
           "scale": "standard"},
          {"columns": ["Home", "Marital"], "impute": "mode",
           "one_hot": {"max_categories": 5}}])",
      &list);
  auto fitted = OrDie(
      features::FitTransform(OrDie(features::ParseTransformSpecs(list)), data));
  features::TransformApplier applier(fitted);
  table::Table x = OrDie(applier.ApplyBatch(data));
  x.columns.push_back(data.columns[data.Find("Status")]);
  ml::TrainingDataBuilder b(applier.output_names(), "Status",
                            ml::LabelEncoder(v1::BINARY, {"good", "bad"}));
  (void)b.Append(x);
  google::protobuf::Struct params;
  (void)google::protobuf::util::JsonStringToMessage(params_json, &params);
  ml::FitOptions o;
  o.task = v1::BINARY;
  auto model = OrDie(ml::Fit(algorithm, params, "params", b.Finish(), o));
  v1::ModelArtifact a;
  a.set_name("credit");
  a.set_version(1);
  a.set_id("credit:1");
  a.set_algorithm(algorithm);
  a.set_task(v1::BINARY);
  for (const auto& f : applier.output_names()) a.add_feature_names(f);
  a.set_label("Status");
  a.add_classes("good");
  a.add_classes("bad");
  *a.mutable_learned() = model->Parameters();
  *a.mutable_transform() = fitted;
  a.set_sha256(ml::ArtifactHash(a));
  return a;
}

void Artifacts() {
  Write("artifact/credit-logreg",
        Artifact("logistic_regression", R"({"C": 1})").SerializeAsString());
  Write("artifact/credit-gbdt",
        Artifact("gbdt", R"({"rounds": 3, "max_depth": 2, "eta": 0.3})")
            .SerializeAsString());
}

// An ingest store holding credit rows: one upload, then an append that
// repeats some of them (so row hashes are stored).
void IngestStore() {
  auto store = storage::NewMemoryStore();
  auto log = OrDie(events::EventLog::Open(store.get(), "ingest"));
  ingest::IngestorOptions options;
  options.block_rows = 4;
  auto ingestor =
      OrDie(ingest::Ingestor::Open(options, store.get(), log.get()));
  std::ifstream in(features::testdata::CreditCsvPath());
  std::string header, line, rows;
  std::getline(in, header);
  for (int i = 0; i < 6 && std::getline(in, line); ++i) rows += line + "\n";
  for (auto mode : {v1::REPLACE, v1::APPEND}) {
    v1::IngestHeader h;
    h.set_dataset("credit");
    h.set_mode(mode);
    auto upload = OrDie(ingestor->BeginUpload(h));
    (void)upload->AddChunk(header + "\n" + rows);
    OrDie(upload->Finish());
    Write(mode == v1::REPLACE ? "stored_records/credit-1-batch"
                              : "stored_records/credit-2-batches",
          DumpRecords(*store));
  }
}

}  // namespace
}  // namespace mlpipe::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  mlpipe::fuzz::out_dir = argv[1];
  mlpipe::fuzz::Frames();
  mlpipe::fuzz::InferRequests();
  mlpipe::fuzz::PredictRequests();
  mlpipe::fuzz::Artifacts();
  mlpipe::fuzz::IngestStore();
}
