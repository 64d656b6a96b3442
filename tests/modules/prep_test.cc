// Prep reading real data from the ingestion service over gRPC (in-process
// channel), both over RocksDB on disk.
#include <sstream>

#include "common/rpc/server.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/ingest/ingest_module.h"
#include "services/prep/prep_module.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {
namespace {

class PrepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ingest_ = std::move(*ingest::IngestModule::Open(dir_.path(), {}));
    auto prep = PrepModule::Open(dir_.path());
    ASSERT_TRUE(prep.ok()) << prep.status();
    prep_ = std::move(*prep);
    std::vector<grpc::Service*> services = ingest_->services();
    for (auto* s : prep_->services()) services.push_back(s);
    rpc::ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    server_ = std::move(*rpc::Server::Start(o, services));
    ASSERT_TRUE(prep_->Start(server_->InProcessChannel()).ok());
    stub_ = v1::Prep::NewStub(server_->InProcessChannel());
  }

  void Ingest(const std::string& csv) {
    v1::IngestHeader h;
    h.set_dataset("credit");
    auto upload = ingest_->ingestor()->BeginUpload(h);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->AddChunk(csv).ok());
    ASSERT_TRUE((*upload)->Finish().ok());
  }

  grpc::Status Stats(int64_t version, std::vector<std::string> columns,
                     v1::DatasetStatistics* out) {
    grpc::ClientContext ctx;
    v1::ComputeStatisticsRequest req;
    req.set_dataset("credit");
    req.set_version(version);
    for (auto& c : columns) req.add_columns(c);
    return stub_->ComputeStatistics(&ctx, req, out);
  }

  int StatisticsEvents() {
    uint64_t next;
    return static_cast<int>(prep_->event_log()
                                ->Read(1, {"statistics.computed"}, 100, &next)
                                ->size());
  }

  testing::TempDir dir_;
  std::unique_ptr<ingest::IngestModule> ingest_;
  std::unique_ptr<PrepModule> prep_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Prep::Stub> stub_;
};

TEST_F(PrepTest, StatisticsOfADatasetVersionAreComputedOnceAndStored) {
  const std::string csv = testing::ReadFile(
      std::string(MLPIPE_SOURCE_DIR_DEFAULT) + "/examples/credit/credit.csv");
  Ingest(csv);
  v1::DatasetStatistics s;
  ASSERT_TRUE(Stats(0, {}, &s).ok());
  EXPECT_EQ(s.dataset(), "credit");
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.row_count(), 4454);
  ASSERT_EQ(s.columns_size(), 14);
  EXPECT_EQ(s.columns(0).name(), "Status");
  EXPECT_EQ(s.columns(0).strings().top_values(0).value(), "good");
  EXPECT_EQ(StatisticsEvents(), 1);

  v1::DatasetStatistics again;
  ASSERT_TRUE(Stats(1, {"Income"}, &again).ok());
  ASSERT_EQ(again.columns_size(), 1);
  EXPECT_EQ(again.columns(0).missing(),
            381);                    // Empty Income cells in credit.csv.
  EXPECT_EQ(StatisticsEvents(), 1);  // Served from the store.

  // A new version has its own statistics; version 1 keeps its own.
  Ingest(csv);
  v1::DatasetStatistics v2;
  ASSERT_TRUE(Stats(0, {}, &v2).ok());
  EXPECT_EQ(v2.version(), 2);
  EXPECT_EQ(v2.row_count(), 2 * 4454);
  EXPECT_EQ(StatisticsEvents(), 2);
  ASSERT_TRUE(Stats(1, {}, &again).ok());
  EXPECT_EQ(again.row_count(), 4454);
}

TEST_F(PrepTest, ErrorsNameWhatIsWrong) {
  v1::DatasetStatistics s;
  EXPECT_EQ(Stats(0, {}, &s).error_code(), grpc::StatusCode::NOT_FOUND);
  Ingest("a,b\n1,x\n");
  auto st = Stats(7, {}, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(),
              ::testing::HasSubstr("has no version 7 (latest is 1)"));
  st = Stats(0, {"zzz"}, &s);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("has no column 'zzz'"));
}

TEST_F(PrepTest, ValidateInfersTheSchemaFromThePreviousVersion) {
  const std::string csv = testing::ReadFile(
      std::string(MLPIPE_SOURCE_DIR_DEFAULT) + "/examples/credit/credit.csv");
  Ingest(csv);
  auto validate = [&](std::vector<std::string> fail_on,
                      v1::ValidationReport* out) {
    grpc::ClientContext ctx;
    v1::ValidateRequest req;
    req.set_dataset("credit");
    req.set_label("Status");
    for (auto& k : fail_on) req.add_fail_on(k);
    return stub_->Validate(&ctx, req, out);
  };
  v1::ValidationReport r1;
  ASSERT_TRUE(validate({"out_of_range"}, &r1).ok());
  EXPECT_TRUE(r1.passed());
  EXPECT_EQ(r1.anomalies_size(), 0);
  // Version 2: every Income doubled (the 10th column).
  std::string doubled;
  std::istringstream in(csv);
  std::string line;
  for (int n = 0; std::getline(in, line); ++n) {
    if (n > 0) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      std::string cell;
      while (std::getline(ls, cell, ',')) f.push_back(cell);
      if (line.back() == ',') f.push_back("");
      if (!f[9].empty()) f[9] = std::to_string(2 * std::stoi(f[9]));
      line.clear();
      for (size_t i = 0; i < f.size(); ++i) line += (i ? "," : "") + f[i];
    }
    doubled += line + "\n";
  }
  Ingest(doubled);
  v1::ValidationReport r2;
  ASSERT_TRUE(validate({"out_of_range"}, &r2).ok());
  EXPECT_FALSE(r2.passed());
  EXPECT_EQ(r2.version(), 2);
  bool found = false;
  for (const auto& a : r2.anomalies()) {
    if (a.column() == "Income" && a.kind() == v1::Anomaly::OUT_OF_RANGE) {
      found = true;
      EXPECT_EQ(a.severity(), v1::Anomaly::ERROR);
      EXPECT_THAT(a.description(),
                  ::testing::HasSubstr("is above the allowed 959"));
    }
  }
  EXPECT_TRUE(found);
  uint64_t next;
  EXPECT_EQ(prep_->event_log()->Read(1, {"data.anomaly"}, 10, &next)->size(),
            1u);
  v1::ValidationReport bad;
  EXPECT_EQ(validate({"nonsense"}, &bad).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace mlpipe::prep
