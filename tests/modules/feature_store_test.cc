// The feature store end to end inside one process: ingest and prep modules
// over RocksDB on disk, served with the Events and Operations services on a
// real gRPC server, called through in-process channels.
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "common/events/events_service.h"
#include "common/features/test_data.h"
#include "common/features/transform.h"
#include "common/ops/operation_client.h"
#include "common/ops/operations_service.h"
#include "common/redis/online_redis.h"
#include "common/rpc/server.h"
#include "common/storage/store.h"
#include "common/table/frame_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/operations_service.grpc.pb.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/ingest/ingest_module.h"
#include "services/prep/prep_module.h"

namespace mlpipe::prep {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

constexpr char kAccounts[] =
    "id,ts,balance,tier\n"
    "a,2024-01-01T00:00:00,100,gold\n"
    "b,2024-01-01T00:00:00,50,silver\n"
    "a,2024-01-03T00:00:00,300,gold\n";

constexpr char kCreditTransforms[] = R"([
  {"columns": ["Income", "Assets", "Debt"], "impute": "median", "scale": "standard"},
  {"columns": ["Home", "Job"], "impute": "mode", "one_hot": {"max_categories": 5}}])";

class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Boot(); }
  void TearDown() override { Shutdown(); }

  void Boot() {
    ingest_ = std::move(*ingest::IngestModule::Open(dir_.path(), {}));
    PrepModuleOptions options = {.preparer = {.chunk_rows = 1000}};
    options.online_store.url = redis_url_;
    options.online_store.pool.retry_after = std::chrono::milliseconds(50);
    options.mirror_sync = std::chrono::milliseconds(100);
    auto prep = PrepModule::Open(dir_.path(), options);
    ASSERT_TRUE(prep.ok()) << prep.status();
    prep_ = std::move(*prep);
    events_ = std::make_unique<events::EventsService>();
    events_->AddLog(ingest_->event_log());
    events_->AddLog(prep_->event_log());
    operations_ = std::make_unique<ops::OperationsService>();
    operations_->AddManager(prep_->operations());
    std::vector<grpc::Service*> services = ingest_->services();
    for (auto* s : prep_->services()) services.push_back(s);
    services.push_back(events_.get());
    services.push_back(operations_.get());
    rpc::ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    server_ = std::move(*rpc::Server::Start(o, services));
    ASSERT_TRUE(prep_->Start(server_->InProcessChannel()).ok());
    stub_ = v1::Prep::NewStub(server_->InProcessChannel());
  }

  void Shutdown() {
    if (prep_) prep_->Stop();
    if (server_) server_->Shutdown();
    server_.reset();
    prep_.reset();
    ingest_.reset();
  }

  void Ingest(const std::string& dataset, const std::string& csv) {
    v1::IngestHeader h;
    h.set_dataset(dataset);
    auto upload = ingest_->ingestor()->BeginUpload(h);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE((*upload)->AddChunk(csv).ok());
    auto done = (*upload)->Finish();
    ASSERT_TRUE(done.ok()) << done.status();
  }

  static google::protobuf::ListValue Transforms(const std::string& json) {
    google::protobuf::ListValue list;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &list).ok());
    return list;
  }

  // Starts Prepare and watches the operation to its end.
  absl::StatusOr<v1::FeatureSet> Prepare(const v1::PrepareRequest& req) {
    grpc::ClientContext ctx;
    v1::Operation op;
    auto s = stub_->Prepare(&ctx, req, &op);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                          s.error_message());
    auto ended = ops::WatchToEnd(server_->InProcessChannel(), op);
    if (!ended.ok()) return ended.status();
    return ops::OperationResult<v1::FeatureSet>(*ended);
  }

  std::vector<v1::Frame> Read(const v1::ReadFeaturesRequest& req,
                              grpc::Status* status = nullptr) {
    grpc::ClientContext ctx;
    auto reader = stub_->ReadFeatures(&ctx, req);
    std::vector<v1::Frame> out;
    v1::Frame f;
    while (reader->Read(&f)) out.push_back(f);
    grpc::Status s = reader->Finish();
    if (status != nullptr)
      *status = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::GetOnlineFeaturesResponse Online(const std::string& fs,
                                       std::vector<std::string> keys,
                                       std::string as_of = "",
                                       grpc::Status* status = nullptr,
                                       bool raw = false) {
    grpc::ClientContext ctx;
    v1::GetOnlineFeaturesRequest req;
    req.set_feature_set(fs);
    req.set_include_raw(raw);
    for (auto& k : keys) req.add_keys(k);
    if (!as_of.empty()) {
      EXPECT_TRUE(TimeUtil::FromString(as_of, req.add_as_of()));
    }
    v1::GetOnlineFeaturesResponse out;
    grpc::Status s = stub_->GetOnlineFeatures(&ctx, req, &out);
    if (status != nullptr)
      *status = s;
    else
      EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  // Balance scaled to [0, 1] and tier one-hot, online by id and time.
  static v1::PrepareRequest AccountsByEntity() {
    v1::PrepareRequest req;
    req.set_dataset("accounts");
    *req.mutable_transforms() = Transforms(
        R"([{"columns": ["balance"], "scale": "minmax"}, {"columns": ["tier"], "one_hot": true}])");
    req.set_entity_key("id");
    req.set_event_timestamp("ts");
    return req;
  }

  int Events(const std::string& topic) {
    uint64_t next;
    return static_cast<int>(
        prep_->event_log()->Read(1, {topic}, 1000, &next)->size());
  }

  testing::TempDir dir_;
  std::string redis_url_;  // Empty: no Redis online store.
  std::unique_ptr<ingest::IngestModule> ingest_;
  std::unique_ptr<PrepModule> prep_;
  std::unique_ptr<events::EventsService> events_;
  std::unique_ptr<ops::OperationsService> operations_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Prep::Stub> stub_;
};

TEST_F(FeatureStoreTest, PrepareStoresFeaturesEqualToTheSharedTransform) {
  Ingest("credit", testing::ReadFile(features::testdata::CreditCsvPath()));
  v1::PrepareRequest req;
  req.set_dataset("credit");
  *req.mutable_transforms() = Transforms(kCreditTransforms);
  req.set_label("Status");
  req.mutable_fit_on()->set_row_end(3000);  // Fit on the first 3000 rows.
  auto fs = Prepare(req);
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_EQ(fs->num_rows(), 4454);
  EXPECT_EQ(fs->version(), 1);
  EXPECT_EQ(fs->fitted_on(), "dataset:credit@v1 rows 0..3000");
  EXPECT_EQ(Events("features.ready"), 1);

  // The stored transform was fitted on the first 3000 rows only.
  grpc::ClientContext ctx;
  v1::GetTransformRequest treq;
  treq.set_id(fs->transform_id());
  v1::FittedTransform fitted;
  ASSERT_TRUE(stub_->GetTransform(&ctx, treq, &fitted).ok());
  table::Table credit = features::testdata::Credit();
  table::Table first;
  first.num_rows = 3000;
  for (const auto& c : credit.columns)
    first.columns.push_back(c.Slice(0, 3000));
  auto specs = features::ParseTransformSpecs(Transforms(kCreditTransforms));
  auto expected = features::FitTransform(*specs, first);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(fitted.content_hash(), expected->content_hash());

  // Every stored row equals the shared applier on the raw row, bit for bit.
  features::TransformApplier applier(fitted);
  auto want = applier.ApplyBatch(credit);
  ASSERT_TRUE(want.ok());
  v1::ReadFeaturesRequest read;
  read.set_feature_set(fs->id());
  auto frames = Read(read);
  int64_t rows = 0;
  for (auto& f : frames) {
    EXPECT_EQ(f.row_offset(), rows);
    auto t = table::TableFromFrame(std::move(f));
    ASSERT_TRUE(t.ok());
    ASSERT_EQ(t->columns.size(), fs->features_size() + 1u);  // + Status.
    for (size_t r = 0; r < t->num_rows; ++r) {
      for (int j = 0; j < fs->features_size(); ++j)
        ASSERT_EQ(t->columns[j].numbers[r], want->columns[j].numbers[rows + r]);
      ASSERT_EQ(t->columns.back().strings[r],
                credit.columns[credit.Find("Status")].strings[rows + r]);
    }
    rows += t->num_rows;
  }
  EXPECT_EQ(rows, 4454);

  // Projection and a row range across chunk boundaries (chunks of 1000).
  read.add_columns("Home=owner");
  read.add_columns("Status");
  read.set_row_begin(950);
  read.set_row_end(2100);
  read.set_max_rows_per_frame(300);
  frames = Read(read);
  rows = 950;
  int home = 0;
  for (int j = 0; j < fs->features_size(); ++j)
    if (fs->features(j) == "Home=owner") home = j;
  for (auto& f : frames) {
    EXPECT_EQ(f.row_offset(), rows);
    EXPECT_LE(f.num_rows(), 300);
    auto t = table::TableFromFrame(std::move(f));
    ASSERT_EQ(t->columns.size(), 2u);
    EXPECT_EQ(t->columns[0].name, "Home=owner");
    for (size_t r = 0; r < t->num_rows; ++r)
      ASSERT_EQ(t->columns[0].numbers[r],
                want->columns[home].numbers[rows + r]);
    rows += t->num_rows;
  }
  EXPECT_EQ(rows, 2100);

  // The same request again: the same feature set, no work repeated.
  auto again = Prepare(req);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id(), fs->id());
  EXPECT_EQ(Events("features.ready"), 1);
}

