#include "clients/ingest_request.h"

#include "common/config/struct_message.h"

namespace mlpipe::ingest {

using K = google::protobuf::Value::KindCase;

absl::StatusOr<v1::IngestHeader> IngestHeaderFromParams(
    const google::protobuf::Struct& params, const std::string& default_dataset,
    const std::string& path) {
  static const auto* mapping =
      new config::ParamMapping{.own = {{"file", K::kStringValue},
                                       {"batch", K::kStringValue},
                                       {"uploaded_from", K::kStringValue},
                                       {"dataset_version", K::kNumberValue}},
                               .hidden = {"idempotency_key", "source"}};
  v1::IngestHeader header;
  header.set_dataset(default_dataset);
  if (auto s = config::ParamsToMessage(params, *mapping, path, &header);
      !s.ok())
    return s;
  if (header.format() == v1::DATA_FORMAT_UNSPECIFIED)
    header.set_format(v1::CSV);
  // A pipeline's file is the data set: editing it makes a new version of
  // its content alone, not the old rows plus the new ones.
  if (header.mode() == v1::INGEST_MODE_UNSPECIFIED)
    header.set_mode(params.fields().contains("file") ? v1::REPLACE
                                                     : v1::APPEND);
  return header;
}

}  // namespace mlpipe::ingest
