// mlpipe: the command-line face of the platform.
#include <cstdlib>
#include <iostream>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/audit_commands.h"
#include "cli/cli.h"
#include "cli/client_config.h"
#include "cli/dataset_commands.h"
#include "cli/eval_commands.h"
#include "cli/model_commands.h"
#include "cli/monitor_commands.h"
#include "cli/prep_commands.h"
#include "cli/push_commands.h"
#include "cli/rollout_commands.h"
#include "cli/run_commands.h"
#include "cli/score_commands.h"
#include "cli/split_commands.h"
#include "common/rpc/auth.h"
#include "common/rpc/channel.h"
#include "common/util/files.h"
#include "common/util/strings.h"

namespace {

constexpr char kHelp[] = R"(mlpipe - production ML pipelines

usage: mlpipe [--server HOST:PORT] [--output table|json|yaml] COMMAND ...

commands:
  ingest --dataset NAME --file PATH   upload a CSV or JSON-lines file as a new batch: a
         [--mode append|replace]      new version of the dataset's rows plus the file's
         [--format csv|jsonl]         (append, the default; rows it had already are
         [--delimiter C] [--no-header] counted as duplicates) or of the file alone
         [--null-values NA,null] [--idempotency-key KEY]            (replace)
         [--encoding utf-8|latin1]    the file's text encoding (default utf-8; a cell
                                      that is not valid in it is refused)
         [--types col=categorical,..] column types instead of inferred ones (digit
                                      codes as categories)
  push --dataset NAME [--file F|-]    stream JSON lines (a file, or stdin: rows piped one
       [--producer NAME]              at a time go out within 20 ms) into a dataset; each
       [--rows-per-message N] [--flush] row is acknowledged once durable, and becomes part
                                      of a version at the next compaction (every minute;
                                      --flush: now); with --producer, a push run again
                                      after a crash resumes after the lines stored
  datasets list                       datasets with versions, rows, columns
  datasets show NAME                  schema, versions and batches of a dataset
  datasets revert NAME --to-version N a new version with version N's rows (undoes the
                                      uploads since; deletes nothing)
  datasets delete-batch NAME BATCH    a new version without that batch, whose rows are
                                      deleted (versions that held it become unreadable)
  datasets delete NAME                delete a dataset and all its batches
  stats DATASET [--version N]         per-column statistics (missing, distinct, mean,
        [--columns a,b]               quantiles, top values); ~ marks estimates
  validate DATASET [--version N]      check a version against a schema (a YAML file of
        [--schema FILE] [--fail-on K] column rules, or inferred from the previous version);
        [--label L]                   exit 4 when an anomaly of a --fail-on kind is found
  features show ID                    a feature set: its transform, fitted values, outputs
  features get ID --keys k1,k2        an entity's online row: raw values, event time and
        [--as-of T] [--transformed]   version (latest, or --as-of TIME for point in time);
        [--features a,b]              --transformed adds the feature vector; exit 3 if a
                                      key is unknown
  skew DATASET_A DATASET_B            training/serving skew per column: Jensen-Shannon
       [--version-a N] [--version-b N] (base 2) of numbers and timestamps on A's
       [--threshold 0.1]              deciles, L-infinity of category frequencies;
       [--label L] [--exclude a,b]    the label and excluded columns, and with
       [--schema F --environment E]   --environment SERVING the schema's label and
                                      columns `not_in: [SERVING]`, are not compared;
                                      exit 4 when a column is skewed
  splits list [--dataset D]           splits with their parts' sizes
  splits show ID                      a split: parts, sizes, label distribution per
                                      part, folds, warnings
  splits create --strategy S          split a feature set (--feature-set FS) or a
        [--ratios train=0.8,test=0.2] dataset version (--dataset D [--version N]);
        [--seed N] [--label L]        strategies: sequential random shuffled
        [--column C] [--group-column G] stratified group time hash explicit
        [--folds K]
  train --split ID --config FILE     train model candidates on a split (the config: YAML
        [--feature-set FS] [--model N] with candidates, search, ...); progress bar; prints
                                      the trials and models, the best marked *
  models list [--name N]              trained models (versions), newest first
  models show ID                      a model (NAME:VERSION or NAME for the latest):
                                      algorithm, params, data, metrics, timings, hash
  models trials [--job J]             tracked trials: params, score, time, worker
        [--candidate C] [--order-by score]
  eval run --models A[,B]             evaluate candidates on their split's test part
       [--alias production | --baseline M]  against the model an alias points to;
       [--slices "Home;Age:4"]         slices of raw values (Age:4 - numbers in 4
                                      quantile ranges), gate (--min-improvement X,
                                      --metric M);
       [--split S] [--part P]          exit 0 if the best is blessed, 6 if not
  eval list [--model M]               evaluations, newest first: candidates, baseline,
                                      best candidate, blessed
  eval show ID                        an evaluation: metrics side by side (95% bootstrap
                                      interval), verdicts with reasons, slices and gaps
  eval report ID --html FILE          the evaluation as one self-contained HTML page
                                      (ROC, PR and calibration plots, tables)
  deploy MODEL_VERSION                serve a model version under an alias of its model
         [--alias production]         (default production: credit@production): all
         [--canary P | --shadow]      traffic, or --canary PERCENT of it (the rest
                                      stays), or a --shadow copy (logged,
         [--latency-budget-ms X]      never returned); past the budget the previous
         [--traffic "m:1=90,m:2=10"]  version answers; --traffic sets an A/B/n split;
         [--force-schema-change]      a version whose task or input fields differ from
                                      the alias's is refused unless forced
  deploy MODEL_VERSION --canary PLAN  a canary rollout: the monitor holds each step's
                                      share (PLAN: 5,25,50,100 or a YAML file with the
                                      deploy step's canary: mapping) until its analysis
                                      advances, promotes or rolls back (docs/canary.md)
  undeploy MODEL_VERSION [--alias A]  stop serving a version (under one alias or all)
  rollback [--alias A] [--reason R]   put an alias's route back as it was before its
                                      last change
  deployments list | history [ALIAS]  routes (versions, shares, shadows, fallback) and
                                      loaded versions / an alias's route revisions
  predict [--model M]                 score rows: --json '{"Income": 120, ...}' (or a
          (--json ROW | --file F.jsonl JSON array), --file with one JSON object per
           | --keys k1,k2)            line, or --keys for online features; prints the
          [--routing-key K]           version that answered and one prediction per row
  batch-score --model M               score a dataset (raw rows, transformed) or a
        (--dataset D [--version N]    feature set into stored results; --out writes
         | --feature-set FS)          them as CSV
        [--keep id,...] [--out F.csv]
  batch-score list | show ID | export ID --out F.csv
  monitor report MODEL [--windows N]  drift of the last N windows of logged predictions
         [--html FILE]                against the reference (per field: PSI / JS, KS,
                                      Wasserstein, chi-squared, missing, out of range),
                                      serving latency, performance from actuals, target
                                      drift, alerts; MODEL a version, name or alias;
                                      --html writes it with histograms (inline SVG)
  monitor reference MODEL_VERSION     (re)build a version's reference from its split
          [--part train]              (deploying a version does it once)
  monitor policy MODEL_VERSION        show, or set with bounds, what a version's
         [--min-accuracy X] [--min-auc X] [--max-rmse X] [--min-r2 X]
         [--min-actuals N] [--rollback] [--alias A]
                                      performance from actuals must stay within; past
                                      them: an alert, and with --rollback the alias
                                      (default production) is rolled back
  actuals send FILE [--id-column C]   ground truth for logged predictions, by id
          [--actual-column C]         (CSV or JSON lines; default columns prediction_id,
                                      actual); exit 4 when some are refused
  alerts list [--model VERSION]       drift and performance alerts, newest first, with
              [--kind K] [--limit N]  what was done (rollbacks)
  rollout status ALIAS [--html FILE]  a canary rollout: step, evidence, the last check's
                                      intervals, decision and why, time to next check;
                                      --html: its confidence sequence over time
  rollout start MODEL_VERSION         start one (as deploy --canary)
          [--alias A] [--plan FILE | --steps 5,25,50,100]
  rollout pause|resume|abort ALIAS    by hand: pause (evidence still gathered), resume
          [--reason R]                (the step holds afresh), abort (route left as is)
  config get-contexts                 the contexts of the CLI's configuration file
  config current-context | use-context NAME
                                      show / switch the current one (rewrites the
                                      file, without its comments)
  audit list [--since 1h|7d|TIME]     calls that changed something, refused or not,
             [--principal P]          newest first: who (the principal the server's
             [--method M] [--limit N] auth policy proved), method, target, outcome;
             [--page-token T]         more pages: --page-token from the last one
  export --dataset NAME --out FILE    write a dataset as CSV (--out - for stdout)
         [--columns a,b] [--version N]
  run PIPELINE.yaml [--watch] [--no-cache] [--allow-outside-files]
                                      submit a pipeline run (uploads its local files,
                                      which must be beside or below it unless
                                      --allow-outside-files);
                                      --watch follows it (exit 0 only if it succeeds)
  runs list [--pipeline P] [--limit N] runs, newest first
  runs show|cancel ID                 a run and its steps / cancel it
  runs resume ID [--watch]            re-run a failed run from its failed steps
  lineage ID [--depth N]              what an artifact or execution came from and fed
  schedules create PIPELINE.yaml      register the pipeline's triggers (cron, events)
  schedules list | delete ID          registered triggers and their next fire times
  aliases list | history NAME         model registry aliases and their history
  aliases set NAME MODEL_VERSION      point an alias of the version's model at it
                                      (staging or credit@staging); on a model that
                                      is served, the alias serves it too
  status                              health of the server (exit 0: serving) and of
                                      each service it hosts
  help                                this text

models are named: credit@staging (an alias of model credit), credit (its
production alias, or its only one), credit:3 (a version); a bare alias
(production) names the one model that has it.

global flags:
  --server HOST:PORT   the mlpipe server (default $MLPIPE_SERVER or localhost:7000)
  --output json|yaml   machine-readable output: every field (zeros, false and
                       empty lists too), counts as numbers, times as RFC 3339
  --ingest-server H:P  the ingestion service when it runs apart from --server
                       (default $MLPIPE_INGEST_SERVER, else --server)
  --tls-ca FILE        speak TLS, verifying the servers with this CA (PEM;
                       default $MLPIPE_TLS_CA)
  --tls-cert FILE      with --tls-key: a client certificate, for servers that
  --tls-key FILE       require mutual TLS ($MLPIPE_TLS_CERT, $MLPIPE_TLS_KEY)
  --token-file FILE    a bearer token for servers with an auth policy
                       (default $MLPIPE_TOKEN; --token TOKEN also works, but
                       shows it to `ps`)
  --context NAME       a context of ~/.config/mlpipe/config.yaml ($MLPIPE_CONFIG):
                       server and credentials by name, as kubeconfig (default
                       $MLPIPE_CONTEXT, else its current-context); flags and
                       environment variables win over it

exit codes (every command):
  0  ok
  1  any other error
  2  bad usage: unknown command or flag, missing or malformed argument
  3  not found: a named dataset, model, run, alias, ... does not exist
  4  rejected input: invalid or conflicting (files named FILE:LINE)
  5  server unreachable, or it did not answer in time
  6  negative verdict: the watched run or training job failed or was
     cancelled, the evaluation did not bless the model
  7  not allowed: no or unknown credentials, or no role allows it
  8  busy: over a server limit; retry with backoff
)";

