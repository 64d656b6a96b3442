#include "cli/model_commands.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_join.h"
#include "common/config/pipeline_config.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/train_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fs", s);
  return buf;
}

std::string TaskName(v1::Task t) {
  std::string n = v1::Task_Name(t);
  for (char& c : n) c = static_cast<char>(std::tolower(c));
  return n;
}

std::string Metrics(
    const google::protobuf::RepeatedPtrField<v1::MetricValue>& m) {
  std::string out;
  for (const auto& v : m)
    StrAppend(&out, out.empty() ? "" : " ", v.name(), "=",
              FormatNumber(v.value()));
  return out;
}

// {"a":1,"b":"x"} with keys in name order (a Struct's map has none).
std::string Params(const google::protobuf::Struct& s) {
  std::map<std::string, std::string> sorted;
  for (const auto& [k, v] : s.fields()) {
    (void)google::protobuf::util::MessageToJsonString(v, &sorted[k]);
  }
  std::string out = "{";
  for (const auto& [k, v] : sorted)
    StrAppend(&out, out.size() > 1 ? "," : "", "\"", k, "\":", v);
  return out + "}";
}

void PrintModel(const v1::ModelArtifact& m) {
  std::cout << "model        " << m.id() << "  (candidate " << m.candidate()
            << ")\n"
            << "algorithm    " << m.algorithm() << " " << Params(m.params())
            << "\n"
            << "task         " << TaskName(m.task());
  if (!m.label().empty()) std::cout << ", label " << m.label();
  if (m.classes_size() > 0) {
    std::cout << ", classes";
    for (const auto& c : m.classes()) std::cout << " " << c;
  }
  std::cout << "\n"
            << "features     " << m.feature_names_size() << " (transform "
            << m.transform_id() << ")\n"
            << "data         " << m.dataset() << "@v" << m.dataset_version()
            << ", split " << m.split_id() << ", feature set " << m.feature_set()
            << "\n"
            << "trained by   job " << m.job_id() << ", trial " << m.trial_id()
            << "\n";
  if (m.workers_size() > 0)
    std::cout << "workers      " << absl::StrJoin(m.workers(), ", ") << "\n";
  std::cout << "created      " << FormatTime(m.created_at()) << "\n"
            << "sha256       " << m.sha256() << "\n\n";
  TablePrinter t({"PART", "ROWS", "METRICS"});
  t.Row({"train", FormatCount(m.train_rows()), Metrics(m.train_metrics())});
  if (m.eval_rows() > 0)
    t.Row({"eval", FormatCount(m.eval_rows()), Metrics(m.eval_metrics())});
  t.Print();
  std::cout << "\ntimings      read " << Seconds(m.timings().read_seconds())
            << ", fit " << Seconds(m.timings().fit_seconds()) << ", search "
            << Seconds(m.timings().search_seconds()) << "\n";
}

void PrintModels(
    const google::protobuf::RepeatedPtrField<v1::ModelArtifact>& models,
    const std::string& best) {
  TablePrinter t({"MODEL", "CANDIDATE", "ALGORITHM", "TASK", "EVAL",
                  "TRAIN ROWS", "CREATED"});
  for (const auto& m : models) {
    t.Row({m.id() == best ? m.id() + " *" : m.id(), m.candidate(),
           m.algorithm(), TaskName(m.task()), Metrics(m.eval_metrics()),
           FormatCount(m.train_rows()), FormatTime(m.created_at())});
  }
  t.Print();
}

void PrintTrials(const google::protobuf::RepeatedPtrField<v1::Trial>& trials) {
  TablePrinter t(
      {"TRIAL", "STATE", "PARAMS", "SCORE", "ITER", "SECONDS", "WORKER"});
  for (const auto& tr : trials) {
    std::string state = v1::Operation::State_Name(tr.state());
    if (!tr.error().empty()) state += ": " + tr.error();
    t.Row({tr.id(), state, Params(tr.params()),
           tr.metric().empty()
               ? "-"
               : StrCat(tr.metric(), "=", FormatNumber(tr.score())),
           StrCat(tr.iteration()), Seconds(tr.seconds()), tr.worker()});
  }
  t.Print();
}

int Int(const Args& args, const std::string& flag, int def, int* out) {
  try {
    *out = args.Has(flag) ? std::stoi(args.Get(flag)) : def;
  } catch (const std::exception&) {
    return UsageError("--" + flag + " takes a number");
  }
  return kOk;
}

}  // namespace

