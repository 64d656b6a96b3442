#include "cli/run_commands.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/dataset_commands.h"
#include "clients/ingest_request.h"
#include "common/config/pipeline_config.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::TimeUtil;
using State = v1::StepState;

// How long a step has run (or ran), by `now`: the server's clock as the
// client estimates it, so that a clock set apart from the server's does not
// make a running step's time negative.
std::string Duration(const v1::StepExecution& s, int64_t now_micros) {
  if (!s.has_started_at()) return "";
  int64_t end = s.has_finished_at()
                    ? TimeUtil::TimestampToMicroseconds(s.finished_at())
                    : now_micros;
  double secs =
      std::max<int64_t>(
          0, end - TimeUtil::TimestampToMicroseconds(s.started_at())) /
      1e6;
  char buf[32];
  if (secs < 10) {
    std::snprintf(buf, sizeof(buf), "%.1f s", secs);
  } else if (secs < 3600) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", static_cast<int>(secs) / 60,
                  static_cast<int>(secs) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", static_cast<int>(secs) / 3600,
                  static_cast<int>(secs) / 60 % 60);
  }
  return buf;
}

// The newest time a run's message carries: the server's clock then, at
// least (what the run and its steps last stamped).
int64_t NewestStamp(const v1::Run& run) {
  int64_t newest = 0;
  auto see = [&newest](const google::protobuf::Timestamp& t) {
    newest = std::max(newest, TimeUtil::TimestampToMicroseconds(t));
  };
  see(run.created_at());
  see(run.started_at());
  see(run.finished_at());
  for (const auto& s : run.steps()) {
    see(s.started_at());
    see(s.finished_at());
  }
  return newest;
}

int64_t ClientNowMicros() {
  return TimeUtil::TimestampToMicroseconds(TimeUtil::GetCurrentTime());
}

// A running step's progress: "3/10 (30%) <message>", or "45% <message>"
// when the fraction is not done / total (a trial part-way).
std::string ProgressText(const v1::Operation::Progress& p) {
  std::string out;
  const int percent = static_cast<int>(100 * p.fraction());
  if (p.total() > 0 && std::abs(p.fraction() - static_cast<double>(p.done()) /
                                                   p.total()) < 1e-9) {
    out = StrCat(FormatCount(p.done()), "/", FormatCount(p.total()), " (",
                 percent, "%)");
  } else if (p.fraction() > 0) {
    out = StrCat(percent, "%");
  } else if (p.done() > 0) {
    out = FormatCount(p.done());
  }
  if (!p.message().empty())
    StrAppend(&out, out.empty() ? "" : " ", p.message());
  return out;
}

std::string Note(const v1::StepExecution& s) {
  if (s.state() == State::RUNNING && s.has_progress())
    return ProgressText(s.progress());
  if (!s.error().empty() && s.state() != State::SUCCEEDED) return s.error();
  if (!s.skip_reason().empty()) return s.skip_reason();
  // Outputs by name (protobuf maps have no order).
  std::map<std::string, std::string> ids;
  for (const auto& [name, a] : s.outputs()) ids[name] = a.id();
  std::string out;
  for (const auto& [name, id] : ids)
    StrAppend(&out, out.empty() ? "" : " ", id);
  return out;
}

constexpr size_t kNoteWidth = 70;

// `now_micros`: the server's clock (Duration).
std::vector<std::string> StepTable(const v1::Run& run, int64_t now_micros) {
  TablePrinter t({"STEP", "TYPE", "STATE", "ATTEMPT", "ELAPSED", "NOTE"});
  for (const auto& s : run.steps()) {
    std::string note = Note(s);
    if (note.size() > kNoteWidth) note = note.substr(0, kNoteWidth - 3) + "...";
    t.Row({s.name(), s.type(), State::State_Name(s.state()),
           s.attempt() ? std::to_string(s.attempt()) : "",
           Duration(s, now_micros), note});
  }
  return t.Lines();
}

// The notes the table cut short, whole, wrapped under their step's name.
void PrintLongNotes(const v1::Run& run) {
  bool first = true;
  for (const auto& s : run.steps()) {
    const std::string note = Note(s);
    if (note.size() <= kNoteWidth) continue;
    std::cout << (first ? "\n" : "") << s.name() << ":\n";
    first = false;
    std::string line = "  ";
    for (absl::string_view word : absl::StrSplit(note, ' ')) {
      if (line.size() > 2 && line.size() + word.size() > 98) {
        std::cout << line << "\n";
        line = "  ";
      }
      absl::StrAppend(&line, line.size() > 2 ? " " : "", word);
    }
    std::cout << line << "\n";
  }
}

