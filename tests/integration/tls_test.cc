// TLS between processes: mlpipe-standalone with mutual TLS on its gRPC port
// and grpc.health.v1 in plaintext on a port of its own (as Kubernetes'
// probes need); the CLI with a client certificate; a second process
// (mlpipe-prep) calling the first one's ingestion service over mutual TLS.
// Plaintext clients, and clients without a certificate the CA signed, are
// refused.
#include <fstream>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

// A CA; a certificate for localhost / 127.0.0.1 it signed (server and client
// use); a certificate another CA signed.
void MakeCertificates(const std::string& dir) {
  const std::string script = R"(set -e
cd ")" + dir + R"("
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > ext.cnf
for ca in ca other; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days 2 -subj /CN=$ca 2>/dev/null
done
openssl req -newkey rsa:2048 -nodes -keyout tls.key -out tls.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 2 -extfile ext.cnf 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.cnf
openssl req -newkey rsa:2048 -nodes -keyout app.key -out app.csr -subj /CN=scoring-app 2>/dev/null
openssl x509 -req -in app.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out app.crt -days 2 -extfile client.cnf 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj /CN=localhost 2>/dev/null
openssl x509 -req -in stranger.csr -CA other.crt -CAkey other.key -CAcreateserial -out stranger.crt -days 2 -extfile ext.cnf 2>/dev/null
)";
  auto r = RunCommand({"/bin/sh", "-c", script});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(TlsTest, MutualTlsBetweenProcessesAndPlaintextHealth) {
  TempDir dir;
  MakeCertificates(dir.path());
  const std::string cert = dir.path() + "/tls.crt",
                    key = dir.path() + "/tls.key", ca = dir.path() + "/ca.crt";
  const std::vector<std::string> tls = {"--tls_cert=" + cert,
                                        "--tls_key=" + key, "--tls_ca=" + ca};
  std::vector<std::string> flags = tls;
  flags.push_back("--health_port=0");
  Standalone server(dir.path() + "/data", flags);
  int grpc_port = 0, metrics_port = 0, health_port = 0;
  std::ifstream(dir.path() + "/data.ports") >> grpc_port >> metrics_port >>
      health_port;
  ASSERT_GT(health_port, 0);
  const std::string address = "localhost:" + std::to_string(grpc_port);
  auto cli = [&](std::vector<std::string> args,
                 std::vector<std::string> creds) {
    std::vector<std::string> argv = {Binary("mlpipe"), "--server", address};
    argv.insert(argv.end(), creds.begin(), creds.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 60);
  };
  const std::vector<std::string> mine = {"--tls-ca", ca,          "--tls-cert",
                                         cert,       "--tls-key", key};
  // With the client certificate: served.
  auto ok = cli({"status"}, mine);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto ingested = cli({"ingest", "--dataset", "credit", "--file",
                       SourcePath("examples/credit/credit.csv")},
                      mine);
  ASSERT_EQ(ingested.exit_code, 0) << ingested.out << ingested.err;
  // Plaintext, no client certificate, or one another CA signed: refused.
  EXPECT_EQ(cli({"status"}, {}).exit_code, 5);
  EXPECT_EQ(cli({"status"}, {"--tls-ca", ca}).exit_code, 5);
  EXPECT_EQ(cli({"status"},
                {"--tls-ca", ca, "--tls-cert", dir.path() + "/stranger.crt",
                 "--tls-key", dir.path() + "/stranger.key"})
                .exit_code,
            5);
  // A certificate without its key is a usage error.
  EXPECT_EQ(cli({"status"}, {"--tls-ca", ca, "--tls-cert", cert}).exit_code, 2);
  // The probe port: plaintext grpc.health.v1, the same statuses.
  {
    auto ch = grpc::CreateChannel("127.0.0.1:" + std::to_string(health_port),
                                  grpc::InsecureChannelCredentials());
    auto stub = grpc::health::v1::Health::NewStub(ch);
    for (const char* service : {"", "mlpipe.v1.Scoring"}) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
      grpc::health::v1::HealthCheckRequest req;
      req.set_service(service);
      grpc::health::v1::HealthCheckResponse resp;
      auto s = stub->Check(&ctx, req, &resp);
      ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
      EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING)
          << service;
    }
  }
  // Service to service: a prep process reads the dataset from the
  // standalone's ingestion service over mutual TLS, and serves TLS itself.
  std::vector<std::string> prep_flags = tls;
  prep_flags.push_back("--ingest_address=" + address);
  Standalone prep(dir.path() + "/prep", prep_flags, "mlpipe-prep");
  auto stats =
      RunCommand({Binary("mlpipe"), "--server",
                  "localhost:" + std::to_string(prep.grpc_port()), "--tls-ca",
                  ca, "--tls-cert", cert, "--tls-key", key, "stats", "credit"},
                 120);
  EXPECT_EQ(stats.exit_code, 0) << stats.out << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("Income"));
  // Without TLS material, prep cannot reach ingest.
  Standalone plain(dir.path() + "/plain", {"--ingest_address=" + address},
                   "mlpipe-prep");
  auto refused = RunCommand(
      {Binary("mlpipe"), "--server",
       "localhost:" + std::to_string(plain.grpc_port()), "stats", "credit"},
      120);
  EXPECT_NE(refused.exit_code, 0);
}

