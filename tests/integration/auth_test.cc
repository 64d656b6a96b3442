// Authorization between processes: mlpipe-standalone with a policy giving
// one principal per built-in role. Every method of every service compiled
// in (the generated descriptors, so new RPCs are covered as they come) is
// called by each principal and without credentials; each call must be
// allowed or refused exactly as the policy says. Then the CLI as a user:
// exit 7 and a message naming method and principal, never the token.
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/auth/policy.h"
#include "common/auth/testing.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Principal {
  std::string name, token;  // token empty: no credentials.
};

// Calls `method` with an empty message; whether the policy refused it
// (UNAUTHENTICATED, or PERMISSION_DENIED with the policy's message: a
// handler may refuse for reasons of its own).
bool Refused(grpc::Channel* channel, const std::string& method,
             const std::string& token, std::string* why) {
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  // Past authorization, watches wait for what never comes: the deadline
  // ends them (refusals come at once, before any handler).
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  grpc::Slice empty(std::string(""));
  grpc::ByteBuffer req(&empty, 1), resp;
  grpc::Status s =
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel,
          grpc::internal::RpcMethod(method.c_str(),
                                    grpc::internal::RpcMethod::NORMAL_RPC),
          &ctx, req, &resp);
  *why = std::to_string(s.error_code()) + " " + s.error_message();
  return s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         (s.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
          s.error_message().find("may not call") != std::string::npos);
}

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string yaml = "principals:\n";
    for (const auto& role : auth::BuiltinRoles()) {
      Principal p{"as-" + role.name, "token-of-" + role.name + "-x9"};
      yaml += "  " + p.name +
              ":\n    token_sha256: " + auth::TokenSha256(p.token) +
              "\n    roles: [" + role.name + "]\n";
      principals_.push_back(p);
    }
    policy_file_ = dir_.path() + "/policy.yaml";
    WriteFile(policy_file_, yaml);
    auto policy = auth::Policy::Parse(yaml, policy_file_);
    ASSERT_TRUE(policy.ok()) << policy.status();
    policy_ = *policy;
    server_ = std::make_unique<Standalone>(
        dir_.path() + "/data",
        std::vector<std::string>{"--auth_policy=" + policy_file_});
  }

  std::string TokenOf(const std::string& role) const {
    for (const auto& p : principals_) {
      if (p.name == "as-" + role) return p.token;
    }
    return "";
  }

  TempDir dir_;
  std::string policy_file_;
  std::vector<Principal> principals_;
  std::shared_ptr<const auth::Policy> policy_;
  std::unique_ptr<Standalone> server_;
};

