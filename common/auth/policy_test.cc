#include "common/auth/policy.h"

#include <thread>

#include "common/auth/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::auth {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<const Policy> MustParse(const std::string& yaml) {
  auto p = Policy::Parse(yaml, "policy.yaml");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : nullptr;
}

Credentials Bearer(const std::string& token) {
  static std::vector<std::string>* keep = new std::vector<std::string>;
  keep->push_back("Bearer " + token);
  Credentials c;
  c.authorization = keep->back();
  return c;
}

TEST(PolicyTest, EveryPlatformMethodHasABuiltinRoleBesidesAdmin) {
  const auto methods = testing::CompiledMethods({"mlpipe.v1", "inference"});
  ASSERT_GT(methods.size(), 70u);  // The test sees the compiled services.
  auto policy = MustParse("");
  for (const auto& m : methods) {
    bool named = false;
    for (const auto& r : BuiltinRoles()) {
      if (r.name != "admin") named |= policy->RoleAllows(r.name, m);
    }
    const auto& admin_only = AdminOnlyMethods();
    bool only_admin =
        std::find(admin_only.begin(), admin_only.end(), m) != admin_only.end();
    EXPECT_NE(named, only_admin)
        << m << ": a new RPC needs a place in the built-in roles "
        << "(common/auth/policy.cc), or in AdminOnlyMethods";
    EXPECT_TRUE(policy->RoleAllows("admin", m)) << m;
  }
}

TEST(PolicyTest, TokensMapToPrincipalsAndRolesToMethods) {
  auto policy = MustParse(
      "principals:\n"
      "  app:\n"
      "    token_sha256: " +
      TokenSha256("app-secret") +
      "\n"
      "    roles: [scorer]\n"
      "  ops:\n"
      "    token_sha256: [\"sha256:" +
      TokenSha256("old") + "\", " + TokenSha256("new") +
      "]\n"
      "    roles: [operator, reader]\n");
  auto d =
      policy->Authorize("/mlpipe.v1.Scoring/Predict", Bearer("app-secret"));
  EXPECT_EQ(d.outcome, Outcome::kAllowed);
  EXPECT_EQ(d.principal, "app");
  d = policy->Authorize("mlpipe.v1.Ingestion/DeleteDataset",
                        Bearer("app-secret"));
  EXPECT_EQ(d.outcome, Outcome::kPermissionDenied);
  EXPECT_EQ(d.reason, "not_allowed");
  EXPECT_THAT(d.message, HasSubstr("'app'"));
  EXPECT_THAT(d.message, HasSubstr("mlpipe.v1.Ingestion/DeleteDataset"));
  EXPECT_THAT(d.message, ::testing::Not(HasSubstr("app-secret")));
  // Both rotated tokens work; roles add up.
  for (const char* t : {"old", "new"}) {
    EXPECT_EQ(
        policy->Authorize("mlpipe.v1.Scoring/Rollback", Bearer(t)).outcome,
        Outcome::kAllowed);
    EXPECT_EQ(
        policy->Authorize("mlpipe.v1.Orchestrator/ListRuns", Bearer(t)).outcome,
        Outcome::kAllowed);
  }
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Orchestrator/SubmitRun", Bearer("new"))
                .outcome,
            Outcome::kPermissionDenied);
}

// A thread remembers the last token it looked up: what it answers must be
// what the hash lookup would, whatever the order of tokens and policies.
TEST(PolicyTest, RepeatedTokensAndPoliciesResolveAsTheyWould) {
  auto principal = [](const char* name, const char* token, const char* role) {
    return std::string("  ") + name +
           ":\n    token_sha256: " + TokenSha256(token) + "\n    roles: [" +
           role + "]\n";
  };
  auto a = MustParse("principals:\n" + principal("app", "t1", "scorer") +
                     principal("ops", "t2", "operator"));
  // The same token names someone else here.
  auto b = MustParse("principals:\n" + principal("eve", "t1", "operator"));
  const std::string rollback = "mlpipe.v1.Scoring/Rollback";
  struct Case {
    const Policy* policy;
    const char* token;
    const char* principal;
    Outcome outcome;
  } cases[] = {
      {a.get(), "t1", "app", Outcome::kPermissionDenied},
      {a.get(), "t1", "app", Outcome::kPermissionDenied},
      {a.get(), "t2", "ops", Outcome::kAllowed},
      {b.get(), "t2", "", Outcome::kUnauthenticated},
      {b.get(), "t1", "eve", Outcome::kAllowed},
      {a.get(), "t1", "app", Outcome::kPermissionDenied},
      {a.get(), "t3", "", Outcome::kUnauthenticated},
      {a.get(), "t3", "", Outcome::kUnauthenticated},
      {a.get(), "t", "", Outcome::kUnauthenticated},  // A prefix of t1.
      {a.get(), "t10", "", Outcome::kUnauthenticated},
      {a.get(), "t2", "ops", Outcome::kAllowed},
  };
  for (const Case& c : cases) {
    Decision d = c.policy->Authorize(rollback, Bearer(c.token));
    EXPECT_EQ(d.outcome, c.outcome) << c.token;
    EXPECT_EQ(d.principal, c.principal) << c.token;
  }
  // Another thread starts with nothing remembered.
  std::thread([&] {
    EXPECT_EQ(b->Authorize(rollback, Bearer("t1")).principal, "eve");
    EXPECT_EQ(a->Authorize(rollback, Bearer("t1")).principal, "app");
  }).join();
}

