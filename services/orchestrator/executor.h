// Step types are plug-ins: each implements StepExecutor. The orchestrator
// resolves a step's inputs (the outputs of the steps it comes after), calls
// Execute on a worker thread, and records what it returns.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_EXECUTOR_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_EXECUTOR_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config/struct_message.h"
#include "mlpipe/v1/orchestrator_service.pb.h"

namespace mlpipe::orchestrator {

// What an executor gets for one attempt of one step. Valid for the duration
// of Execute.
struct StepContext {
  const v1::PipelineSpec* spec = nullptr;
  const v1::StepSpec* step = nullptr;
  std::string run_id;
  int attempt = 1;
  // The same for a step re-issued after an orchestrator restart, so the
  // service it calls can recognise the retry and not do the work twice.
  std::string idempotency_key;
  // The run was started with --no-cache: services that reuse work of their
  // own (train's candidates) do it again too.
  bool no_cache = false;
  // Finished steps this one comes after, by name.
  std::map<std::string, v1::StepExecution> upstream;
  absl::Time deadline = absl::InfiniteFuture();
  const std::atomic<bool>* cancelled = nullptr;
  // Shows how far the attempt is on the run's step (watchers see it).
  std::function<void(const v1::Operation::Progress&)> on_progress;

  bool Cancelled() const { return cancelled != nullptr && cancelled->load(); }
  void ReportProgress(const v1::Operation::Progress& p) const {
    if (on_progress) on_progress(p);
  }
  // Sleeps up to `d`; false (early) when cancelled or past the deadline.
  bool SleepFor(absl::Duration d) const;
  // CANCELLED or DEADLINE_EXCEEDED when the attempt should stop, else OK.
  absl::Status CheckAlive() const;

  // Typed parameter access; INVALID_ARGUMENT naming the parameter.
  absl::StatusOr<std::string> StringParam(const std::string& name,
                                          const std::string& def) const;
  absl::StatusOr<double> NumberParam(const std::string& name, double def) const;
};

// A dataset column a step's parameters name, at `path` within the step
// ("transforms[0].columns[1]").
struct ColumnRef {
  std::string path;
  std::string column;
};

struct StepResult {
  std::map<std::string, v1::Artifact> outputs;
  google::protobuf::Struct results;  // Values for later `when:` conditions.
};

class StepExecutor {
 public:
  virtual ~StepExecutor() = default;
  // Changes whenever the executor's behaviour changes: cached results of
  // other versions are not reused.
  virtual std::string version() const = 0;
  // Checks a step's parameters before the run starts. INVALID_ARGUMENT with
  // the parameter and the reason.
  virtual absl::Status Validate(const v1::PipelineSpec& spec,
                                const v1::StepSpec& step) const = 0;
  // The results Execute records, for `when:` checks at submit: exact names,
  // or patterns with one '*' ("*_rows"). Empty: not declared (any name).
  virtual std::vector<std::string> ResultNames(const v1::StepSpec& step) const {
    return {};
  }
  // The columns of the step's dataset (StepDataset) its parameters name,
  // checked at submit against the dataset's schema when it exists.
  virtual std::vector<ColumnRef> Columns(const v1::StepSpec& step) const {
    return {};
  }
  // False when the same parameters may give different outputs (e.g. "the
  // latest version of a dataset"): such steps always run.
  virtual bool Cacheable(const v1::StepSpec& step) const { return true; }
  // Runs one attempt. Long work must poll ctx.CheckAlive().
  virtual absl::StatusOr<StepResult> Execute(const StepContext& ctx) = 0;
};

// Step types by name. Not thread-safe while registering; read-only after.
class ExecutorRegistry {
 public:
  void Register(const std::string& type, std::unique_ptr<StepExecutor> e) {
    executors_[type] = std::move(e);
  }
  StepExecutor* Find(const std::string& type) const {
    auto it = executors_.find(type);
    return it == executors_.end() ? nullptr : it->second.get();
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : executors_) out.push_back(n);
    return out;
  }

 private:
  std::map<std::string, std::unique_ptr<StepExecutor>> executors_;
};

// The dataset a step works on: its `dataset` parameter, else spec.dataset.
std::string StepDataset(const v1::PipelineSpec& spec, const v1::StepSpec& step);

// The strings at parameters `keys` of `step` (each a string or a list of
// them, lists nested at any depth: `slices: [Home, [Home, Job]]`), as column
// references; `nested` names a key of list items (`transforms[i].columns`).
std::vector<ColumnRef> ColumnParams(const v1::StepSpec& step,
                                    const std::vector<std::string>& keys,
                                    const std::string& list = "",
                                    const std::string& nested = "");

// Checks that every parameter of `step` is in `known` and of that kind
// (kNumberValue, kStringValue, kBoolValue, kListValue, kStructValue).
// INVALID_ARGUMENT naming the parameter, listing the known ones.
absl::Status CheckParams(
    const v1::StepSpec& step,
    const std::map<std::string, google::protobuf::Value::KindCase>& known);

// The step's parameters as the request `out` of the service that runs it
// (config::ParamsToMessage under "steps.<step>").
absl::Status ParamsToRequest(const v1::StepSpec& step,
                             const config::ParamMapping& mapping,
                             google::protobuf::Message* out);

// INVALID_ARGUMENT "steps.<step>.<key>: <why>".
absl::Status BadParam(const v1::StepSpec& step, std::string_view key,
                      std::string_view why);

// `status` with "steps.<step>." before its message (same code): for checks
// of a service request built from the step's parameters.
absl::Status InStep(const v1::StepSpec& step, const absl::Status& status);

// INVALID_ARGUMENT unless `upstream` (the value of parameter `key`) is one
// of the steps `step` comes after: a step uses only outputs of those.
absl::Status RequireAfter(const v1::StepSpec& step, std::string_view key,
                          const std::string& upstream, std::string_view what);

// The dataset version an upstream step produced (results `dataset` and
// `version`; 0 when none did: the latest), so a step's result (and its cache
// key, which includes upstream outputs) follows the data.
int64_t UpstreamVersion(const StepContext& ctx, const std::string& dataset);

// The steps `step` comes after, directly or not.
std::set<std::string> Ancestors(const v1::PipelineSpec& spec,
                                const v1::StepSpec& step);

// The step of type `type` whose outputs `step` reads: the one parameter
// `param` names (it must be a step of that type that `step` comes after,
// directly or not), else the one such step `step` comes after; "" when
// there is none. INVALID_ARGUMENT naming `param` when it names another
// step, or when several steps could be meant. Checked at submit and used
// when the step runs, so both agree.
absl::StatusOr<std::string> UpstreamStep(const v1::PipelineSpec& spec,
                                         const v1::StepSpec& step,
                                         const std::string& param,
                                         const std::string& type);

// The `key` result (e.g. "feature_set") of UpstreamStep(param, type) ("" when
// there is no such step). INVALID_ARGUMENT naming `param` when the step it
// names has no such result.
absl::StatusOr<std::string> UpstreamOutput(const StepContext& ctx,
                                           const std::string& param,
                                           const std::string& type,
                                           const std::string& key);

// A string result of the upstream step `name` ("" when absent).
std::string UpstreamResult(const StepContext& ctx, const std::string& step,
                           const std::string& key);

// Executors only for tests and benchmarks: sleep {seconds}, fail {times,
// code, unless_file} (fails its first `times` attempts, or while
// `unless_file` does not exist), record {file, value, sleep_seconds} (appends
// "<idempotency key> <value>" to a file once per key), noop.
void RegisterTestExecutors(ExecutorRegistry* registry);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_EXECUTOR_H_