// A run's messages as they come, read on a thread of their own, so that a
// table can be redrawn between them (a running step's time ticks).
class RunFeed {
 public:
  explicit RunFeed(grpc::ClientReaderInterface<v1::Run>* reader)
      : thread_([this, reader] {
          v1::Run run;
          while (reader->Read(&run)) {
            // The server's clock is at least the newest time it stamped.
            const int64_t skew = NewestStamp(run) - ClientNowMicros();
            std::lock_guard lock(mu_);
            skew_ = std::max(skew_, skew);
            queue_.push_back(run);
            cv_.notify_all();
          }
          std::lock_guard lock(mu_);
          done_ = true;
          cv_.notify_all();
        }) {}
  ~RunFeed() { thread_.join(); }
  // The next message, in order (none is skipped: every step change is
  // seen), waiting up to `wait`; without one by then `*run` is left as it
  // was and `*fresh` false (time to redraw). False once the stream has
  // ended and every message was taken.
  bool Next(std::chrono::milliseconds wait, v1::Run* run, bool* fresh,
            int64_t* server_now) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return done_ || !queue_.empty(); });
    if (done_ && queue_.empty()) return false;
    *fresh = !queue_.empty();
    if (*fresh) {
      *run = std::move(queue_.front());
      queue_.pop_front();
    }
    *server_now = ClientNowMicros() + (skew_ > 0 ? skew_ : 0);
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::Run> queue_;  // A run's updates: one per step change.
  int64_t skew_ = INT64_MIN;
  bool done_ = false;
  std::thread thread_;  // Last: starts once the rest is set.
};

// Follows a run to its end: a table redrawn in place on a terminal, one line
// per step change otherwise. Returns the exit code.
int Watch(const std::string& id, Context& ctx) {
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  grpc::ClientContext call;
  v1::WatchRunRequest req;
  req.set_id(id);
  auto reader = stub->WatchRun(&call, req);
  bool tty = isatty(STDOUT_FILENO) != 0 && !ctx.json;
  size_t drawn = 0;
  std::map<std::string, State::State> last;
  v1::Run run;
  {
    RunFeed feed(reader.get());
    int64_t now = 0;
    bool fresh = false, any = false;
    // A terminal's table is redrawn 4 times a second; otherwise one line
    // per step change.
    while (feed.Next(std::chrono::milliseconds(250), &run, &fresh, &now)) {
      any |= fresh;
      if (ctx.json || !any) continue;
      if (tty) {
        auto lines = StepTable(run, now);
        if (drawn > 0) std::cout << "\033[" << drawn << "A";
        for (const auto& l : lines) std::cout << "\r\033[K" << l << "\n";
        drawn = lines.size();
        std::cout.flush();
        continue;
      }
      for (const auto& s : run.steps()) {
        if (last[s.name()] == s.state()) continue;
        last[s.name()] = s.state();
        if (s.state() == State::PENDING) continue;
        std::cout << s.name() << " " << State::State_Name(s.state());
        if (s.attempt() > 1) std::cout << " (attempt " << s.attempt() << ")";
        std::string note = Note(s);
        if (!note.empty() && s.state() != State::RUNNING)
          std::cout << ": " << note;
        std::cout << "\n";
      }
    }
  }
  if (tty) PrintLongNotes(run);
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail(s, ctx);
  if (ctx.json) {
    PrintStructured(ctx, run);
  } else {
    std::cout << "run " << run.id() << " " << v1::Run::State_Name(run.state())
              << "\n";
  }
  return run.state() == v1::Run::SUCCEEDED ? kOk : kNegative;
}

absl::StatusOr<std::string> FileHash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) h.Update(std::string_view(buf.data(), in.gcount()));
  }
  return h.HexDigest();
}

