// The split service end to end inside one process: ingest, prep and split
// modules over RocksDB on disk, on one real gRPC server (host::Host), called
// through in-process channels.
#include <map>
#include <set>

#include "common/ops/operation_client.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "mlpipe/v1/split_service.grpc.pb.h"
#include "services/host/host.h"
#include "services/ingest/ingest_module.h"
#include "services/prep/prep_module.h"
#include "services/split/split_module.h"

namespace mlpipe::split {
namespace {

using ::testing::HasSubstr;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

class SplitServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Boot(); }
  void TearDown() override { host_.reset(); }

  void Boot() {
    auto ingest = ingest::IngestModule::Open(dir_.path(), {});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = ingest->get();
    auto prep =
        prep::PrepModule::Open(dir_.path(), {.preparer = {.chunk_rows = 500}});
    ASSERT_TRUE(prep.ok()) << prep.status();
    // Small assignment chunks, so reads cross chunk boundaries.
    auto split =
        SplitModule::Open(dir_.path(), {.splitter = {.chunk_rows = 700}});
    ASSERT_TRUE(split.ok()) << split.status();
    split_log_ = (*split)->event_log();
    std::vector<std::unique_ptr<host::ServiceModule>> modules;
    modules.push_back(std::move(*ingest));
    modules.push_back(std::move(*prep));
    modules.push_back(std::move(*split));
    auto host = host::Host::Start(
        {.grpc_address = "127.0.0.1:0", .metrics_address = ""},
        std::move(modules));
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = std::move(*host);
    auto channel = host_->InProcessChannel();
    prep_ = v1::Prep::NewStub(channel);
    splits_ = v1::Splits::NewStub(channel);
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

  // Watches an operation to its end; its result or error.
  template <typename T>
  absl::StatusOr<T> Finish(const v1::Operation& op) {
    auto ended = ops::WatchToEnd(host_->InProcessChannel(), op);
    if (!ended.ok()) return ended.status();
    return ops::OperationResult<T>(*ended);
  }

  absl::StatusOr<v1::FeatureSet> Prepare(const std::string& dataset,
                                         const std::string& fit_split = "") {
    v1::PrepareRequest req;
    req.set_dataset(dataset);
    req.set_label("y");
    req.add_passthrough("customer");
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    R"([{"columns": ["x"], "scale": "standard"},
                        {"columns": ["c"], "one_hot": true}])",
                    req.mutable_transforms())
                    .ok());
    if (!fit_split.empty()) {
      req.mutable_fit_on()->set_split(fit_split);
      req.mutable_fit_on()->set_part("train");
    }
    grpc::ClientContext ctx;
    v1::Operation op;
    if (auto s = prep_->Prepare(&ctx, req, &op); !s.ok()) return FromGrpc(s);
    return Finish<v1::FeatureSet>(op);
  }

  absl::StatusOr<v1::Split> Create(const v1::SplitSpec& spec) {
    grpc::ClientContext ctx;
    v1::Operation op;
    if (auto s = splits_->CreateSplit(&ctx, spec, &op); !s.ok())
      return FromGrpc(s);
    return Finish<v1::Split>(op);
  }

  // A part's rows as a table (frames joined).
  absl::StatusOr<table::Table> Read(const v1::ReadSplitRequest& req) {
    grpc::ClientContext ctx;
    auto reader = splits_->ReadSplit(&ctx, req);
    table::Table all;
    v1::Frame f;
    while (reader->Read(&f)) {
      EXPECT_EQ(f.row_offset(), static_cast<int64_t>(all.num_rows));
      auto t = table::TableFromFrame(std::move(f));
      if (!t.ok()) return t.status();
      if (all.columns.empty()) {
        all = std::move(*t);
        continue;
      }
      for (size_t j = 0; j < all.columns.size(); ++j)
        all.columns[j].AppendRows(t->columns[j], 0, t->num_rows);
      all.num_rows += t->num_rows;
    }
    if (auto s = reader->Finish(); !s.ok()) return FromGrpc(s);
    return all;
  }

  std::vector<uint8_t> Parts(const std::string& split) {
    grpc::ClientContext ctx;
    v1::ReadAssignmentsRequest req;
    req.set_split(split);
    auto reader = splits_->ReadAssignments(&ctx, req);
    std::vector<uint8_t> parts;
    v1::SplitAssignments a;
    while (reader->Read(&a)) {
      EXPECT_EQ(a.row_offset(), static_cast<int64_t>(parts.size()));
      parts.insert(parts.end(), a.parts().begin(), a.parts().end());
    }
    EXPECT_TRUE(reader->Finish().ok());
    return parts;
  }

  // n rows: x numeric, c categorical, customer (groups of 4), y (25% yes).
  static std::string Csv(int n, int first = 0) {
    std::string csv = "x,c,customer,y\n";
    for (int i = first; i < first + n; ++i) {
      StrAppend(&csv, i * 0.5, ",", i % 3 == 0 ? "red" : "blue", ",cust", i / 4,
                ",", i % 4 == 0 ? "yes" : "no", "\n");
    }
    return csv;
  }

  testing::TempDir dir_;
  ingest::IngestModule* ingest_ = nullptr;
  events::EventLog* split_log_ = nullptr;
  std::unique_ptr<host::Host> host_;
  std::unique_ptr<v1::Prep::Stub> prep_;
  std::unique_ptr<v1::Splits::Stub> splits_;
};

