// Test helpers: credit.csv typed as ingest types it, and reference values
// computed by Debian's Python (pandas, numpy, scikit-learn).
#ifndef MLPIPE_COMMON_FEATURES_TEST_DATA_H_
#define MLPIPE_COMMON_FEATURES_TEST_DATA_H_

#include <string>
#include <vector>

#include "common/table/table.h"
#include "google/protobuf/struct.pb.h"

namespace mlpipe::features::testdata {

std::string CreditCsvPath();
// credit.csv in chunks of at most `rows` rows, typed consistently.
std::vector<table::Table> CreditChunks(size_t rows);
// All of credit.csv in one table.
table::Table Credit();
// A CSV under examples/ (e.g. "churn/churn.csv") in one table, typed as
// ingest types it.
table::Table Example(const std::string& relative_path);
std::string ExamplePath(const std::string& relative_path);
// Runs a Python script with /usr/bin/python3 (argv[1] = credit.csv, then
// `args`) and parses the JSON it prints. Fails the test when the script
// fails.
google::protobuf::Struct PythonJson(const std::string& script,
                                    const std::vector<std::string>& args = {});

}  // namespace mlpipe::features::testdata

#endif  // MLPIPE_COMMON_FEATURES_TEST_DATA_H_
