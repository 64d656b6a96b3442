#include "services/score/inference_service.h"

#include <cmath>
#include <cstring>
#include <set>

#include "common/rpc/off_thread.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"

namespace mlpipe::score {
namespace {

using Tensor = inference::ModelInferRequest::InferInputTensor;
using Output = inference::ModelInferResponse::InferOutputTensor;

// The model Predict should route to: "name:version" when a version is
// given, else the name as is (an alias, a model name or "name:version").
std::string ModelOf(const std::string& name, const std::string& version) {
  if (version.empty()) return name;
  return StrCat(name, ":", version);
}

size_t ElementSize(const std::string& type) {
  if (type == "FP64" || type == "INT64" || type == "UINT64") return 8;
  if (type == "FP32" || type == "INT32" || type == "UINT32") return 4;
  if (type == "INT16" || type == "UINT16" || type == "FP16") return 2;
  if (type == "INT8" || type == "UINT8" || type == "BOOL") return 1;
  return 0;
}

template <typename T>
T Load(const std::string& raw, size_t i) {
  T v;
  std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
  return v;
}

double RawNumber(const std::string& type, const std::string& raw, size_t i) {
  if (type == "FP64") return Load<double>(raw, i);
  if (type == "FP32") return Load<float>(raw, i);
  if (type == "INT64") return static_cast<double>(Load<int64_t>(raw, i));
  if (type == "UINT64") return static_cast<double>(Load<uint64_t>(raw, i));
  if (type == "INT32") return Load<int32_t>(raw, i);
  if (type == "UINT32") return Load<uint32_t>(raw, i);
  if (type == "INT16") return Load<int16_t>(raw, i);
  if (type == "UINT16") return Load<uint16_t>(raw, i);
  if (type == "INT8") return Load<int8_t>(raw, i);
  return Load<uint8_t>(raw, i);  // UINT8, BOOL.
}

// The values of one tensor, as numbers or strings.
absl::Status TensorValues(const Tensor& t, const std::string* raw,
                          std::vector<features::RawValue>* out) {
  const std::string& type = t.datatype();
  auto bad = [&](std::string why) {
    return absl::InvalidArgumentError(StrCat("inputs[", t.name(), "]: ", why));
  };
  out->clear();
  if (type == "BYTES") {
    if (raw != nullptr) {
      size_t pos = 0;
      while (pos < raw->size()) {
        if (pos + 4 > raw->size()) return bad("truncated BYTES element");
        uint32_t len = Load<uint32_t>(raw->substr(pos, 4), 0);
        pos += 4;
        if (pos + len > raw->size()) return bad("truncated BYTES element");
        out->emplace_back(raw->substr(pos, len));
        pos += len;
      }
    } else {
      for (const auto& b : t.contents().bytes_contents()) out->emplace_back(b);
    }
    return absl::OkStatus();
  }
  if (type == "FP16" || ElementSize(type) == 0) {
    return bad(StrCat("datatype '", type,
                      "' is not supported (FP64, FP32, INT*, UINT*, BOOL, "
                      "BYTES)"));
  }
  auto number = [](double v) -> features::RawValue {
    if (std::isnan(v)) return std::monostate();
    return v;
  };
  if (raw != nullptr) {
    size_t size = ElementSize(type);
    if (raw->size() % size != 0)
      return bad(
          StrCat(raw->size(), " raw bytes are not whole ", type, " elements"));
    for (size_t i = 0; i < raw->size() / size; ++i)
      out->push_back(number(RawNumber(type, *raw, i)));
    return absl::OkStatus();
  }
  const auto& c = t.contents();
  if (type == "FP64") {
    for (double v : c.fp64_contents()) out->push_back(number(v));
  } else if (type == "FP32") {
    for (float v : c.fp32_contents()) out->push_back(number(v));
  } else if (type == "INT64") {
    for (int64_t v : c.int64_contents()) out->push_back(static_cast<double>(v));
  } else if (type == "UINT64") {
    for (uint64_t v : c.uint64_contents())
      out->push_back(static_cast<double>(v));
  } else if (type == "BOOL") {
    for (bool v : c.bool_contents()) out->push_back(v ? 1.0 : 0.0);
  } else if (type[0] == 'U') {
    for (uint32_t v : c.uint_contents()) out->push_back(static_cast<double>(v));
  } else {
    for (int32_t v : c.int_contents()) out->push_back(static_cast<double>(v));
  }
  return absl::OkStatus();
}

void SetParameter(
    google::protobuf::Map<std::string, inference::InferParameter>* m,
    const std::string& key, const std::string& value) {
  (*m)[key].set_string_param(value);
}

void AddTensorMetadata(
    google::protobuf::RepeatedPtrField<
        inference::ModelMetadataResponse::TensorMetadata>* list,
    const std::string& name, const std::string& type,
    std::vector<int64_t> shape) {
  auto* t = list->Add();
  t->set_name(name);
  t->set_datatype(type);
  for (int64_t d : shape) t->add_shape(d);
}

// Adds the output tensors a request asked for (all when it named none), in
// raw_output_contents when its inputs came raw, else in typed contents.
class OutputWriter {
 public:
  OutputWriter(const inference::ModelInferRequest& req,
               inference::ModelInferResponse* out)
      : out_(out), raw_(!req.raw_input_contents().empty()) {
    for (const auto& o : req.outputs()) wanted_.insert(o.name());
  }