TEST_F(FeatureStoreTest, BadRequestsNameTheFieldAndStoreNothing) {
  Ingest("credit", testing::ReadFile(features::testdata::CreditCsvPath()));
  v1::PrepareRequest req;
  req.set_dataset("credit");
  *req.mutable_transforms() =
      Transforms(R"([{"columns": ["Income"], "scale": "robust"}])");
  grpc::ClientContext ctx;
  v1::Operation op;
  auto s = stub_->Prepare(&ctx, req, &op);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("transforms[0].scale"));

  *req.mutable_transforms() =
      Transforms(R"([{"columns": ["Nope"], "scale": "standard"}])");
  auto failed = Prepare(req);  // Found only when fitting: the op fails.
  EXPECT_THAT(failed.status().ToString(), HasSubstr("column 'Nope'"));
  *req.mutable_transforms() = Transforms(kCreditTransforms);
  req.mutable_fit_on()->set_row_end(99999);
  EXPECT_THAT(Prepare(req).status().ToString(),
              HasSubstr("fit_on: rows [0, 99999) are outside credit@v1"));
  EXPECT_EQ(Events("features.ready"), 0);

  grpc::Status status;
  v1::ReadFeaturesRequest read;
  read.set_feature_set("fs-nope");
  Read(read, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  req.clear_fit_on();
  auto fs = Prepare(req);
  ASSERT_TRUE(fs.ok());
  read.set_feature_set(fs->id());
  read.add_columns("Salary");
  Read(read, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("no column 'Salary'"));
  Online(fs->id(), {"1"}, "", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(FeatureStoreTest, OnlineStoreKeepsLatestByEventTimeAndSurvivesRestart) {
  Ingest("accounts", kAccounts);
  const v1::PrepareRequest req = AccountsByEntity();
  auto fs = Prepare(req);
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_EQ(fs->online_view(), "accounts/" + fs->transform_id());
  // minmax over [50, 300]: a = 1 (its latest, 300), b = 0.
  auto got = Online(fs->id(), {"a", "b", "zz"});
  ASSERT_EQ(got.vectors_size(), 3);
  EXPECT_THAT(got.features(),
              ::testing::ElementsAre("balance", "tier=gold", "tier=silver"));
  EXPECT_THAT(got.vectors(0).values(), ::testing::ElementsAre(1.0, 1.0, 0.0));
  EXPECT_THAT(got.vectors(1).values(), ::testing::ElementsAre(0.0, 0.0, 1.0));
  EXPECT_FALSE(got.vectors(2).found());
  // Point in time: a as of Jan 2 is the Jan 1 row (100 -> 0.2).
  auto past = Online(fs->id(), {"a"}, "2024-01-02T00:00:00Z");
  EXPECT_NEAR(past.vectors(0).values(0), 0.2, 1e-12);
  EXPECT_EQ(TimeUtil::ToString(past.vectors(0).event_time()),
            "2024-01-01T00:00:00Z");
  EXPECT_FALSE(
      Online(fs->id(), {"a"}, "2023-01-01T00:00:00Z").vectors(0).found());

  // New data: a late, older row for a must not win; b moves forward. The
  // ingest event refreshes the online store.
  Ingest("accounts",
         "id,ts,balance,tier\n"
         "a,2024-01-02T00:00:00,200,gold\n"
         "b,2024-01-05T00:00:00,300,gold\n");
  for (int i = 0; i < 500; ++i) {
    if (Online(fs->id(), {"b"}).vectors(0).dataset_version() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  got = Online(fs->id(), {"a", "b"});
  EXPECT_EQ(got.vectors(0).values(0), 1.0);  // Still Jan 3 (300).
  EXPECT_EQ(got.vectors(0).dataset_version(), 1);
  EXPECT_EQ(got.vectors(1).values(0), 1.0);  // b is now 300, gold.
  EXPECT_EQ(got.vectors(1).values(1), 1.0);
  EXPECT_EQ(got.vectors(1).dataset_version(), 2);
  EXPECT_NEAR(
      Online(fs->id(), {"a"}, "2024-01-02T12:00:00Z").vectors(0).values(0), 0.6,
      1e-12);  // The late row, in its place in history.

  Shutdown();  // Restart: values come back from RocksDB.
  Boot();
  got = Online(fs->id(), {"a", "b"});
  EXPECT_EQ(got.vectors(0).values(0), 1.0);
  EXPECT_EQ(got.vectors(1).dataset_version(), 2);
  EXPECT_TRUE(got.raw_columns().empty());
  EXPECT_EQ(got.vectors(0).raw().values_size(), 0);
}

// Waits (up to 10 s) until `done` holds.
template <typename F>
bool Eventually(F done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// With a Redis online store, prep copies every latest value there, where a
// scoring replica reads it with its own client; a lost or unreachable Redis
// is written whole again once it answers, and late rows do not win there
// either.
TEST_F(FeatureStoreTest, RedisOnlineStoreServesTheLatestValuesAndRecovers) {
  testing::RedisServer redis;
  Shutdown();
  redis_url_ = redis.url();
  Boot();
  Ingest("accounts", kAccounts);
  const v1::PrepareRequest req = AccountsByEntity();
  auto fs = Prepare(req);
  ASSERT_TRUE(fs.ok()) << fs.status();
  // A scoring replica's reader: its own pool, no prep in between.
  redis::OnlineRedis reader(std::make_unique<redis::Pool>(
      *redis::ParseUrl(redis.url()), redis::PoolOptions()));
  const std::vector<std::string> features = {"tier=silver", "balance"};
  auto get = [&](std::vector<std::string> keys) {
    // One entry per key whatever happens (nullopt on an error, counted).
    auto got = reader.Get(fs->id(), keys, features);
    EXPECT_TRUE(got.ok()) << got.status();
    return got.ok()
               ? *got
               : std::vector<std::optional<std::vector<double>>>(keys.size());
  };
  // Written by the time Prepare ends.
  auto got = get({"a", "b", "zz"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], (std::vector<double>{0, 1}));
  EXPECT_EQ(got[1], (std::vector<double>{1, 0}));
  EXPECT_FALSE(got[2].has_value());

  // A late, older row for a does not win in Redis either; b moves on.
  Ingest("accounts",
         "id,ts,balance,tier\n"
         "a,2024-01-02T00:00:00,200,gold\n"
         "b,2024-01-05T00:00:00,300,gold\n");
  ASSERT_TRUE(Eventually([&] {
    auto b = get({"b"})[0];
    return b.has_value() && b->at(1) == 1.0;
  }));
  EXPECT_EQ(get({"a"})[0], (std::vector<double>{0, 1}));

  // Redis restarts empty: the whole view is written again.
  redis.Restart();
  ASSERT_TRUE(Eventually([&] {
    auto r = reader.Get(fs->id(), {"a", "b"}, features);
    return r.ok() && (*r)[0].has_value() && (*r)[1].has_value();
  }));
  EXPECT_EQ(get({"b"})[0], (std::vector<double>{0, 1}));

  // Redis down while a version lands: prep's own store takes it (the
  // authority); Redis gets it once it is back.
  redis.Kill();
  Ingest("accounts",
         "id,ts,balance,tier\n"
         "c,2024-01-06T00:00:00,50,silver\n");
  ASSERT_TRUE(
      Eventually([&] { return Online(fs->id(), {"c"}).vectors(0).found(); }));
  EXPECT_EQ(reader.Get(fs->id(), {"c"}, features).status().code(),
            absl::StatusCode::kUnavailable);
  redis.Restart();
  ASSERT_TRUE(Eventually([&] {
    auto r = reader.Get(fs->id(), {"a", "b", "c"}, features);
    return r.ok() && (*r)[2].has_value() && (*r)[0].has_value();
  }));
  EXPECT_EQ(get({"c"})[0], (std::vector<double>{1, 0}));

  // Prep restarts; a second feature set on the same view (same data, same
  // transform) is found by its own id too.
  Shutdown();
  Boot();
  auto again = Prepare(req);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_NE(again->id(), fs->id());
  ASSERT_EQ(again->online_view(), fs->online_view());
  auto by_new = reader.Get(again->id(), {"c"}, features);
  ASSERT_TRUE(by_new.ok()) << by_new.status();
  EXPECT_EQ((*by_new)[0], (std::vector<double>{1, 0}));
}

std::string RawJson(const v1::OnlineFeatureVector& v) {
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(v.raw(), &out).ok());
  return out;
}

// Each value keeps the raw values of the row it came from, latest and at a
// point in time, across a restart; asked for only (they are read from disk).
TEST_F(FeatureStoreTest, OnlineValuesKeepTheirRowsRawValues) {
  Ingest("accounts",
         "id,ts,balance,tier,opened\n"
         "a,2024-01-01T00:00:00,100,gold,2020-05-01T00:00:00\n"
         "b,2024-01-01T00:00:00,,silver,\n"
         "a,2024-01-03T00:00:00,300.25,gold,2020-05-01T00:00:00\n");
  v1::PrepareRequest req;
  req.set_dataset("accounts");
  *req.mutable_transforms() = Transforms(
      R"([{"columns": ["balance"], "impute": "median", "scale": "minmax"},
          {"columns": ["tier"], "one_hot": true},
          {"columns": ["opened"], "impute": "mode", "timestamp_parts": ["year"]}])");
  req.set_entity_key("id");
  req.set_event_timestamp("ts");
  auto fs = Prepare(req);
  ASSERT_TRUE(fs.ok()) << fs.status();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "before restart" : "after restart");
    auto got = Online(fs->id(), {"a", "b", "zz"}, "", nullptr, /*raw=*/true);
    EXPECT_THAT(got.raw_columns(),
                ::testing::ElementsAre("balance", "tier", "opened"));
    ASSERT_EQ(got.vectors_size(), 3);
    EXPECT_EQ(RawJson(got.vectors(0)),
              R"([300.25,"gold","2020-05-01T00:00:00Z"])");
    EXPECT_EQ(RawJson(got.vectors(1)), R"([null,"silver",null])");
    EXPECT_FALSE(got.vectors(2).found());
    EXPECT_EQ(got.vectors(2).raw().values_size(), 0);
    // The vectors are the same with or without the raw values.
    auto plain = Online(fs->id(), {"a", "b"});
    EXPECT_THAT(plain.vectors(0).values(),
                ::testing::ElementsAreArray(got.vectors(0).values()));
    EXPECT_EQ(plain.vectors(0).raw().values_size(), 0);
    // Point in time: a's Jan 1 row, raw values and all.
    auto past =
        Online(fs->id(), {"a"}, "2024-01-02T00:00:00Z", nullptr, /*raw=*/true);
    EXPECT_EQ(RawJson(past.vectors(0)),
              R"([100,"gold","2020-05-01T00:00:00Z"])");
    EXPECT_EQ(TimeUtil::ToString(past.vectors(0).event_time()),
              "2024-01-01T00:00:00Z");
    if (round == 0) {
      Shutdown();
      Boot();
    }
  }

  // A store of before raw values were kept: the view lists no raw columns,
  // no value has them. The prep service backfills them at start.
  Shutdown();
  {
    auto store = storage::OpenRocksStore(dir_.path() + "/prep",
                                         prep::Preparer::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    storage::WriteBatch old;
    for (const char* cf : {prep::kOnline, prep::kOnlineHistory}) {
      for (auto it = (*store)->Scan(cf, ""); it->Valid(); it->Next()) {
        const std::string key(it->key());
        if (key.starts_with("v/")) {
          v1::OnlineView view;
          ASSERT_TRUE(view.ParseFromString(std::string(it->value())));
          view.clear_raw_columns();
          old.Put(cf, key, view.SerializeAsString());
        } else if (key.starts_with("l/") || cf == prep::kOnlineHistory) {
          v1::OnlineValue value;
          ASSERT_TRUE(value.ParseFromString(std::string(it->value())));
          value.clear_raw();
          old.Put(cf, key, value.SerializeAsString());
        }
      }
    }
    ASSERT_TRUE((*store)->Write(old, {.sync = true}).ok());
  }
  Boot();
  auto got = Online(fs->id(), {"a", "b"}, "", nullptr, /*raw=*/true);
  EXPECT_THAT(got.raw_columns(),
              ::testing::ElementsAre("balance", "tier", "opened"));
  EXPECT_EQ(RawJson(got.vectors(0)),
            R"([300.25,"gold","2020-05-01T00:00:00Z"])");
  EXPECT_EQ(RawJson(got.vectors(1)), R"([null,"silver",null])");
  auto past =
      Online(fs->id(), {"a"}, "2024-01-02T00:00:00Z", nullptr, /*raw=*/true);
  EXPECT_EQ(RawJson(past.vectors(0)), R"([100,"gold","2020-05-01T00:00:00Z"])");
}

TEST_F(FeatureStoreTest, CompareStatisticsFlagsSkewedColumns) {
  std::string a = "x,c\n", b = "x,c\n";
  for (int i = 0; i < 400; ++i) {
    a += std::to_string(i % 100) + "," + (i % 2 ? "u" : "v") + "\n";
    b += std::to_string(i % 100 + 60) + "," + (i % 2 ? "u" : "v") + "\n";
  }
  Ingest("train", a);
  Ingest("serve", b);
  grpc::ClientContext ctx;
  v1::CompareStatisticsRequest req;
  req.set_dataset_a("train");
  req.set_dataset_b("serve");
  v1::CompareStatisticsResponse out;
  ASSERT_TRUE(stub_->CompareStatistics(&ctx, req, &out).ok());
  ASSERT_EQ(out.columns_size(), 2);
  EXPECT_EQ(out.columns(0).column(), "x");
  EXPECT_EQ(out.columns(0).measure(), "jensen_shannon");
  EXPECT_TRUE(out.columns(0).skewed());
  EXPECT_GT(out.columns(0).distance(), 0.5);
  EXPECT_EQ(out.columns(1).measure(), "l_infinity");
  EXPECT_FALSE(out.columns(1).skewed());
  EXPECT_NEAR(out.columns(1).distance(), 0.0, 1e-12);
  EXPECT_EQ(out.skewed(), 1);
}

constexpr char kSkewReference[] = R"(
import json, sys
import numpy as np, pandas as pd
from scipy.spatial.distance import jensenshannon
def js(a, b):
    edges = np.unique(np.quantile(a, np.arange(1, 10) / 10))
    bins = lambda x: np.bincount(np.digitize(x, edges, right=True),
                                 minlength=len(edges) + 1) / len(x)
    return float(jensenshannon(bins(a), bins(b), base=2))
micros = lambda s: pd.to_datetime(s).astype("int64").to_numpy() // 1000
a, b = pd.read_csv(sys.argv[2]), pd.read_csv(sys.argv[3])
grown = pd.concat([a, pd.read_csv(sys.argv[4])])
print(json.dumps({"x": js(a.x.to_numpy(), b.x.to_numpy()),
                  "day": js(micros(a.day), micros(grown.day))}))
)";

// Two samples of one distribution are not skewed, and the distance is
// scipy's Jensen-Shannon on the same bins (a's deciles); a date column grown
// by 11 rows barely moves; the label serving data lacks is left out when
// named, or by the schema's SERVING environment.
TEST_F(FeatureStoreTest, SkewIsJensenShannonOnCommonBinsAsScipy) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(50, 10);
  auto sample = [&](int rows, int first_day, bool label) {
    std::string csv = label ? "x,day,y\n" : "x,day\n";
    for (int i = 0; i < rows; ++i) {
      absl::CivilDay day = absl::CivilDay(2024, 1, 1) + (first_day + i) / 3;
      csv +=
          absl::StrFormat("%.2f,%s", normal(rng), absl::FormatCivilTime(day));
      csv += label ? (i % 3 ? ",u\n" : ",v\n") : "\n";
    }
    return csv;
  };
  const std::string train = sample(779, 0, true);
  const std::string serve = sample(779, 0, false);
  const std::string later = sample(11, 779, true);  // After train's days.
  Ingest("train", train);
  Ingest("serve", serve);
  Ingest("train", later);  // Version 2: 790 rows.
  testing::WriteFile(dir_.path() + "/train.csv", train);
  testing::WriteFile(dir_.path() + "/serve.csv", serve);
  testing::WriteFile(dir_.path() + "/later.csv", later);
  auto want = features::testdata::PythonJson(
      kSkewReference, {dir_.path() + "/train.csv", dir_.path() + "/serve.csv",
                       dir_.path() + "/later.csv"});
  auto compare = [&](v1::CompareStatisticsRequest req) {
    grpc::ClientContext ctx;
    v1::CompareStatisticsResponse out;
    EXPECT_TRUE(stub_->CompareStatistics(&ctx, req, &out).ok());
    std::map<std::string, v1::ColumnSkew> by_column;
    for (const auto& c : out.columns()) by_column[c.column()] = c;
    return std::make_pair(out, by_column);
  };
  v1::CompareStatisticsRequest req;
  req.set_dataset_a("train");
  req.set_version_a(1);
  req.set_dataset_b("serve");
  req.add_exclude_columns("y");
  auto [out, columns] = compare(req);
  EXPECT_EQ(out.skewed(), 0);
  EXPECT_EQ(out.excluded(0), "y");
  ASSERT_TRUE(columns.contains("x"));
  EXPECT_EQ(columns["x"].measure(), "jensen_shannon");
  EXPECT_NEAR(columns["x"].distance(), want.fields().at("x").number_value(),
              1e-9);
  EXPECT_LT(columns["x"].distance(), 0.1);
  EXPECT_EQ(columns["x"].shares_a_size(), columns["x"].edges_size() + 1);
  // The label, by the schema's SERVING environment instead.
  req.clear_exclude_columns();
  req.mutable_schema()->set_label("y");
  req.set_environment("SERVING");
  EXPECT_EQ(compare(req).first.skewed(), 0);
  req.clear_environment();  // Compared: only in a, so skewed.
  EXPECT_TRUE(compare(req).second["y"].skewed());
  // A date column grown by 11 later rows.
  v1::CompareStatisticsRequest grown;
  grown.set_dataset_a("train");
  grown.set_version_a(1);
  grown.set_dataset_b("train");
  grown.set_version_b(2);
  auto day = compare(grown).second["day"];
  EXPECT_EQ(day.measure(), "jensen_shannon");
  EXPECT_NEAR(day.distance(), want.fields().at("day").number_value(), 1e-9);
  EXPECT_LT(day.distance(), 0.1);
  EXPECT_FALSE(day.skewed());
}

}  // namespace
}  // namespace mlpipe::prep