TEST_F(AuthTest, EveryMethodForEveryRoleAndNoneIsAsThePolicySays) {
  std::vector<std::string> methods;
  for (const auto& m : auth::testing::CompiledMethods(
           {"mlpipe.v1", "inference", "grpc.health.v1"}))
    methods.push_back("/" + m);
  ASSERT_GT(methods.size(), 70u);
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  std::vector<Principal> callers = principals_;
  callers.push_back({"(no credentials)", ""});
  struct Call {
    std::string method;
    const Principal* who;
  };
  std::vector<Call> calls;
  for (const auto& m : methods) {
    for (const auto& p : callers) calls.push_back({m, &p});
  }
  // Many at once: the watches each wait out their deadline.
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::string> wrong;
  size_t allowed = 0, refused = 0;
  auto work = [&] {
    for (size_t i; (i = next++) < calls.size();) {
      const Call& c = calls[i];
      std::string why;
      const bool was_refused =
          Refused(channel.get(), c.method, c.who->token, &why);
      auth::Credentials creds;
      const std::string header = "Bearer " + c.who->token;
      if (!c.who->token.empty()) creds.authorization = header;
      const bool want_refused = policy_->Authorize(c.method, creds).outcome !=
                                auth::Outcome::kAllowed;
      std::lock_guard lock(mu);
      (was_refused ? refused : allowed)++;
      if (was_refused != want_refused) {
        wrong.push_back(c.who->name + " " + c.method + ": " +
                        (want_refused ? "should be refused" : "should pass") +
                        " (" + why + ")");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  EXPECT_THAT(wrong, ::testing::IsEmpty());
  // Both happen, in numbers: the matrix is not all one way.
  EXPECT_GT(allowed, methods.size() * 3);
  EXPECT_GT(refused, methods.size() * 8);
}

// What the attacker tried, and what each role exists for.
TEST_F(AuthTest, RolesDoWhatTheyAreFor) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  struct Case {
    std::string role, method;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {"scorer", "/mlpipe.v1.Scoring/Predict", true},
      {"scorer", "/inference.GRPCInferenceService/ModelInfer", true},
      {"scorer", "/mlpipe.v1.Prep/GetOnlineFeatures", true},
      {"scorer", "/mlpipe.v1.Ingestion/DeleteDataset", false},
      {"scorer", "/mlpipe.v1.Orchestrator/SetAlias", false},
      {"scorer", "/mlpipe.v1.Monitor/LogPredictions", false},
      {"scorer", "/mlpipe.v1.Monitor/RecordActuals", false},
      {"scorer", "/mlpipe.v1.Monitor/SetPolicy", false},
      {"reader", "/mlpipe.v1.Monitor/LogPredictions", false},
      {"reader", "/mlpipe.v1.Orchestrator/ListRuns", true},
      {"reader", "/mlpipe.v1.Scoring/RouteHistory", true},
      {"reader", "/mlpipe.v1.Ingestion/Ingest", false},
      {"reader", "/mlpipe.v1.Operations/CancelOperation", false},
      {"data-writer", "/mlpipe.v1.Ingestion/IngestFile", true},
      {"data-writer", "/mlpipe.v1.Scoring/Deploy", false},
      {"pipeline-runner", "/mlpipe.v1.Orchestrator/SubmitRun", true},
      {"pipeline-runner", "/mlpipe.v1.Orchestrator/CreateSchedule", true},
      {"pipeline-runner", "/mlpipe.v1.Scoring/Undeploy", false},
      {"operator", "/mlpipe.v1.Scoring/Rollback", true},
      {"operator", "/mlpipe.v1.Monitor/SetPolicy", true},
      {"operator", "/mlpipe.v1.Ingestion/DeleteDataset", false},
      {"admin", "/mlpipe.v1.Ingestion/DeleteDataset", true},
      {"service-score", "/mlpipe.v1.Monitor/LogPredictions", true},
      {"service-score", "/mlpipe.v1.Scoring/Deploy", false},
      {"service-monitor", "/mlpipe.v1.Scoring/Rollback", true},
      {"service-monitor", "/mlpipe.v1.Orchestrator/SetAlias", false},
      {"service-train", "/mlpipe.v1.Training/TrainTrial", true},
      {"service-train", "/mlpipe.v1.Training/TrainShard", true},
      {"operator", "/mlpipe.v1.Training/TrainShard", false},
      {"", "/mlpipe.v1.Scoring/Predict", false},
      {"", "/grpc.health.v1.Health/Check", true},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_EQ(!Refused(channel.get(), c.method, TokenOf(c.role), &why),
              c.allowed)
        << c.role << " " << c.method << ": " << why;
  }
}

// The audit fields are who called, as the policy proved: a client cannot
// record a change as made by a pipeline run, the monitor or someone else;
// a service identity relays the attribution it checked at its own door.
TEST_F(AuthTest, AuditFieldsNameThePrincipalAndCannotBeForged) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto registry = v1::Orchestrator::NewStub(channel);
  auto set_alias = [&](const std::string& role, const std::string& set_by,
                       v1::AliasRecord* out) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + TokenOf(role));
    v1::SetAliasRequest req;
    req.set_alias("credit@staging");
    req.mutable_route()->set_alias("credit@staging");
    req.set_set_by(set_by);
    return registry->SetAlias(&ctx, req, out);
  };
  v1::AliasRecord rec;
  grpc::Status s = set_alias("operator", "", &rec);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rec.set_by(), "user:as-operator");
  for (const char* forged :
       {"run:r000/deploy", "monitor:alert-1", "user:someone-else"}) {
    s = set_alias("operator", forged, &rec);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << forged;
    EXPECT_THAT(s.error_message(), HasSubstr("may not record")) << forged;
  }
  s = set_alias("service-orchestrator", "run:r7/deploy", &rec);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(rec.set_by(), "run:r7/deploy");
  EXPECT_EQ(rec.route().updated_by(), "run:r7/deploy");
  // The route itself names its author and revision: the server's, not the
  // request's (scoring replicas adopt and show the route as recorded).
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + TokenOf("operator"));
    v1::SetAliasRequest req;
    req.set_alias("credit@staging");
    req.mutable_route()->set_updated_by("monitor:alert-1");
    *req.mutable_route()->mutable_updated_at() =
        google::protobuf::util::TimeUtil::SecondsToTimestamp(86400);
    s = registry->SetAlias(&ctx, req, &rec);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(rec.route().updated_by(), "user:as-operator");
    EXPECT_EQ(rec.route().updated_at().seconds(), rec.set_at().seconds());
    EXPECT_EQ(rec.route().revision(), 3);
    grpc::ClientContext again;
    again.AddMetadata("authorization", "Bearer " + TokenOf("operator"));
    req.mutable_route()->set_revision(1000);
    s = registry->SetAlias(&again, req, &rec);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("route.revision: 1000"));
  }
  // The route history keeps the true authors.
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + TokenOf("reader"));
  v1::AliasHistoryRequest req;
  req.set_alias("credit@staging");
  v1::AliasHistoryResponse history;
  s = registry->AliasHistory(&ctx, req, &history);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<std::string> authors;
  for (const auto& r : history.records()) authors.push_back(r.set_by());
  EXPECT_THAT(authors,
              ::testing::UnorderedElementsAre(
                  "user:as-operator", "run:r7/deploy", "user:as-operator"));
  // Rolling back as the monitor: refused to a person.
  auto scoring = v1::Scoring::NewStub(channel);
  grpc::ClientContext rb;
  rb.AddMetadata("authorization", "Bearer " + TokenOf("operator"));
  v1::RollbackRequest rollback;
  rollback.set_alias("credit@staging");
  rollback.set_set_by("monitor:alert-1");
  v1::Route route;
  s = scoring->Rollback(&rb, rollback, &route);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << s.error_message();
}