  void Strings(const std::string& name, std::vector<int64_t> shape,
               const std::vector<std::string>& v) {
    Output* t = Add(name, "BYTES", shape);
    if (t == nullptr) return;
    if (!raw_) {
      for (const auto& x : v) t->mutable_contents()->add_bytes_contents(x);
      return;
    }
    std::string* bytes = Raw();
    for (const auto& x : v) {
      uint32_t len = static_cast<uint32_t>(x.size());
      bytes->append(reinterpret_cast<const char*>(&len), 4);
      bytes->append(x);
    }
  }

  void Doubles(const std::string& name, std::vector<int64_t> shape,
               const std::vector<double>& v) {
    Numbers(name, "FP64", shape, v,
            &inference::InferTensorContents::mutable_fp64_contents);
  }

  void Int64s(const std::string& name, std::vector<int64_t> shape,
              const std::vector<int64_t>& v) {
    Numbers(name, "INT64", shape, v,
            &inference::InferTensorContents::mutable_int64_contents);
  }

 private:
  Output* Add(const std::string& name, const std::string& type,
              const std::vector<int64_t>& shape) {
    if (!wanted_.empty() && !wanted_.contains(name)) return nullptr;
    Output* t = out_->add_outputs();
    t->set_name(name);
    t->set_datatype(type);
    for (int64_t d : shape) t->add_shape(d);
    if (raw_) out_->add_raw_output_contents();
    return t;
  }
  // `v` as raw little-endian bytes, or in the typed contents `typed` gives.
  template <typename T>
  void Numbers(const std::string& name, const std::string& type,
               const std::vector<int64_t>& shape, const std::vector<T>& v,
               google::protobuf::RepeatedField<T>* (
                   inference::InferTensorContents::*typed)()) {
    Output* t = Add(name, type, shape);
    if (t == nullptr) return;
    if (!raw_) {
      (t->mutable_contents()->*typed)()->Add(v.begin(), v.end());
      return;
    }
    Raw()->assign(reinterpret_cast<const char*>(v.data()),
                  v.size() * sizeof(T));
  }

  std::string* Raw() {
    return out_->mutable_raw_output_contents()->Mutable(
        out_->raw_output_contents_size() - 1);
  }