// Examples per command, for `mlpipe help COMMAND` / `mlpipe COMMAND --help`.
constexpr std::pair<const char*, const char*> kExamples[] = {
    {"ingest",
     "  mlpipe ingest --dataset credit --file credit.csv\n"
     "  mlpipe ingest --dataset credit --file fix.csv --mode replace\n"
     "  mlpipe ingest --dataset events --file events.jsonl --format jsonl "
     "--idempotency-key 2026-12-01\n"},
    {"push",
     "  mlpipe push --dataset events --file events.jsonl --flush\n"
     "  tail -F app.log | mlpipe push --dataset events --producer app-1\n"},
    {"datasets",
     "  mlpipe datasets list\n"
     "  mlpipe datasets show credit --output json\n"
     "  mlpipe datasets revert credit --to-version 2\n"},
    {"stats", "  mlpipe stats credit --columns Income,Age\n"},
    {"validate",
     "  mlpipe validate credit --schema schema.yaml --fail-on error\n"},
    {"features",
     "  mlpipe features show fs-3f2a...\n"
     "  mlpipe features get fs-3f2a... --keys 17,42\n"
     "  mlpipe features get fs-3f2a... --keys 17 --as-of 2024-03-01 "
     "--transformed\n"},
    {"splits",
     "  mlpipe splits create --dataset credit --strategy stratified "
     "--label Status --ratios train=0.8,test=0.2\n"
     "  mlpipe splits show sp-1a2b...\n"},
    {"train",
     "  mlpipe train --split sp-1a2b... --config candidates.yaml --model "
     "credit\n"},
    {"models",
     "  mlpipe models list --name credit\n"
     "  mlpipe models show credit:3 --output yaml\n"
     "  mlpipe models trials --job train-op-... --order-by score\n"},
    {"eval",
     "  mlpipe eval run --models credit:4 --alias production "
     "--slices \"Home;Age:4\"\n"
     "  mlpipe eval list --model credit\n"
     "  mlpipe eval report evaluate-op-... --html report.html\n"},
    {"deploy",
     "  mlpipe deploy credit:4                  # all traffic of "
     "credit@production\n"
     "  mlpipe deploy credit:5 --canary 10\n"
     "  mlpipe deploy credit:5 --canary 5,25,50,100\n"
     "  mlpipe deploy credit:5 --canary rollout.yaml\n"
     "  mlpipe deploy credit:5 --shadow\n"},
    {"predict",
     "  mlpipe predict --json '{\"Income\": 120, \"Age\": 30}'\n"
     "  mlpipe predict --model credit@staging --file rows.jsonl --output json\n"
     "  mlpipe predict --keys 17,42\n"},
    {"batch-score",
     "  mlpipe batch-score --model production --dataset credit --out "
     "scores.csv\n"},
    {"monitor",
     "  mlpipe monitor report credit --html drift.html\n"
     "  mlpipe monitor policy credit:4 --min-auc 0.75 --rollback\n"},
    {"actuals", "  mlpipe actuals send labels.csv --actual-column Status\n"},
    {"alerts", "  mlpipe alerts list --kind drift --limit 5\n"},
    {"rollout",
     "  mlpipe rollout status credit@production\n"
     "  mlpipe rollout status production --html rollout.html\n"
     "  mlpipe rollout pause production --reason 'holiday freeze'\n"},
    {"audit", "  mlpipe audit list --since 7d --principal alice\n"},
    {"export", "  mlpipe export --dataset credit --out - | head\n"},
    {"run",
     "  mlpipe run examples/credit/pipeline.yaml --watch\n"
     "  mlpipe run pipeline.yaml --no-cache\n"},
    {"runs",
     "  mlpipe runs list --limit 5\n"
     "  mlpipe runs show run-...\n"
     "  mlpipe runs resume run-... --watch\n"},
    {"lineage", "  mlpipe lineage credit:4 --depth 3\n"},
    {"schedules", "  mlpipe schedules create nightly.yaml\n"},
    {"aliases",
     "  mlpipe aliases set staging credit:5\n  mlpipe aliases history "
     "credit@production\n"},
    {"status", "  mlpipe status --output json\n"},
    {"config", "  mlpipe config use-context prod\n"},
};