TEST_F(AuthTest, TheCliSaysWhoMayNotDoWhatAndExitsSeven) {
  const std::string scorer = dir_.path() + "/scorer.token";
  WriteFile(scorer, TokenOf("scorer") + "\n");
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {Binary("mlpipe"), "--server",
                                     server_->address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 60);
  };
  auto none = cli({"datasets"});
  EXPECT_EQ(none.exit_code, 7) << none.out << none.err;
  EXPECT_THAT(none.err, HasSubstr("credentials required"));
  auto denied = cli({"--token-file", scorer, "datasets", "delete", "credit"});
  EXPECT_EQ(denied.exit_code, 7) << denied.out << denied.err;
  EXPECT_THAT(denied.err, HasSubstr("principal 'as-scorer' may not call "
                                    "mlpipe.v1.Ingestion/DeleteDataset"));
  EXPECT_THAT(denied.err, Not(HasSubstr(TokenOf("scorer"))));
  auto wrong = cli({"--token", "guess", "datasets"});
  EXPECT_EQ(wrong.exit_code, 7);
  EXPECT_THAT(wrong.err, HasSubstr("not in the policy"));
  // The admin can; the denials were counted.
  auto ok = cli({"--token", TokenOf("admin"), "ingest", "--dataset", "credit",
                 "--file", SourcePath("examples/credit/credit.csv")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  const std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_auth_denied_total{method=\"mlpipe.v1.Ingestion/"
                        "DeleteDataset\",reason=\"not_allowed\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("reason=\"no_credentials\""));
  EXPECT_THAT(metrics, HasSubstr("reason=\"unknown_token\""));
}