  inference::ModelInferResponse* const out_;
  const bool raw_;
  std::set<std::string> wanted_;
};

// The response for `result`, its outputs in the form `req` asked for.
void FillInferResponse(const inference::ModelInferRequest& req,
                       const PredictOutput& result,
                       inference::ModelInferResponse* out) {
  const serving::Servable& s = *result.servable;
  const int64_t n = static_cast<int64_t>(result.rows());
  const int w = s.width();
  out->set_model_name(req.model_name());
  out->set_model_version(std::to_string(s.summary().version()));
  out->set_id(req.id());
  SetParameter(out->mutable_parameters(), "model_version", s.version());
  SetParameter(out->mutable_parameters(), "alias", result.alias);
  (*out->mutable_parameters())["fallback"].set_bool_param(result.fallback);
  OutputWriter writer(req, out);
  writer.Strings("prediction_id", {n}, result.ids);
  const auto task = s.summary().task();
  if (task == v1::BINARY || task == v1::MULTICLASS) {
    std::vector<std::string> labels;
    std::vector<double> probs, values;
    for (int64_t i = 0; i < n; ++i) {
      v1::Prediction p;
      s.Fill(result.scores.data() + i * w, &p);
      labels.push_back(p.label());
      probs.insert(probs.end(), p.probabilities().begin(),
                   p.probabilities().end());
      values.push_back(p.value());
    }
    writer.Strings("label", {n}, labels);
    writer.Doubles("probabilities", {n, s.summary().classes_size()}, probs);
    if (task == v1::BINARY) writer.Doubles("value", {n}, values);
  } else if (task == v1::CLUSTERING) {
    writer.Int64s(
        "cluster", {n},
        std::vector<int64_t>(result.scores.begin(), result.scores.end()));
  } else {
    writer.Doubles("value", {n}, result.scores);
  }
}

}  // namespace

absl::Status RowsFromInfer(const inference::ModelInferRequest& request,
                           size_t max_rows,
                           std::vector<serving::RawRow>* rows) {
  const bool raw = !request.raw_input_contents().empty();
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return absl::InvalidArgumentError(
        StrCat("raw_input_contents: ", request.raw_input_contents_size(),
               " entries for ", request.inputs_size(), " inputs"));
  }
  if (request.inputs().empty())
    return absl::InvalidArgumentError("inputs: none given");
  int64_t n = -1;
  std::vector<features::RawValue> values;
  std::set<std::string> seen;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const Tensor& t = request.inputs(i);
    if (!seen.insert(t.name()).second) {
      return absl::InvalidArgumentError(
          StrCat("inputs[", t.name(), "]: given twice"));
    }
    if (t.shape().empty() || t.shape(0) < 0 ||
        (t.shape_size() == 2 && t.shape(1) != 1) || t.shape_size() > 2) {
      return absl::InvalidArgumentError(
          StrCat("inputs[", t.name(),
                 "].shape: expected [N] or [N, 1], one "
                 "value per row"));
    }
    if (n < 0) {
      n = t.shape(0);
      if (static_cast<uint64_t>(n) > max_rows) {
        return absl::InvalidArgumentError(
            StrCat("inputs[", t.name(), "].shape: ", n, " rows, at most ",
                   max_rows, " per request"));
      }
    } else if (t.shape(0) != n) {
      return absl::InvalidArgumentError(StrCat("inputs[", t.name(),
                                               "].shape: ", t.shape(0),
                                               " rows, other inputs have ", n));
    }
    if (auto s = TensorValues(t, raw ? &request.raw_input_contents(i) : nullptr,
                              &values);
        !s.ok()) {
      return s;
    }
    if (static_cast<int64_t>(values.size()) != n) {
      return absl::InvalidArgumentError(StrCat("inputs[", t.name(),
                                               "]: ", values.size(),
                                               " values for shape [", n, "]"));
    }
    // Only now: the shape is what the tensor carries.
    if (rows->empty()) rows->resize(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)
      (*rows)[r].emplace(t.name(), std::move(values[r]));
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(
    Ctx* ctx, const inference::ServerLiveRequest*,
    inference::ServerLiveResponse* out) {
  out->set_live(true);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(
    Ctx* ctx, const inference::ServerReadyRequest*,
    inference::ServerReadyResponse* out) {
  out->set_ready(deployments_->ready());
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(
    Ctx* ctx, const inference::ModelReadyRequest* req,
    inference::ModelReadyResponse* out) {
  out->set_ready(
      predictor_->Resolve(ModelOf(req->name(), req->version())).ok());
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(
    Ctx* ctx, const inference::ServerMetadataRequest*,
    inference::ServerMetadataResponse* out) {
  out->set_name("mlpipe");
  out->set_version("0.1.0");
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(
    Ctx* ctx, const inference::ModelMetadataRequest* req,
    inference::ModelMetadataResponse* out) {
  auto s = predictor_->Resolve(ModelOf(req->name(), req->version()));
  if (!s.ok()) return rpc::FinishUnary(ctx, s.status());
  const serving::Servable& m = **s;
  out->set_name(req->name());
  const v1::ListDeploymentsResponse list = deployments_->List();
  for (const auto& v : list.versions()) {
    auto colon = v.model_version().rfind(':');
    if (v.state() == v1::READY &&
        v.model_version().substr(0, colon) == m.name())
      out->add_versions(v.model_version().substr(colon + 1));
  }
  out->set_platform(StrCat("mlpipe_", m.summary().algorithm()));
  for (const auto& in : m.inputs())
    AddTensorMetadata(out->mutable_inputs(), in.name,
                      in.is_string ? "BYTES" : "FP64", {-1});
  AddTensorMetadata(out->mutable_outputs(), "prediction_id", "BYTES", {-1});
  switch (m.summary().task()) {
    case v1::BINARY:
    case v1::MULTICLASS:
      AddTensorMetadata(out->mutable_outputs(), "label", "BYTES", {-1});
      AddTensorMetadata(out->mutable_outputs(), "probabilities", "FP64",
                        {-1, m.summary().classes_size()});
      if (m.summary().task() == v1::BINARY)
        AddTensorMetadata(out->mutable_outputs(), "value", "FP64", {-1});
      break;
    case v1::CLUSTERING:
      AddTensorMetadata(out->mutable_outputs(), "cluster", "INT64", {-1});
      break;
    default:
      AddTensorMetadata(out->mutable_outputs(), "value", "FP64", {-1});
  }
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(
    Ctx* ctx, const inference::ModelInferRequest* req,
    inference::ModelInferResponse* out) {
  const absl::Time arrived = absl::Now();
  return rpc::RunAdmitted(
      ctx,
      [this](auto work, auto reply) {
        return predictor_->Submit(std::move(work), std::move(reply));
      },
      [this, req, out, arrived](rpc::Done done) {
        Infer(*req, arrived, out, std::move(done));
      });
}

void InferenceService::Infer(const inference::ModelInferRequest& req,
                             absl::Time arrived,
                             inference::ModelInferResponse* out,
                             rpc::Done done) {
  PredictInput in;
  in.arrived = arrived;
  in.model = ModelOf(req.model_name(), req.model_version());
  if (auto it = req.parameters().find("routing_key");
      it != req.parameters().end()) {
    in.routing_key = it->second.string_param();
  }
  if (auto it = req.parameters().find("ignore_extra_fields");
      it != req.parameters().end()) {
    in.ignore_extra = it->second.bool_param();
  }
  if (auto s = RowsFromInfer(req, predictor_->max_rows(), &in.rows); !s.ok())
    return done(s);
  auto result = predictor_->Score(in);
  if (!result.ok()) return done(result.status());
  FillInferResponse(req, *result, out);
  // Answered once its log records are durable.
  predictor_->Commit(*result, [done] { done(absl::OkStatus()); });
}

}  // namespace mlpipe::score