// Uploads every client-side `file:` of an ingest step and points the step at
// the batch instead. The idempotency key is the file's content hash, so an
// unchanged file maps to the same batch (and the step to the same cache key).
int UploadInputs(const std::string& pipeline_path, v1::PipelineSpec* spec,
                 Context& ctx) {
  auto stub = v1::Ingestion::NewStub(ctx.ingest_channel);
  fs::path base = fs::path(pipeline_path).parent_path();
  for (auto& step : *spec->mutable_steps()) {
    if (step.type() != "ingest") continue;
    auto& fields = *step.mutable_params()->mutable_fields();
    auto it = fields.find("file");
    if (it == fields.end() || it->second.string_value().starts_with("server:"))
      continue;
    fs::path file = it->second.string_value();
    if (file.is_relative()) file = base / file;
    auto hash = FileHash(file.string());
    if (!hash.ok()) {
      std::cerr << "error: " << config::Where(*spec, step.line()) << ": steps."
                << step.name() << ".file: " << hash.status().message() << "\n";
      return kNotFound;
    }
    auto header = ingest::IngestHeaderFromParams(step.params(), spec->dataset(),
                                                 "steps." + step.name());
    if (!header.ok()) {
      std::cerr << "error: " << config::Where(*spec, step.line()) << ": "
                << header.status().message() << "\n";
      return kRejected;
    }
    const std::string dataset = header->dataset();
    header->set_idempotency_key("file-" + *hash);
    v1::IngestResponse resp;
    grpc::Status s = UploadFile(file.string(), *header, stub.get(), &resp);
    if (!s.ok()) return Fail(s, ctx);
    if (!ctx.json) {
      std::cout << (!resp.new_version()   ? "unchanged "
                    : resp.deduplicated() ? "restored "
                                          : "uploaded ")
                << file.filename().string() << " -> dataset '" << dataset
                << "' version " << resp.version().version() << " ("
                << FormatCount(resp.version().row_count()) << " rows)";
      for (const auto& w : resp.warnings()) std::cout << "; warning: " << w;
      if (resp.duplicates() > 0)
        std::cout << "; warning: " << FormatCount(resp.duplicates())
                  << " rows were in the dataset already";
      std::cout << "\n";
    }
    fields.erase("file");
    fields["batch"].set_string_value(resp.batch().id());
    fields["dataset_version"].set_number_value(
        static_cast<double>(resp.version().version()));
    fields["uploaded_from"].set_string_value(file.filename().string());
  }
  return kOk;
}

// Refuses a client-side `file:` outside the pipeline file's folder (after
// resolving `..` and symbolic links): a pipeline from elsewhere must not
// upload ~/.ssh or /etc/passwd by naming them. --allow-outside-files lifts it.
int CheckFilesInside(const std::string& pipeline_path,
                     const v1::PipelineSpec& spec) {
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(
      fs::absolute(fs::path(pipeline_path)).parent_path(), ec);
  for (const auto& step : spec.steps()) {
    if (step.type() != "ingest") continue;
    const auto& fields = step.params().fields();
    auto it = fields.find("file");
    if (it == fields.end() || it->second.string_value().starts_with("server:"))
      continue;
    fs::path file = it->second.string_value();
    if (file.is_relative()) file = base / file;
    const fs::path real = fs::weakly_canonical(file, ec);
    auto rel = real.lexically_relative(base);
    if (!ec && !rel.empty() && *rel.begin() != "..") continue;
    std::cerr << "error: " << config::Where(spec, step.line()) << ": steps."
              << step.name() << ".file: '" << it->second.string_value()
              << "' is outside the pipeline's folder " << base.string()
              << " (mlpipe run uploads only files beside the pipeline file "
                 "or below it; --allow-outside-files lifts this)\n";
    return kRejected;
  }
  return kOk;
}

// Asks the orchestrator to check `spec` (validate_only) with every
// client-side file as if it were uploaded already, so a pipeline that would
// be refused is refused before its files are uploaded.
int CheckBeforeUpload(const v1::PipelineSpec& spec, Context& ctx) {
  v1::SubmitRunRequest req;
  *req.mutable_spec() = spec;
  req.set_validate_only(true);
  for (auto& step : *req.mutable_spec()->mutable_steps()) {
    if (step.type() != "ingest") continue;
    auto& fields = *step.mutable_params()->mutable_fields();
    auto it = fields.find("file");
    if (it == fields.end() || it->second.string_value().starts_with("server:"))
      continue;
    std::string file = it->second.string_value();
    fields.erase(it);
    fields["batch"].set_string_value("(to be uploaded)");
    fields["uploaded_from"].set_string_value(file);
  }
  v1::Run checked;
  UnaryCall call;
  if (auto s = v1::Orchestrator::NewStub(ctx.channel)
                   ->SubmitRun(&call, req, &checked);
      !s.ok())
    return Fail(s, ctx);
  return kOk;
}

}  // namespace

