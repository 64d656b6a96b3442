// Pipeline YAML -> mlpipe.v1.PipelineSpec. Errors are INVALID_ARGUMENT and
// read "<file>:<line>: <field>: <reason>".
#ifndef MLPIPE_COMMON_CONFIG_PIPELINE_CONFIG_H_
#define MLPIPE_COMMON_CONFIG_PIPELINE_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/pipeline.pb.h"

namespace mlpipe::config {

// Parses the YAML text of a pipeline; `file` names it in errors.
absl::StatusOr<v1::PipelineSpec> ParsePipeline(std::string_view yaml,
                                               std::string_view file);
// Any YAML document as a protobuf Value (maps, lists, and scalars read as
// YAML 1.2 does; quoted scalars stay strings). INVALID_ARGUMENT with
// "file:line" for bad YAML.
absl::StatusOr<google::protobuf::Value> ParseYamlValue(std::string_view yaml,
                                                       std::string_view file);

// Reads and parses a file (NOT_FOUND when it cannot be read).
absl::StatusOr<v1::PipelineSpec> LoadPipelineFile(const std::string& path);

// The structure of the step graph: unique names, `after` targets that exist,
// no cycles (the error prints one, e.g. "a -> b -> a").
absl::Status ValidateDag(const v1::PipelineSpec& spec);

// Step names in an order where every step comes after its dependencies.
// REQUIRES: ValidateDag(spec).ok().
std::vector<std::string> TopologicalOrder(const v1::PipelineSpec& spec);

// "file:line" for error messages.
std::string Where(const v1::PipelineSpec& spec, int line);

// "30s", "5m", "1h", "250ms" or a plain number of seconds.
absl::StatusOr<double> ParseDurationSeconds(std::string_view text);

}  // namespace mlpipe::config

#endif  // MLPIPE_COMMON_CONFIG_PIPELINE_CONFIG_H_