v1::SplitSpec Stratified(const std::string& fs) {
  v1::SplitSpec spec;
  spec.set_feature_set(fs);
  spec.set_strategy("stratified");
  spec.set_seed(42);
  for (auto [name, ratio] :
       {std::pair{"train", 0.7}, {"eval", 0.15}, {"test", 0.15}}) {
    auto* p = spec.add_parts();
    p->set_name(name);
    p->set_ratio(ratio);
  }
  return spec;
}

TEST_F(SplitServiceTest, StratifiedSplitOfAFeatureSetStreamsItsParts) {
  Ingest("d", Csv(2000));
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok()) << fs.status();
  auto split = Create(Stratified(fs->id()));
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_EQ(split->id().rfind("sp-", 0), 0u);
  EXPECT_EQ(split->num_rows(), 2000);
  EXPECT_EQ(split->spec().label(), "y");  // The feature set's label.
  ASSERT_EQ(split->parts_size(), 3);
  EXPECT_EQ(split->parts(0).rows(), 1400);
  EXPECT_EQ(split->parts(1).rows(), 300);
  // 25% yes in every part.
  for (const auto& p : split->parts()) {
    ASSERT_EQ(p.classes_size(), 2);
    EXPECT_EQ(p.classes(1).value(), "yes");
    EXPECT_NEAR(p.classes(1).fraction(), 0.25, 1.0 / p.rows());
  }
  EXPECT_EQ(split->warnings_size(), 0) << split->DebugString();

  // GetSplit serves the stored split; split.ready was emitted.
  grpc::ClientContext get_ctx;
  v1::GetSplitRequest get;
  get.set_id(split->id());
  v1::Split got;
  ASSERT_TRUE(splits_->GetSplit(&get_ctx, get, &got).ok());
  EXPECT_EQ(got.parts(2).rows(), split->parts(2).rows());
  uint64_t next = 0;
  auto events = split_log_->Read(1, {"split.ready"}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].attributes().at("split"), split->id());

  // The train part with labels: exactly the rows assigned to train, in
  // order, values equal to the feature set's rows.
  auto parts = Parts(split->id());
  ASSERT_EQ(parts.size(), 2000u);
  v1::ReadSplitRequest read;
  read.set_split(split->id());
  read.set_part("train");
  read.set_with_labels(true);
  read.set_max_rows_per_frame(300);
  auto train = Read(read);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->num_rows, 1400u);
  int x = train->Find("x"), y = train->Find("y");
  ASSERT_GE(x, 0);
  ASSERT_GE(y, 0);
  EXPECT_LT(train->Find("customer"), 0);  // Passthrough only when asked.
  size_t i = 0;
  for (size_t r = 0; r < parts.size(); ++r) {
    if (parts[r] != 0) continue;
    // x was standardized; the label is the raw value.
    EXPECT_EQ(train->columns[y].strings[i], r % 4 == 0 ? "yes" : "no") << r;
    ++i;
  }
  // Without labels there is no label column.
  read.set_with_labels(false);
  read.set_part("test");
  auto test = Read(read);
  ASSERT_TRUE(test.ok());
  EXPECT_EQ(test->num_rows, 300u);
  EXPECT_LT(test->Find("y"), 0);
}