// Every call that changes something is in the audit trail with the proven
// principal, what it was about and how it ended, refused ones too; reads
// are not; the trail survives a restart.
TEST_F(AuthTest, TheAuditTrailRecordsWhoChangedWhat) {
  auto cli = [&](const std::string& role, std::vector<std::string> args) {
    std::vector<std::string> argv = {Binary("mlpipe"), "--server",
                                     server_->address(), "--token",
                                     TokenOf(role)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 60);
  };
  auto up = cli("data-writer", {"ingest", "--dataset", "credit", "--file",
                                SourcePath("examples/credit/credit.csv")});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(cli("scorer", {"datasets", "delete", "credit"}).exit_code, 7);
  EXPECT_EQ(cli("reader", {"datasets"}).exit_code, 0);
  EXPECT_EQ(cli("admin", {"datasets", "delete", "credit"}).exit_code, 0);
  auto list = [&](std::vector<std::string> filter) {
    std::vector<std::string> args = {"audit", "list", "--output", "json"};
    args.insert(args.end(), filter.begin(), filter.end());
    return cli("reader", args);
  };
  auto all = list({});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  // Newest first: the admin's delete, the scorer's refused one, the upload.
  const size_t del = all.out.find("\"principal\": \"as-admin\"");
  const size_t refused = all.out.find("\"principal\": \"as-scorer\"");
  const size_t ingest = all.out.find("\"principal\": \"as-data-writer\"");
  ASSERT_NE(del, std::string::npos) << all.out;
  ASSERT_NE(refused, std::string::npos) << all.out;
  ASSERT_NE(ingest, std::string::npos) << all.out;
  EXPECT_LT(del, refused);
  EXPECT_LT(refused, ingest);
  EXPECT_THAT(all.out,
              HasSubstr("\"method\": \"mlpipe.v1.Ingestion/DeleteDataset\""));
  EXPECT_THAT(all.out, HasSubstr("\"outcome\": \"PERMISSION_DENIED\""));
  EXPECT_THAT(all.out, HasSubstr("\"target\": \"name=credit"));
  EXPECT_THAT(all.out, Not(HasSubstr("ListDatasets")));
  EXPECT_THAT(all.out, Not(HasSubstr("as-reader")));
  // Filters; and after a restart the trail is still there.
  ASSERT_EQ(server_->Stop(), 0);
  server_ = std::make_unique<Standalone>(
      dir_.path() + "/data",
      std::vector<std::string>{"--auth_policy=" + policy_file_});
  auto mine = list({"--principal", "as-scorer", "--since", "1h"});
  ASSERT_EQ(mine.exit_code, 0) << mine.err;
  EXPECT_THAT(mine.out, HasSubstr("as-scorer"));
  EXPECT_THAT(mine.out, Not(HasSubstr("as-admin")));
  auto table = cli("reader", {"audit", "list", "--method", "/Ingest"});
  EXPECT_THAT(table.out, HasSubstr("PRINCIPAL"));
  EXPECT_THAT(table.out, HasSubstr("as-data-writer"));
  EXPECT_THAT(table.out, Not(HasSubstr("DeleteDataset")));
  // A page at a time: the CLI says how to read on, and the next page holds
  // the record after.
  auto first = cli("reader", {"audit", "list", "--limit", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, HasSubstr("as-admin"));
  const size_t at = first.err.find("--page-token ");
  ASSERT_NE(at, std::string::npos) << first.err;
  std::string token = first.err.substr(at + 13);
  token = token.substr(0, token.find('\n'));
  auto second =
      cli("reader", {"audit", "list", "--limit", "1", "--page-token", token});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("as-scorer"));
}

