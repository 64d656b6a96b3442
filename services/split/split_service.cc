#include "services/split/split_service.h"

#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "services/split/assign.h"

namespace mlpipe::split {

grpc::ServerUnaryReactor* SplitService::CreateSplit(Ctx* ctx,
                                                    const v1::SplitSpec* req,
                                                    v1::Operation* out) {
  if (auto s = CheckSplitSpec(*req); !s.ok()) return rpc::FinishUnary(ctx, s);
  return rpc::FinishUnary(ctx, ops_->Start("split", *req), out);
}

grpc::ServerUnaryReactor* SplitService::GetSplit(Ctx* ctx,
                                                 const v1::GetSplitRequest* req,
                                                 v1::Split* out) {
  return rpc::FinishUnary(ctx, splitter_->Get(req->id()), out);
}

grpc::ServerUnaryReactor* SplitService::ListSplits(
    Ctx* ctx, const v1::ListSplitsRequest* req, v1::ListSplitsResponse* out) {
  auto splits = splitter_->List(req->dataset());
  if (!splits.ok()) return rpc::FinishUnary(ctx, splits.status());
  for (auto& s : *splits) *out->add_splits() = std::move(s);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::Frame>* SplitService::ReadSplit(
    Ctx*, const v1::ReadSplitRequest* req) {
  return rpc::StreamFrames(
      [s = splitter_, req = *req] { return s->Read(req); });
}

grpc::ServerWriteReactor<v1::SplitAssignments>* SplitService::ReadAssignments(
    Ctx*, const v1::ReadAssignmentsRequest* req) {
  using Next = rpc::NextMessage<v1::SplitAssignments>;
  auto chunks = splitter_->Assignments(req->split());
  if (!chunks.ok())
    return rpc::StreamMessages<v1::SplitAssignments>(chunks.status());
  auto all =
      std::make_shared<std::vector<v1::SplitAssignments>>(std::move(*chunks));
  return rpc::StreamMessages<v1::SplitAssignments>(
      Next([all, i = size_t{0}](
               v1::SplitAssignments* out) mutable -> absl::StatusOr<bool> {
        if (i == all->size()) return false;
        out->Swap(&(*all)[i++]);
        return true;
      }));
}

}  // namespace mlpipe::split
