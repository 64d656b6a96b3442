#ifndef MLPIPE_CLI_DATASET_COMMANDS_H_
#define MLPIPE_CLI_DATASET_COMMANDS_H_

#include <functional>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::cli {

// mlpipe ingest --dataset NAME --file PATH [--format csv|jsonl] ...
int RunIngest(const Args& args, Context& ctx);
// mlpipe datasets list | show NAME | delete NAME
int RunDatasets(const Args& args, Context& ctx);
// mlpipe export --dataset NAME --out FILE.csv [--columns a,b]
int RunExport(const Args& args, Context& ctx);

// Streams a local file into a new batch (with a progress bar).
grpc::Status UploadFile(const std::string& path, v1::IngestHeader header,
                        v1::Ingestion::Stub* stub,
                        v1::IngestResponse* response);

// Writes the frames of a server stream as CSV to `out_path` ("-": stdout;
// a file appears complete or not at all), with a progress line.
using OpenFrameReader =
    std::function<std::unique_ptr<grpc::ClientReader<v1::Frame>>(
        grpc::ClientContext*)>;
int WriteFramesAsCsv(const OpenFrameReader& open, const std::string& out_path,
                     const std::string& what, Context& ctx);

// mlpipe status: the server's grpc.health.v1 status.
int RunStatus(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_DATASET_COMMANDS_H_