TEST_F(SplitServiceTest, SameSpecSameSplitOtherSeedOtherSplit) {
  Ingest("d", Csv(500));
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok());
  auto a = Create(Stratified(fs->id()));
  auto b = Create(Stratified(fs->id()));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id(), b->id());
  auto spec = Stratified(fs->id());
  spec.set_seed(7);
  auto c = Create(spec);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->id(), a->id());
  EXPECT_NE(Parts(c->id()), Parts(a->id()));
  uint64_t next = 0;
  EXPECT_EQ(split_log_->Read(1, {"split.ready"}, 10, &next)->size(), 2u);
}

TEST_F(SplitServiceTest, BadRequestsAreNamedAndStoreNothing) {
  Ingest("d", Csv(100));
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok());
  // Checked before any work starts.
  auto spec = Stratified(fs->id());
  spec.mutable_parts(0)->set_ratio(0.9);
  auto bad = Create(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  EXPECT_THAT(bad.status().ToString(), HasSubstr("parts: ratios sum to 1.2"));
  // Found while reading.
  spec = Stratified("fs-0000000000000000");
  EXPECT_TRUE(absl::IsNotFound(Create(spec).status()));
  spec = Stratified(fs->id());
  spec.set_strategy("group");
  spec.set_group_column("nope");
  auto missing = Create(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_THAT(missing.status().ToString(), HasSubstr("has no column 'nope'"));
  grpc::ClientContext ctx;
  v1::ListSplitsResponse list;
  ASSERT_TRUE(splits_->ListSplits(&ctx, {}, &list).ok());
  EXPECT_EQ(list.splits_size(), 0);

  auto ok = Create(Stratified(fs->id()));
  ASSERT_TRUE(ok.ok());
  v1::ReadSplitRequest read;
  read.set_split(ok->id());
  read.set_part("holdout");
  auto r = Read(read);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(r.status().ToString(),
              HasSubstr("no part 'holdout' (parts: train, eval, test)"));
  read.set_part("train");
  read.set_fold(2);
  EXPECT_THAT(Read(read).status().ToString(), HasSubstr("fold: split"));
  read.set_fold(0);
  read.set_split("sp-nope");
  EXPECT_TRUE(absl::IsNotFound(Read(read).status()));
}

TEST_F(SplitServiceTest, FoldsThroughReadSplit) {
  Ingest("d", Csv(1000));
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok());
  auto spec = Stratified(fs->id());
  spec.set_folds(4);
  auto split = Create(spec);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_EQ(split->parts(0).fold_rows_size(), 4);
  v1::ReadSplitRequest read;
  read.set_split(split->id());
  read.set_part("train");
  read.add_columns("x");
  size_t holdout_total = 0;
  for (int k = 1; k <= 4; ++k) {
    read.set_fold(k);
    read.set_holdout(true);
    auto holdout = Read(read);
    read.set_holdout(false);
    auto rest = Read(read);
    ASSERT_TRUE(holdout.ok() && rest.ok());
    // A fold and the other folds: disjoint, together the train part.
    EXPECT_EQ(holdout->num_rows + rest->num_rows, 700u);
    EXPECT_EQ(static_cast<int64_t>(holdout->num_rows),
              split->parts(0).fold_rows(k - 1));
    std::set<double> a(holdout->columns[0].numbers.begin(),
                       holdout->columns[0].numbers.end());
    for (double v : rest->columns[0].numbers) EXPECT_FALSE(a.contains(v));
    holdout_total += holdout->num_rows;
  }
  EXPECT_EQ(holdout_total, 700u);
}

TEST_F(SplitServiceTest, HashSplitOfADatasetIsStableAcrossVersions) {
  Ingest("d", Csv(1000));
  v1::SplitSpec spec;
  spec.set_dataset("d");
  spec.set_strategy("hash");
  spec.set_column("customer");
  spec.set_label("y");
  auto v1split = Create(spec);
  ASSERT_TRUE(v1split.ok()) << v1split.status();
  EXPECT_EQ(v1split->version(), 1);
  Ingest("d", Csv(600, 1000));  // Version 2 appends rows (and customers).
  auto v2split = Create(spec);
  ASSERT_TRUE(v2split.ok());
  EXPECT_EQ(v2split->version(), 2);
  EXPECT_EQ(v2split->num_rows(), 1600);
  auto before = Parts(v1split->id()), after = Parts(v2split->id());
  ASSERT_EQ(after.size(), 1600u);
  for (size_t r = 0; r < before.size(); ++r)
    ASSERT_EQ(before[r], after[r]) << "row " << r << " moved";
  // Customers never straddle parts.
  for (size_t r = 0; r + 1 < after.size(); ++r)
    if (r / 4 == (r + 1) / 4) {
      EXPECT_EQ(after[r], after[r + 1]);
    }
}