int RunPipeline(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"watch", "no-cache", "allow-outside-files"});
      rc != kOk)
    return rc;
  if (args.positional().size() < 2)
    return UsageError("run: PIPELINE.yaml is required");
  const std::string path = args.positional()[1];
  auto spec = config::LoadPipelineFile(path);
  if (!spec.ok()) {
    std::cerr << "error: " << spec.status().message() << "\n";
    return spec.status().code() == absl::StatusCode::kNotFound ? kNotFound
                                                               : kRejected;
  }
  if (!args.Has("allow-outside-files")) {
    if (int rc = CheckFilesInside(path, *spec); rc != kOk) return rc;
  }
  if (int rc = CheckBeforeUpload(*spec, ctx); rc != kOk) return rc;
  if (int rc = UploadInputs(path, &*spec, ctx); rc != kOk) return rc;
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  v1::SubmitRunRequest req;
  *req.mutable_spec() = *spec;
  req.set_no_cache(args.Has("no-cache"));
  v1::Run run;
  UnaryCall call;
  if (auto s = stub->SubmitRun(&call, req, &run); !s.ok()) return Fail(s, ctx);
  if (!args.Has("watch")) {
    if (ctx.json) {
      PrintStructured(ctx, run);
    } else {
      std::cout << "run " << run.id() << " submitted (pipeline "
                << run.pipeline() << "); follow it with: mlpipe runs show "
                << run.id() << "\n";
    }
    return kOk;
  }
  if (!ctx.json)
    std::cout << "run " << run.id() << " (pipeline " << run.pipeline() << ")\n";
  return Watch(run.id(), ctx);
}

int RunRuns(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"pipeline", "limit", "watch"}); rc != kOk)
    return rc;
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "list";
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  UnaryCall call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  if (verb == "list") {
    v1::ListRunsRequest req;
    req.set_pipeline(args.Get("pipeline"));
    if (args.Has("limit"))
      req.set_limit(static_cast<int32_t>(args.Int("limit")));
    v1::ListRunsResponse resp;
    if (auto s = stub->ListRuns(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, resp);
      return kOk;
    }
    TablePrinter t({"RUN", "PIPELINE", "STATE", "STEPS", "CREATED", "TRIGGER"});
    for (const auto& r : resp.runs()) {
      int done = 0;
      for (const auto& s : r.steps()) {
        done += s.state() == State::SUCCEEDED || s.state() == State::CACHED;
      }
      t.Row({r.id(), r.pipeline(), v1::Run::State_Name(r.state()),
             StrCat(done, "/", r.steps_size()), FormatTime(r.created_at()),
             r.trigger()});
    }
    t.Print();
    return kOk;
  }
  if (pos.size() < 3)
    return UsageError("runs " + verb + ": RUN_ID is required");
  const std::string& id = pos[2];
  v1::Run run;
  grpc::Status s;
  if (verb == "show") {
    v1::GetRunRequest req;
    req.set_id(id);
    s = stub->GetRun(&call, req, &run);
  } else if (verb == "cancel") {
    v1::CancelRunRequest req;
    req.set_id(id);
    s = stub->CancelRun(&call, req, &run);
  } else if (verb == "resume") {
    v1::ResumeRunRequest req;
    req.set_id(id);
    s = stub->ResumeRun(&call, req, &run);
    if (s.ok() && args.Has("watch")) return Watch(id, ctx);
  } else {
    return UsageError("runs: unknown command '" + verb +
                      "' (list, show, cancel, resume)");
  }
  if (!s.ok()) return Fail(s, ctx);
  if (ctx.json) {
    PrintStructured(ctx, run);
    return kOk;
  }
  std::cout << "run      " << run.id() << "\npipeline " << run.pipeline()
            << "\nstate    " << v1::Run::State_Name(run.state())
            << "\ntrigger  " << run.trigger() << "\ncreated  "
            << FormatTime(run.created_at()) << "\n\n";
  for (const auto& l : StepTable(run, ClientNowMicros()))
    std::cout << l << "\n";
  PrintLongNotes(run);
  return kOk;
}

int RunLineage(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"depth"}); rc != kOk) return rc;
  if (args.positional().size() < 2)
    return UsageError("lineage: an artifact or execution id is required");
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  UnaryCall call;
  v1::GetLineageRequest req;
  req.set_id(args.positional()[1]);
  if (args.Has("depth")) req.set_depth(static_cast<int32_t>(args.Int("depth")));
  v1::GetLineageResponse resp;
  if (auto s = stub->GetLineage(&call, req, &resp); !s.ok())
    return Fail(s, ctx);
  if (ctx.json) {
    PrintStructured(ctx, resp);
    return kOk;
  }
  TablePrinter nodes({"NODE", "KIND", "TYPE"});
  for (const auto& n : resp.nodes()) nodes.Row({n.id(), n.kind(), n.type()});
  nodes.Print();
  std::cout << "\n";
  TablePrinter edges({"FROM", "TO"});
  for (const auto& e : resp.edges()) edges.Row({e.from(), e.to()});
  edges.Print();
  return kOk;
}