// kubeconfig-like contexts: the server and the token by name; flags and
// environment variables win over the file; unknown keys are errors.
TEST_F(AuthTest, TheCliTakesServerAndTokenFromAContext) {
  const std::string config = dir_.path() + "/cli/config.yaml";
  std::filesystem::create_directories(dir_.path() + "/cli");
  WriteFile(dir_.path() + "/cli/reader.token", TokenOf("reader") + "\n");
  WriteFile(config,
            "current-context: nowhere\ncontexts:\n"
            "  nowhere:\n    server: 127.0.0.1:1\n"
            "  here:\n    server: " +
                server_->address() + "\n    token-file: reader.token\n");
  ASSERT_EQ(setenv("MLPIPE_CONFIG", config.c_str(), 1), 0);
  unsetenv("MLPIPE_SERVER");
  unsetenv("MLPIPE_TOKEN");
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), Binary("mlpipe"));
    return RunCommand(args, 60);
  };
  EXPECT_EQ(cli({"datasets"}).exit_code, 5);  // The current context's server.
  auto here = cli({"--context", "here", "datasets"});
  EXPECT_EQ(here.exit_code, 0) << here.err;
  // The context's token is a reader's: it may not upload.
  auto up = cli({"--context", "here", "ingest", "--dataset", "c", "--file",
                 SourcePath("examples/credit/credit.csv")});
  EXPECT_EQ(up.exit_code, 7) << up.err;
  EXPECT_THAT(up.err, HasSubstr("'as-reader'"));
  // A flag wins over the context.
  up = cli({"--context", "here", "--token", TokenOf("data-writer"), "ingest",
            "--dataset", "c", "--file",
            SourcePath("examples/credit/credit.csv")});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  // $MLPIPE_TOKEN wins over the context's token file too.
  ASSERT_EQ(setenv("MLPIPE_TOKEN", TokenOf("data-writer").c_str(), 1), 0);
  up = cli({"--context", "here", "ingest", "--dataset", "c2", "--file",
            SourcePath("examples/credit/credit.csv")});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  ASSERT_EQ(setenv("MLPIPE_TOKEN", "not-a-token", 1), 0);
  EXPECT_EQ(cli({"--context", "here", "datasets"}).exit_code, 7);
  unsetenv("MLPIPE_TOKEN");
  auto use = cli({"config", "use-context", "here"});
  EXPECT_EQ(use.exit_code, 0) << use.err;
  EXPECT_EQ(cli({"datasets"}).exit_code, 0);
  auto contexts = cli({"config", "get-contexts"});
  EXPECT_THAT(contexts.out, ::testing::ContainsRegex("\\*  *here"));
  EXPECT_EQ(cli({"--context", "elsewhere", "datasets"}).exit_code, 2);
  WriteFile(config, "contexts:\n  a:\n    sever: x\n");
  auto typo = cli({"datasets"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err,
              HasSubstr("config.yaml:3: contexts.a.sever: unknown key"));
  unsetenv("MLPIPE_CONFIG");
}

// What the review found: two authorization headers (the check and the
// handler could see different ones), made-up method names (each a new
// metric series), a pipeline runner having the orchestrator deploy for it.
TEST_F(AuthTest, AmbiguousCredentialsMadeUpMethodsAndDelegatedPowers) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto registry = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext two;
  two.AddMetadata("authorization", "Bearer junk");
  two.AddMetadata("authorization", "Bearer " + TokenOf("operator"));
  v1::SetAliasRequest req;
  req.set_alias("credit@staging");
  req.mutable_route()->set_alias("credit@staging");
  req.set_set_by("run:r000/deploy");
  v1::AliasRecord rec;
  grpc::Status s = registry->SetAlias(&two, req, &rec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("more than one authorization"));

  std::string why;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    grpc::Slice empty(std::string(""));
    grpc::ByteBuffer in(&empty, 1), out;
    const std::string m = "/x.Y/GetMadeUp" + std::to_string(i);
    s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel.get(),
        grpc::internal::RpcMethod(m.c_str(),
                                  grpc::internal::RpcMethod::NORMAL_RPC),
        &ctx, in, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED) << m;
  }
  const std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, Not(HasSubstr("MadeUp")));
  EXPECT_THAT(metrics, HasSubstr("reason=\"unknown_method\""));

  auto run = RunCommand({Binary("mlpipe"), "--server", server_->address(),
                         "--token", TokenOf("pipeline-runner"), "run",
                         SourcePath("examples/credit/pipeline.yaml")},
                        60);
  EXPECT_EQ(run.exit_code, 7) << run.out << run.err;
  EXPECT_THAT(run.err, HasSubstr("steps.deploy: principal 'as-pipeline-runner' "
                                 "may not call mlpipe.v1.Scoring/Deploy"));
}