int RunModels(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  std::string sub = pos.size() > 1 ? pos[1] : "";
  auto stub = v1::Training::NewStub(ctx.channel);
  if (sub == "list") {
    if (int rc = CheckFlags(args, {"name", "limit"}); rc != kOk) return rc;
    v1::ListModelsRequest req;
    req.set_name(args.Get("name"));
    int limit = 0;
    if (int rc = Int(args, "limit", 0, &limit); rc != kOk) return rc;
    req.set_limit(limit);
    UnaryCall call;
    v1::ListModelsResponse resp;
    if (auto s = stub->ListModels(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { PrintModels(resp.models(), ""); });
    return kOk;
  }
  if (sub == "show" && pos.size() >= 3) {
    if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
    v1::GetModelRequest req;
    req.set_id(pos[2]);
    req.set_summary(!ctx.json);
    UnaryCall call;
    v1::ModelArtifact m;
    if (auto s = stub->GetModel(&call, req, &m); !s.ok()) return Fail(s, ctx);
    Print(ctx, m, [&] { PrintModel(m); });
    return kOk;
  }
  if (sub == "trials") {
    if (int rc = CheckFlags(
            args, {"job", "candidate", "algorithm", "order-by", "limit"});
        rc != kOk)
      return rc;
    v1::ListTrialsRequest req;
    req.set_job(args.Get("job"));
    req.set_candidate(args.Get("candidate"));
    req.set_algorithm(args.Get("algorithm"));
    req.set_order_by(args.Get("order-by"));
    int limit = 0;
    if (int rc = Int(args, "limit", 0, &limit); rc != kOk) return rc;
    req.set_limit(limit);
    UnaryCall call;
    v1::ListTrialsResponse resp;
    if (auto s = stub->ListTrials(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { PrintTrials(resp.trials()); });
    return kOk;
  }
  return UsageError("models list | models show ID | models trials [--job J]");
}

int RunTrain(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"split", "config", "feature-set", "model"});
      rc != kOk)
    return rc;
  if (!args.Has("split") || !args.Has("config"))
    return UsageError("train --split ID --config FILE");
  std::ifstream in(args.Get("config"));
  if (!in) {
    std::cerr << "error: cannot read " << args.Get("config") << "\n";
    return kNotFound;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto value = config::ParseYamlValue(text.str(), args.Get("config"));
  if (!value.ok()) {
    std::cerr << "error: " << value.status().message() << "\n";
    return kRejected;
  }
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(*value, &json);
  v1::StartTrainingRequest req;
  if (auto s = google::protobuf::util::JsonStringToMessage(json, &req);
      !s.ok()) {
    std::cerr << "error: " << args.Get("config") << ": " << s.message() << "\n";
    return kRejected;
  }
  req.set_split(args.Get("split"));
  if (args.Has("feature-set")) req.set_feature_set(args.Get("feature-set"));
  if (args.Has("model")) req.set_model(args.Get("model"));

  auto stub = v1::Training::NewStub(ctx.channel);
  v1::Operation op;
  {
    UnaryCall call;
    if (auto s = stub->StartTraining(&call, req, &op); !s.ok())
      return Fail(s, ctx);
  }
  std::cerr << "training job " << op.id() << "\n";
  // Follow the job: a bar of trials done, the running trials' progress.
  Progress bar("training", 0);
  grpc::ClientContext watch;
  v1::WatchJobRequest w;
  w.set_id(op.id());
  auto reader = stub->WatchJob(&watch, w);
  v1::TrainingJob job;
  while (reader->Read(&job)) {
    int done = 0;
    std::string running;
    for (const auto& t : job.trials()) {
      if (t.state() == v1::Operation::SUCCEEDED ||
          t.state() == v1::Operation::FAILED)
        ++done;
      if (t.state() == v1::Operation::RUNNING) {
        StrAppend(&running, running.empty() ? "" : "  ", t.candidate(), "/",
                  t.index(), " ", t.iteration(),
                  t.iterations() > 0 ? StrCat("/", t.iterations()) : "");
        if (t.loss() != 0)
          StrAppend(&running, " loss ", FormatNumber(t.loss()));
      }
    }
    bar.Step(done, job.trials_size(), running);
  }
  bar.Done();
  if (auto s = reader->Finish(); !s.ok()) return Fail(s, ctx);
  if (job.state() != v1::Operation::SUCCEEDED) {
    std::cerr << "error: training job " << job.id() << " "
              << v1::Operation::State_Name(job.state())
              << (job.error().empty() ? "" : ": " + job.error()) << "\n";
    return kNegative;
  }
  v1::ListModelsResponse models;
  for (const auto& id : job.models()) {
    UnaryCall call;
    v1::GetModelRequest get;
    get.set_id(id);
    get.set_summary(true);
    if (auto s = stub->GetModel(&call, get, models.add_models()); !s.ok())
      return Fail(s, ctx);
  }
  if (ctx.json) {
    PrintStructured(ctx, job);
  } else {
    PrintTrials(job.trials());
    std::cout << "\n";
    PrintModels(models.models(), job.best_model());
    std::cout << "\nbest model: " << job.best_model() << " (by " << job.metric()
              << ")\n";
  }
  return kOk;
}

}  // namespace mlpipe::cli