// Help for one command: its lines of kHelp (every block whose first word
// is the command), its examples, where the rest is. Empty when unknown.
std::string CommandHelp(const std::string& cmd) {
  std::string usage;
  bool in_block = false;
  // Only the "commands:" section (not the flags or the exit codes).
  absl::string_view commands = kHelp;
  commands.remove_prefix(commands.find("\ncommands:\n"));
  commands = commands.substr(0, commands.find("\n\n", 1));
  for (absl::string_view line : absl::StrSplit(commands, '\n')) {
    // A block starts at a command line ("  cmd ...") and goes on over the
    // lines indented further.
    if (line.size() > 2 && line.substr(0, 2) == "  " && line[2] != ' ') {
      absl::string_view first = line.substr(2, line.find(' ', 2) - 2);
      in_block = first == cmd;
    } else if (!absl::StartsWith(line, "   ")) {
      in_block = false;
    }
    if (in_block) absl::StrAppend(&usage, line, "\n");
  }
  if (usage.empty()) return "";
  std::string out = absl::StrCat("usage (mlpipe ", cmd, "):\n", usage);
  for (const auto& [name, text] : kExamples) {
    if (name == cmd) absl::StrAppend(&out, "\nexamples:\n", text);
  }
  absl::StrAppend(&out,
                  "\nglobal flags (--server, --output json|yaml, --context, "
                  "...) and exit codes: mlpipe help\n");
  return out;
}

}  // namespace

