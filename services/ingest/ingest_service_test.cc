// The gRPC adapter through an in-process channel, over a RocksDB store.
#include "services/ingest/ingest_service.h"

#include <thread>

#include "common/rpc/server.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "services/ingest/ingest_module.h"

namespace mlpipe::ingest {
namespace {

class IngestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = IngestModule::Open(dir_.path(), {});
    ASSERT_TRUE(m.ok()) << m.status();
    module_ = std::move(*m);
    rpc::ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    auto server = rpc::Server::Start(o, module_->services());
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    stub_ = v1::Ingestion::NewStub(server_->InProcessChannel());
  }

  grpc::Status Upload(const std::vector<v1::IngestRequest>& msgs,
                      v1::IngestResponse* resp) {
    grpc::ClientContext ctx;
    auto writer = stub_->Ingest(&ctx, resp);
    for (const auto& m : msgs) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  static v1::IngestRequest Header(const std::string& dataset) {
    v1::IngestRequest r;
    r.mutable_header()->set_dataset(dataset);
    return r;
  }
  static v1::IngestRequest Chunk(const std::string& bytes) {
    v1::IngestRequest r;
    r.set_chunk(bytes);
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<IngestModule> module_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Ingestion::Stub> stub_;
};

TEST_F(IngestServiceTest, StreamedChunksBecomeABatchAndStreamBack) {
  v1::IngestResponse resp;
  auto s = Upload({Header("d"), Chunk("x,y\n1,"), Chunk("a\n2,b\n")}, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.batch().row_count(), 2);

  grpc::ClientContext ctx;
  v1::ReadBatchesRequest req;
  req.set_dataset("d");
  auto reader = stub_->ReadBatches(&ctx, req);
  v1::Frame f;
  int64_t rows = 0;
  while (reader->Read(&f)) rows += f.num_rows();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(rows, 2);

  grpc::ClientContext ctx2;
  v1::GetDatasetRequest greq;
  greq.set_name("d");
  v1::GetDatasetResponse gresp;
  ASSERT_TRUE(stub_->GetDataset(&ctx2, greq, &gresp).ok());
  EXPECT_EQ(gresp.batches_size(), 1);
  EXPECT_EQ(gresp.dataset().schema().fields(1).type(), v1::CATEGORICAL);
}

TEST_F(IngestServiceTest, ShutdownDrainsAnUploadInFlightAndRefusesNewCalls) {
  // Over TCP, as clients connect in production.
  auto stub = v1::Ingestion::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::IngestResponse resp;
  auto writer = stub->Ingest(&ctx, &resp);
  ASSERT_TRUE(writer->Write(Header("drained")));
  ASSERT_TRUE(writer->Write(Chunk("x\n1\n")));
  // Write() returns once the message is sent; wait until the server has the
  // call (a call not yet started when shutdown begins is refused, not drained).
  for (int i = 0; i < 500 && module_->ingestor()->TEST_UploadsInProgress() == 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(module_->ingestor()->TEST_UploadsInProgress(), 1u);
  std::thread shutdown([&] { server_->Shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The call that was running when shutdown began still completes.
  ASSERT_TRUE(writer->Write(Chunk("2\n")));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  shutdown.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.batch().row_count(), 2);
  EXPECT_EQ(module_->ingestor()->GetDataset("drained")->row_count(), 2);
  // New calls are refused.
  grpc::ClientContext late;
  late.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::ListDatasetsResponse list;
  EXPECT_FALSE(stub->ListDatasets(&late, {}, &list).ok());
}

TEST_F(IngestServiceTest, ErrorsMapToStatusCodes) {
  v1::IngestResponse resp;
  auto s = Upload({Chunk("x\n1\n")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("header"));

  s = Upload({Header("d"), Chunk("x,y\n1\n")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("line 2"));

  grpc::ClientContext ctx;
  v1::GetBatchRequest req;
  req.set_id("nope");
  v1::Batch b;
  EXPECT_EQ(stub_->GetBatch(&ctx, req, &b).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext ctx2;
  v1::ReadBatchesRequest rreq;
  rreq.set_dataset("absent");
  auto reader = stub_->ReadBatches(&ctx2, rreq);
  v1::Frame f;
  EXPECT_FALSE(reader->Read(&f));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace mlpipe::ingest