int RunSchedules(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "list";
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  UnaryCall call;
  auto print = [&](const auto& schedules) {
    TablePrinter t(
        {"SCHEDULE", "PIPELINE", "TRIGGER", "NEXT FIRE", "LAST FIRED"});
    for (const auto& s : schedules) {
      std::string trigger =
          s.trigger().has_event()
              ? StrCat("event ", s.trigger().event().source(), "/",
                       s.trigger().event().topic())
              : StrCat("cron \"", s.trigger().schedule(), "\" ",
                       s.trigger().timezone().empty() ? "UTC"
                                                      : s.trigger().timezone());
      for (const auto& [k, v] : s.trigger().event().filter())
        StrAppend(&trigger, " ", k, "=", v);
      t.Row({s.id(), s.spec().metadata().name(), trigger,
             s.has_next_fire_at() ? FormatTime(s.next_fire_at()) : "-",
             s.has_last_fired_at() ? FormatTime(s.last_fired_at()) : "-"});
    }
    t.Print();
  };
  if (verb == "create") {
    if (pos.size() < 3)
      return UsageError("schedules create: PIPELINE.yaml is required");
    auto spec = config::LoadPipelineFile(pos[2]);
    if (!spec.ok()) {
      std::cerr << "error: " << spec.status().message() << "\n";
      return spec.status().code() == absl::StatusCode::kNotFound ? kNotFound
                                                                 : kRejected;
    }
    v1::CreateScheduleRequest req;
    *req.mutable_spec() = *spec;
    v1::CreateScheduleResponse resp;
    if (auto s = stub->CreateSchedule(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { print(resp.schedules()); });
    return kOk;
  }
  if (verb == "list") {
    v1::ListSchedulesResponse resp;
    if (auto s = stub->ListSchedules(&call, {}, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { print(resp.schedules()); });
    return kOk;
  }
  if (verb == "delete") {
    if (pos.size() < 3)
      return UsageError("schedules delete: SCHEDULE_ID is required");
    v1::DeleteScheduleRequest req;
    req.set_id(pos[2]);
    v1::DeleteScheduleResponse resp;
    if (auto s = stub->DeleteSchedule(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    if (!ctx.json)
      std::cout << "deleted schedule " << pos[2] << "\n";
    else
      PrintStructured(ctx, resp);
    return kOk;
  }
  return UsageError("schedules: unknown command '" + verb +
                    "' (create, list, delete)");
}

int RunAliases(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
  const auto& pos = args.positional();
  std::string verb = pos.size() > 1 ? pos[1] : "list";
  auto stub = v1::Orchestrator::NewStub(ctx.channel);
  UnaryCall call;
  auto print = [&](const auto& records) {
    TablePrinter t({"ALIAS", "MODEL VERSION", "ROUTE", "SET BY", "SET AT"});
    for (const auto& r : records) {
      t.Row({r.alias(), r.model_version(),
             r.has_route() ? StrCat("revision ", r.route().revision()) : "-",
             r.set_by(), FormatTime(r.set_at())});
    }
    t.Print();
  };
  if (verb == "list") {
    v1::ListAliasesResponse resp;
    if (auto s = stub->ListAliases(&call, {}, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { print(resp.aliases()); });
    return kOk;
  }
  if (verb == "history") {
    if (pos.size() < 3) return UsageError("aliases history: NAME is required");
    v1::AliasHistoryRequest req;
    req.set_alias(pos[2]);
    v1::AliasHistoryResponse resp;
    if (auto s = stub->AliasHistory(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { print(resp.records()); });
    return kOk;
  }
  if (verb == "set") {
    if (pos.size() < 4)
      return UsageError("aliases set: NAME MODEL_VERSION are required");
    v1::SetAliasRequest req;
    req.set_alias(pos[2]);
    req.set_model_version(pos[3]);
    req.set_set_by(ctx.author);
    v1::AliasRecord rec;
    if (auto s = stub->SetAlias(&call, req, &rec); !s.ok()) return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, rec);
    } else if (rec.has_route()) {
      std::cout << "alias " << rec.alias() << " -> " << rec.model_version()
                << ": serves its requests (route revision "
                << rec.route().revision() << ")\n";
    } else {
      std::cout << "alias " << rec.alias() << " -> " << rec.model_version()
                << " (recorded only: nothing serves the model yet; `mlpipe "
                   "deploy` serves it)\n";
    }
    return kOk;
  }
  return UsageError("aliases: unknown command '" + verb +
                    "' (list, history, set)");
}

}  // namespace mlpipe::cli