namespace mlpipe::cli {
namespace {

// Where a setting comes from: its flag, else its environment variable,
// else the context of the configuration file (cli/client_config.h).
class Settings {
 public:
  Settings(const Args& args, const std::map<std::string, std::string>* context)
      : args_(args), context_(context) {}
  std::string Get(const char* flag, const char* var,
                  const std::string& fallback = "") const {
    if (args_.Has(flag)) return args_.Get(flag, "");
    if (const char* v = var ? std::getenv(var) : nullptr; v != nullptr && *v)
      return v;
    if (context_ != nullptr) {
      auto it = context_->find(flag);
      if (it != context_->end()) return it->second;
    }
    return fallback;
  }
  bool FromFlagOrEnv(const char* flag, const char* var) const {
    return args_.Has(flag) || (var && std::getenv(var) && *std::getenv(var));
  }

 private:
  const Args& args_;
  const std::map<std::string, std::string>* context_;
};

// The bearer token: --token-file, --token, $MLPIPE_TOKEN, then the
// context's token-file or token ("" for none).
absl::StatusOr<std::string> TokenOf(const Args& args, const Settings& s) {
  if (args.Has("token-file"))
    return ReadTokenFile(args.Get("token-file", ""), "--token-file");
  if (s.FromFlagOrEnv("token", "MLPIPE_TOKEN"))
    return s.Get("token", "MLPIPE_TOKEN");
  if (std::string file = s.Get("token-file", nullptr); !file.empty())
    return ReadTokenFile(file, "the context's token-file");
  return s.Get("token", nullptr);
}

// mlpipe config get-contexts | current-context | use-context NAME
int RunConfig(const Args& args, const ClientConfig& config) {
  const auto& pos = args.positional();
  const std::string verb = pos.size() > 1 ? pos[1] : "";
  if (verb == "get-contexts" && pos.size() == 2) {
    TablePrinter t({"CURRENT", "NAME", "SERVER", "CREDENTIALS"});
    for (const auto& [name, c] : config.contexts) {
      std::string creds = c.contains("token-file") ? "token file"
                          : c.contains("token")    ? "token"
                          : c.contains("tls-cert") ? "client certificate"
                                                   : "none";
      t.Row({name == config.current ? "*" : "", name,
             c.contains("server") ? c.at("server") : "", creds});
    }
    t.Print();
    return kOk;
  }
  if (verb == "current-context" && pos.size() == 2) {
    if (config.current.empty()) {
      std::cerr << "error: no current-context in " << config.path << "\n";
      return kNotFound;
    }
    std::cout << config.current << "\n";
    return kOk;
  }
  if (verb == "use-context" && pos.size() == 3) {
    if (auto s = UseContext(config.path, pos[2]); !s.ok()) {
      std::cerr << "error: " << s.message() << "\n";
      return absl::IsNotFound(s) ? kNotFound : kError;
    }
    std::cout << "current context: " << pos[2] << "\n";
    return kOk;
  }
  return UsageError(
      "usage: mlpipe config get-contexts | current-context | use-context NAME");
}

// Runs command `cmd`; its exit code.
int Dispatch(const std::string& cmd, const Args& args, Context& ctx) {
  if (cmd == "ingest") return RunIngest(args, ctx);
  if (cmd == "datasets") return RunDatasets(args, ctx);
  if (cmd == "push") return RunPush(args, ctx);
  if (cmd == "export") return RunExport(args, ctx);
  if (cmd == "status") return RunStatus(args, ctx);
  if (cmd == "run") return RunPipeline(args, ctx);
  if (cmd == "stats") return RunStats(args, ctx);
  if (cmd == "validate") return RunValidate(args, ctx);
  if (cmd == "features") return RunFeatures(args, ctx);
  if (cmd == "skew") return RunSkew(args, ctx);
  if (cmd == "splits") return RunSplits(args, ctx);
  if (cmd == "train") return RunTrain(args, ctx);
  if (cmd == "models") return RunModels(args, ctx);
  if (cmd == "eval") return RunEval(args, ctx);
  if (cmd == "deploy") return RunDeploy(args, ctx);
  if (cmd == "undeploy") return RunUndeploy(args, ctx);
  if (cmd == "rollback") return RunRollback(args, ctx);
  if (cmd == "deployments") return RunDeployments(args, ctx);
  if (cmd == "predict") return RunPredict(args, ctx);
  if (cmd == "batch-score") return RunBatchScore(args, ctx);
  if (cmd == "runs") return RunRuns(args, ctx);
  if (cmd == "lineage") return RunLineage(args, ctx);
  if (cmd == "aliases") return RunAliases(args, ctx);
  if (cmd == "schedules") return RunSchedules(args, ctx);
  if (cmd == "monitor") return RunMonitor(args, ctx);
  if (cmd == "actuals") return RunActuals(args, ctx);
  if (cmd == "alerts") return RunAlerts(args, ctx);
  if (cmd == "rollout") return RunRollout(args, ctx);
  if (cmd == "audit") return RunAudit(args, ctx);
  return UsageError("unknown command '" + cmd + "'");
}

}  // namespace
}  // namespace mlpipe::cli