TEST(PolicyTest, MissingWrongOrMalformedCredentialsAreUnauthenticated) {
  auto policy =
      MustParse("principals:\n  a:\n    token_sha256: " + TokenSha256("t") +
                "\n    roles: [admin]\n");
  auto d = policy->Authorize("mlpipe.v1.Scoring/Predict", {});
  EXPECT_EQ(d.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(d.reason, "no_credentials");
  d = policy->Authorize("mlpipe.v1.Scoring/Predict", Bearer("T"));
  EXPECT_EQ(d.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(d.reason, "unknown_token");
  EXPECT_THAT(d.message, ::testing::Not(HasSubstr("Bearer")));
  Credentials basic;
  basic.authorization = "Basic dTpw";
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Scoring/Predict", basic).reason,
            "malformed_credentials");
  Credentials lower;
  lower.authorization = "bearer t";
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Scoring/Predict", lower).outcome,
            Outcome::kAllowed);
  // Health checks and reflection need none.
  EXPECT_EQ(policy->Authorize("/grpc.health.v1.Health/Check", {}).outcome,
            Outcome::kAllowed);
  EXPECT_EQ(policy
                ->Authorize("grpc.reflection.v1alpha.ServerReflection/"
                            "ServerReflectionInfo",
                            {})
                .outcome,
            Outcome::kAllowed);
  // admin's '*' is any method.
  EXPECT_EQ(policy->Authorize("other.Service/Do", Bearer("t")).outcome,
            Outcome::kAllowed);
}

TEST(PolicyTest, CertificatesMapByCommonNameSubjectOrSan) {
  auto policy = MustParse(
      "principals:\n"
      "  scoring-app:\n"
      "    certificate: {common_name: scoring-app}\n"
      "    roles: [scorer]\n"
      "  score-svc:\n"
      "    certificate: {san: spiffe://mlpipe/score, common_name: score}\n"
      "    roles: [service-score]\n");
  Credentials app;
  app.common_names = {"scoring-app"};
  app.subjects = {"CN=scoring-app"};
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Scoring/Predict", app).principal,
            "scoring-app");
  auto d = policy->Authorize("mlpipe.v1.Ingestion/DeleteDataset", app);
  EXPECT_EQ(d.outcome, Outcome::kPermissionDenied);
  d = policy->Authorize("mlpipe.v1.Orchestrator/SetAlias", app);
  EXPECT_EQ(d.outcome, Outcome::kPermissionDenied);
  // Every given field must match.
  Credentials svc;
  svc.common_names = {"score"};
  svc.sans = {"localhost", "spiffe://mlpipe/score"};
  d = policy->Authorize("mlpipe.v1.Monitor/LogPredictions", svc);
  EXPECT_EQ(d.outcome, Outcome::kAllowed);
  EXPECT_EQ(d.principal, "score-svc");
  svc.sans = {"localhost"};
  d = policy->Authorize("mlpipe.v1.Monitor/LogPredictions", svc);
  EXPECT_EQ(d.outcome, Outcome::kUnauthenticated);
  EXPECT_EQ(d.reason, "unknown_certificate");
  EXPECT_THAT(d.message, HasSubstr("CN=score"));
  // Matched by two principals: no one's.
  auto two = MustParse(
      "principals:\n"
      "  a:\n    certificate: {common_name: app}\n    roles: [admin]\n"
      "  b:\n    certificate: {san: app.local}\n    roles: [reader]\n");
  Credentials both;
  both.common_names = {"app"};
  both.sans = {"app.local"};
  EXPECT_EQ(two->Authorize("mlpipe.v1.Scoring/Predict", both).outcome,
            Outcome::kUnauthenticated);
}

TEST(PolicyTest, CustomRolesWithWildcards) {
  auto policy = MustParse(
      "roles:\n"
      "  feature-reader:\n"
      "    methods: [\"mlpipe.v1.Prep/Get*\", mlpipe.v1.Scoring/Predict]\n"
      "principals:\n"
      "  f:\n"
      "    token_sha256: " +
      TokenSha256("f") +
      "\n"
      "    roles: feature-reader\n");
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Prep/GetOnlineFeatures", Bearer("f"))
                .outcome,
            Outcome::kAllowed);
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Prep/Prepare", Bearer("f")).outcome,
            Outcome::kPermissionDenied);
  EXPECT_EQ(
      policy->Authorize("mlpipe.v1.Scoring/PredictX", Bearer("f")).outcome,
      Outcome::kPermissionDenied);
}