// The local addresses listening on TCP `port` ("0100007F" is 127.0.0.1,
// "00000000" any IPv4 address, 32 zeros any IPv6 one; an IPv4 address
// listened on by an IPv6 socket as the IPv4 one), from /proc/net.
std::vector<std::string> ListeningAddresses(int port) {
  std::vector<std::string> out;
  char hex_port[8];
  std::snprintf(hex_port, sizeof hex_port, "%04X", port);
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(ReadFile(table));
    std::string line;
    std::getline(in, line);  // The header.
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      const size_t colon = local.find(':');
      if (state == "0A" && colon != std::string::npos &&
          local.substr(colon + 1) == hex_port) {
        std::string address = local.substr(0, colon);
        constexpr std::string_view kMapped = "0000000000000000FFFF0000";
        if (address.size() == 32 && address.starts_with(kMapped))
          address = address.substr(kMapped.size());
        out.push_back(address);
      }
    }
  }
  return out;
}

// The status of one server-reflection request to `address`: UNIMPLEMENTED
// when the server does not serve reflection.
grpc::StatusCode ReflectionStatus(const std::string& address) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::ByteBuffer request, response;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  grpc::Status status;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  stub.UnaryCall(&ctx,
                 "/grpc.reflection.v1alpha.ServerReflection/"
                 "ServerReflectionInfo",
                 grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
                   std::lock_guard lock(mu);
                   status = s;
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return status.error_code();
}

TEST(AuthFlagsTest, TheDefaultBindIsLoopbackAndOpenServingIsSaidOutLoud) {
  TempDir dir;
  // No --bind: loopback only.
  const std::string ports = dir.path() + "/ports";
  int port = 0;
  {
    Process p({Binary("mlpipe-standalone"), "--data_dir=" + dir.path() + "/a",
               "--grpc_port=0", "--metrics_port=-1", "--port_file=" + ports},
              dir.path() + "/a.log");
    for (int i = 0; i < 3000 && port == 0; ++i) {
      std::ifstream(ports) >> port;
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_NE(port, 0) << ReadFile(dir.path() + "/a.log");
    EXPECT_THAT(ListeningAddresses(port), ::testing::ElementsAre("0100007F"));
    EXPECT_NE(ReflectionStatus("127.0.0.1:" + std::to_string(port)),
              grpc::StatusCode::UNIMPLEMENTED);
    p.Signal(SIGTERM);
    EXPECT_EQ(p.Wait(), 0);
  }
  // Every address, without a policy: only when asked, with a warning; and
  // --reflection=false serves no reflection.
  Standalone open(dir.path() + "/b", {"--bind=0.0.0.0", "--insecure_no_auth",
                                      "--reflection=false"});
  EXPECT_THAT(
      ListeningAddresses(open.grpc_port()),
      ::testing::Contains(::testing::AnyOf("00000000", std::string(32, '0'))));
  EXPECT_EQ(ReflectionStatus(open.address()), grpc::StatusCode::UNIMPLEMENTED);
  auto r = RunCommand({Binary("mlpipe"), "--server", open.address(), "datasets",
                       "--output", "json"},
                      60);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  open.Stop();
  EXPECT_THAT(ReadFile(dir.path() + "/b.log"),
              HasSubstr("serving without authentication"));
}

TEST(AuthFlagsTest, ANonLoopbackBindWithoutAPolicyRefusesToStart) {
  TempDir dir;
  auto r = RunCommand(
      {Binary("mlpipe-standalone"), "--data_dir", dir.path() + "/data",
       "--bind=0.0.0.0", "--grpc_port=0", "--metrics_port=-1"},
      30);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--auth_policy"));
  WriteFile(dir.path() + "/bad.yaml",
            "principals:\n  a:\n    roles: [admni]\n");
  r = RunCommand(
      {Binary("mlpipe-standalone"), "--data_dir", dir.path() + "/data",
       "--auth_policy=" + dir.path() + "/bad.yaml", "--grpc_port=0",
       "--metrics_port=-1"},
      30);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err,
              HasSubstr("bad.yaml:3: principals.a.roles: no role 'admni'"));
}

}  // namespace
}  // namespace mlpipe::testing