int main(int argc, char** argv) {
  using namespace mlpipe::cli;
  Args args =
      Args::Parse(argc, argv, 1,
                  {"no-header", "help", "watch", "no-cache", "require-baseline",
                   "shadow", "ignore-extra", "rollback", "force-schema-change",
                   "transformed", "allow-outside-files", "flush"});
  const auto& pos = args.positional();
  if (pos.empty() || pos[0] == "help" || args.Has("help")) {
    // mlpipe help COMMAND, mlpipe COMMAND --help: that command's.
    const std::string cmd =
        pos.empty()
            ? ""
            : (pos[0] == "help" ? (pos.size() > 1 ? pos[1] : "") : pos[0]);
    if (cmd.empty()) {
      std::cout << kHelp;
      return pos.empty() && !args.Has("help") ? kUsage : kOk;
    }
    std::string help = CommandHelp(cmd);
    if (help.empty()) return UsageError("unknown command '" + cmd + "'");
    std::cout << help;
    return kOk;
  }
  if (!args.MissingValue().empty()) {
    return UsageError(args.MissingValue() +
                      ": needs a value (write --flag=VALUE for a value that "
                      "starts with --)");
  }
  if (std::string bad = args.NotUtf8(); !bad.empty()) {
    return UsageError(bad +
                      ": not valid UTF-8 (names, keys and values are "
                      "sent as text; a file's bytes may be in any "
                      "encoding: see ingest --encoding)");
  }
  auto config = LoadClientConfig(ClientConfigPath());
  if (!config.ok()) return UsageError(std::string(config.status().message()));
  if (pos[0] == "config") return RunConfig(args, *config);
  const std::map<std::string, std::string>* context = nullptr;
  {
    const char* env = std::getenv("MLPIPE_CONTEXT");
    const std::string name =
        args.Get("context", env && *env ? env : config->current);
    if (!name.empty()) {
      auto it = config->contexts.find(name);
      if (it == config->contexts.end())
        return UsageError("no context '" + name + "' in " + config->path +
                          " (mlpipe config get-contexts)");
      context = &it->second;
      // Another server (by flag or environment) does not get the context's
      // credentials: they are for the context's server.
      const char* server_env = std::getenv("MLPIPE_SERVER");
      const std::string server =
          args.Get("server", server_env && *server_env ? server_env : "");
      auto named = context->find("server");
      if (!server.empty() &&
          (named == context->end() || named->second != server))
        context = nullptr;
    }
  }
  const Settings settings(args, context);
  Context ctx;
  ctx.server = settings.Get("server", "MLPIPE_SERVER", "localhost:7000");
  std::string output = args.Get("output", "table");
  if (output != "table" && output != "json" && output != "yaml") {
    return UsageError("--output must be table, json or yaml");
  }
  ctx.json = output != "table";
  ctx.yaml = output == "yaml";
  // TLS: the CA that signed the servers' certificates; a client certificate
  // and key when they require mutual TLS.
  const std::string tls_cert = settings.Get("tls-cert", "MLPIPE_TLS_CERT");
  if (auto s = mlpipe::rpc::SetClientTls(
          {tls_cert, settings.Get("tls-key", "MLPIPE_TLS_KEY"),
           settings.Get("tls-ca", "MLPIPE_TLS_CA")});
      !s.ok()) {
    return UsageError(std::string(s.message()));
  }
  if (auto token = TokenOf(args, settings); !token.ok()) {
    return UsageError(std::string(token.status().message()));
  } else {
    mlpipe::rpc::SetClientToken(*token);
  }
  if (mlpipe::rpc::ClientToken().empty() && tls_cert.empty()) {
    const char* user = std::getenv("USER");
    ctx.author = mlpipe::StrCat("user:", user != nullptr ? user : "unknown");
  }
  ctx.channel = mlpipe::rpc::NewChannel(ctx.server);
  std::string ingest = settings.Get("ingest-server", "MLPIPE_INGEST_SERVER");
  ctx.ingest_channel =
      ingest.empty() ? ctx.channel : mlpipe::rpc::NewChannel(ingest);

  try {
    return Dispatch(pos[0], args, ctx);
  } catch (const FlagError& e) {
    return UsageError(e.what());
  }
}