// Under mutual TLS with a policy, a certificate is a principal: one issued
// for a scoring application may predict, and nothing more; one the policy
// does not name is refused, though the CA signed it.
TEST(TlsTest, ACertificateMappedToScorerPredictsAndCannotDeleteOrDeploy) {
  TempDir dir;
  MakeCertificates(dir.path());
  const std::string ca = dir.path() + "/ca.crt";
  WriteFile(dir.path() + "/policy.yaml",
            "principals:\n"
            "  scoring-app:\n"
            "    certificate: {common_name: scoring-app}\n"
            "    roles: [scorer]\n"
            "  server:\n"
            "    certificate: {subject: CN=localhost, san: localhost}\n"
            "    roles: [admin]\n");
  Standalone server(dir.path() + "/data",
                    {"--tls_cert=" + dir.path() + "/tls.crt",
                     "--tls_key=" + dir.path() + "/tls.key", "--tls_ca=" + ca,
                     "--auth_policy=" + dir.path() + "/policy.yaml"});
  auto cli = [&](const std::string& who, std::vector<std::string> args) {
    std::vector<std::string> argv = {Binary("mlpipe"),
                                     "--server",
                                     server.address(),
                                     "--tls-ca",
                                     ca,
                                     "--tls-cert",
                                     dir.path() + "/" + who + ".crt",
                                     "--tls-key",
                                     dir.path() + "/" + who + ".key"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 60);
  };
  auto ingested = cli("tls", {"ingest", "--dataset", "credit", "--file",
                              SourcePath("examples/credit/credit.csv")});
  ASSERT_EQ(ingested.exit_code, 0) << ingested.out << ingested.err;
  // Predict passes the policy (and fails for want of a deployed model).
  auto predicted = cli(
      "app", {"predict", "--model", "credit", "--json", R"({"Income": 1})"});
  EXPECT_EQ(predicted.exit_code, 3) << predicted.out << predicted.err;
  auto deleted = cli("app", {"datasets", "delete", "credit"});
  EXPECT_EQ(deleted.exit_code, 7) << deleted.out << deleted.err;
  EXPECT_THAT(deleted.err, HasSubstr("principal 'scoring-app' may not call "
                                     "mlpipe.v1.Ingestion/DeleteDataset"));
  auto deployed = cli("app", {"deploy", "credit:1"});
  EXPECT_EQ(deployed.exit_code, 7) << deployed.out << deployed.err;
  auto aliased = cli("app", {"aliases", "set", "production", "credit:1"});
  EXPECT_EQ(aliased.exit_code, 7) << aliased.out << aliased.err;
  EXPECT_THAT(aliased.err, HasSubstr("principal 'scoring-app' may not call "
                                     "mlpipe.v1.Orchestrator/SetAlias"));
  auto listed = cli("tls", {"datasets"});
  EXPECT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("credit"));
  // Signed by the CA, not named by the policy: unauthenticated.
  WriteFile(dir.path() + "/policy-none.yaml", "principals: {}\n");
  Standalone strict(dir.path() + "/strict",
                    {"--tls_cert=" + dir.path() + "/tls.crt",
                     "--tls_key=" + dir.path() + "/tls.key", "--tls_ca=" + ca,
                     "--auth_policy=" + dir.path() + "/policy-none.yaml"});
  auto refused =
      RunCommand({Binary("mlpipe"), "--server", strict.address(), "--tls-ca",
                  ca, "--tls-cert", dir.path() + "/app.crt", "--tls-key",
                  dir.path() + "/app.key", "datasets"},
                 60);
  EXPECT_EQ(refused.exit_code, 7) << refused.out << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("CN=scoring-app) is not in the policy"));
}

}  // namespace
}  // namespace mlpipe::testing