TEST_F(SplitServiceTest, ASplitOfAVersionWithRepeatedRowsWarns) {
  Ingest("d", Csv(400));
  Ingest("d", Csv(400));  // The same file appended again.
  v1::SplitSpec spec = Stratified("");
  spec.clear_feature_set();
  spec.set_dataset("d");
  spec.set_label("y");
  auto split = Create(spec);
  ASSERT_TRUE(split.ok()) << split.status();
  ASSERT_EQ(split->warnings_size(), 1) << split->DebugString();
  EXPECT_EQ(split->warnings(0).code(), "duplicate_rows");
  EXPECT_THAT(split->warnings(0).message(),
              HasSubstr("400 of 800 rows of d@v2 repeat an earlier row"));
  // Of a feature set of that version too.
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok()) << fs.status();
  auto of_fs = Create(Stratified(fs->id()));
  ASSERT_TRUE(of_fs.ok()) << of_fs.status();
  ASSERT_EQ(of_fs->warnings_size(), 1);
  EXPECT_EQ(of_fs->warnings(0).code(), "duplicate_rows");
  // Version 1 has none.
  spec.set_version(1);
  auto first = Create(spec);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->warnings_size(), 0);
}

TEST_F(SplitServiceTest, PrepFitsOnTheTrainPartOfADatasetSplit) {
  Ingest("d", Csv(1000));
  v1::SplitSpec spec;
  spec.set_dataset("d");
  spec.set_strategy("sequential");
  spec.set_label("y");
  auto* p = spec.add_parts();
  p->set_name("train");
  p->set_ratio(0.5);
  p = spec.add_parts();
  p->set_name("test");
  p->set_ratio(0.5);
  auto split = Create(spec);
  ASSERT_TRUE(split.ok()) << split.status();
  // Fitted on rows 0..499 only: x = 0, 0.5, ..., 249.5 has mean 124.75, so
  // standardized x of row 0 is -124.75 / std(train rows).
  auto fs = Prepare("d", split->id());
  ASSERT_TRUE(fs.ok()) << fs.status();
  EXPECT_THAT(fs->fitted_on(), HasSubstr(split->id()));
  // The dataset split reads any feature set of its version.
  v1::ReadSplitRequest read;
  read.set_split(split->id());
  read.set_part("train");
  read.add_columns("x");
  auto none = Read(read);
  EXPECT_THAT(none.status().ToString(), HasSubstr("feature_set: required"));
  read.set_feature_set(fs->id());
  auto train = Read(read);
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_EQ(train->num_rows, 500u);
  double mean = 0, var = 0;
  for (double v : train->columns[0].numbers) mean += v / 500;
  for (double v : train->columns[0].numbers)
    var += (v - mean) * (v - mean) / 500;
  EXPECT_NEAR(mean, 0, 1e-9);  // Standardized on exactly these rows.
  EXPECT_NEAR(var, 1, 1e-9);
  // A split of another dataset version cannot be used to fit.
  Ingest("d", Csv(10, 1000));
  auto other = Prepare("d", split->id());
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status())) << other.status();
  EXPECT_THAT(other.status().ToString(), HasSubstr("fit_on.split"));
}

TEST_F(SplitServiceTest, SplitsSurviveARestart) {
  Ingest("d", Csv(300));
  auto fs = Prepare("d");
  ASSERT_TRUE(fs.ok());
  auto split = Create(Stratified(fs->id()));
  ASSERT_TRUE(split.ok());
  auto parts = Parts(split->id());
  host_.reset();
  Boot();
  EXPECT_EQ(Parts(split->id()), parts);
  grpc::ClientContext ctx;
  v1::ListSplitsResponse list;
  ASSERT_TRUE(splits_->ListSplits(&ctx, {}, &list).ok());
  ASSERT_EQ(list.splits_size(), 1);
  EXPECT_EQ(list.splits(0).id(), split->id());
}

}  // namespace
}  // namespace mlpipe::split