TEST(PolicyTest, AttributionIsThePrincipalUnlessAServiceRelaysOne) {
  EXPECT_EQ(*Attribute("", false, "user:bob"), "user:bob");  // No policy.
  EXPECT_EQ(*Attribute("alice", false, ""), "user:alice");
  EXPECT_EQ(*Attribute("alice", false, "user:alice"), "user:alice");
  for (const char* forged : {"user:bob", "run:r1/deploy", "monitor:alert-2"}) {
    auto a = Attribute("alice", false, forged);
    EXPECT_TRUE(absl::IsPermissionDenied(a.status())) << forged;
  }
  EXPECT_EQ(*Attribute("orch", true, "run:r1/deploy"), "run:r1/deploy");
  EXPECT_EQ(*Attribute("orch", true, ""), "service:orch");
}

TEST(PolicyTest, MethodMatchesGlobs) {
  EXPECT_TRUE(MethodMatches("*", "a.B/C"));
  EXPECT_TRUE(MethodMatches("*/Get*", "mlpipe.v1.Prep/GetTransform"));
  EXPECT_FALSE(MethodMatches("*/Get*", "mlpipe.v1.Prep/ForgetIt"));
  EXPECT_TRUE(MethodMatches("*/*History", "mlpipe.v1.Scoring/RouteHistory"));
  EXPECT_FALSE(MethodMatches("*/*History", "mlpipe.v1.Scoring/HistoryX"));
  EXPECT_TRUE(MethodMatches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(MethodMatches("a*b*c", "aXbYc d"));
  EXPECT_TRUE(MethodMatches("a.S/M", "a.S/M"));
  EXPECT_FALSE(MethodMatches("a.S/M", "a.S/Mx"));
}

TEST(PolicyTest, BadPoliciesNameFileLineFieldAndReason) {
  struct Case {
    std::string yaml, want;
  };
  const std::string h = TokenSha256("x");
  const std::vector<Case> cases = {
      {"principal:\n  a: {}\n", "policy.yaml:1: principal: unknown field"},
      {"principals:\n  a:\n    token_sha256: plain-token\n    roles: [admin]\n",
       "policy.yaml:3: principals.a.token_sha256: expected 64 hex digits"},
      {"principals:\n  a:\n    token_sha256: " + h +
           "\n    roles: [admin]\n    role: [x]\n",
       "policy.yaml:5: principals.a.role: unknown field"},
      {"principals:\n  a:\n    token_sha256: " + h + "\n    roles: [admni]\n",
       "policy.yaml:4: principals.a.roles: no role 'admni'"},
      {"principals:\n  a:\n    roles: [admin]\n",
       "policy.yaml:2: principals.a: needs token_sha256 or certificate"},
      {"principals:\n  a:\n    token_sha256: " + h + "\n",
       "principals.a.roles: needs at least one role"},
      {"principals:\n  a:\n    token_sha256: " + h +
           "\n    roles: [admin]\n  b:\n    token_sha256: " + h +
           "\n    roles: [reader]\n",
       "policy.yaml:6: principals.b.token_sha256: this token is already"},
      {"principals:\n  a:\n    certificate: {cn: x}\n    roles: [admin]\n",
       "policy.yaml:3: principals.a.certificate.cn: unknown field"},
      {"roles:\n  admin:\n    methods: ['*']\n",
       "policy.yaml:2: roles.admin: already defined"},
      {"roles:\n  r:\n    method: [x]\n", "policy.yaml:3: roles.r.method"},
      {"principals: [\n", "policy.yaml:2: invalid YAML"},
      {"principals:\n  a:\n    token_sha256: " + h +
           "\n    roles: [admin]\n  a:\n    token_sha256: " + TokenSha256("y") +
           "\n    roles: [reader]\n",
       "principals.a: defined twice"},
  };
  for (const auto& c : cases) {
    auto p = Policy::Parse(c.yaml, "policy.yaml");
    ASSERT_FALSE(p.ok()) << c.yaml;
    EXPECT_THAT(p.status().message(), HasSubstr(c.want)) << c.yaml;
  }
}

TEST(PolicyTest, AnEmptyPolicyDeniesEveryoneButHealth) {
  auto policy = MustParse("");
  EXPECT_EQ(policy->principal_count(), 0u);
  EXPECT_EQ(policy->Authorize("mlpipe.v1.Scoring/Predict", Bearer("x")).outcome,
            Outcome::kUnauthenticated);
  EXPECT_EQ(policy->Authorize("grpc.health.v1.Health/Watch", {}).outcome,
            Outcome::kAllowed);
}

}  // namespace
}  // namespace mlpipe::auth
