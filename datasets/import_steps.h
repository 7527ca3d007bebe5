#pragma once
// The steps of importDataset after the records are written: splits, leakage, the validation
// report. Internal to swarm_datasets: dataset_import.cpp runs the steps, split_assignment.cpp and
// import_report.cpp hold them.
#include "datasets/dataset_import.h"
#include "datasets/dataset_store.h"
#include "datasets/field_path.h"

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

// The source as opened for an import: everything that can fail for the file as a whole is
// checked while this is built, before the project is touched.
struct ImportSource {
    std::unique_ptr<RecordReader> reader;
    std::vector<std::string> columns;       // of the first records (the header for CSV/TSV)
    ResolvedMapping mapping;
    std::optional<FieldPath> splitPath;     // set when each row's split comes from a field
    std::string absolutePath;               // as stored with the dataset and in the report
    nlohmann::json warnings = nlohmann::json::array();   // about the mapping, found before reading
};

// What the split and the leakage check need to know of an imported row.
struct ImportedRow {
    int64_t exampleId;
    int64_t number;          // the record number in the source
    uint64_t promptHash;
    Split split;
};

// Everything counted while the records are read, mapped, tokenised and written.
struct ImportTally {
    DatasetCounts counts;
    std::map<std::string, int64_t> byReason;
    nlohmann::json rejectedSample = nlohmann::json::array();    // the first kReportRejected
    int64_t duplicates = 0;
    nlohmann::json duplicateSample = nlohmann::json::array();   // the first kReportDuplicates
    std::vector<ImportedRow> rows;
    std::vector<int32_t> promptLens, responseLens, totalLens;
    int64_t truncatedTokens = 0;
};

constexpr size_t kReportRejected = 200;
constexpr size_t kReportDuplicates = 50;
constexpr size_t kReportLeaks = 20;

// Ratio split: rows with the same prompt form one group and go to the same split (no leakage by
// construction); groups are shuffled by the seed and filled test, validation, train. Rows that
// leave train are updated through `writer`.
void assignRatioSplits(std::vector<ImportedRow>& rows, const SplitSpec& spec, uint64_t seed, DatasetWriter& writer);
// Adds the rows of each split to counts.nTrain, nValidation and nTest.
void countSplits(const std::vector<ImportedRow>& rows, DatasetCounts& counts);

// Prompts found in more than one split.
struct SplitLeakage {
    int64_t trainTest = 0, trainValidation = 0, validationTest = 0;
    nlohmann::json examples = nlohmann::json::array();   // the first kReportLeaks, by first record
};
SplitLeakage findLeakage(const std::vector<ImportedRow>& rows);

// Rows rejected after tokenising (too long) are listed one chunk late: puts the report's sample
// back in record order.
void sortRejectedByRecord(ImportTally& tally);

// The error for an import where no row survived: how many were read and why each was rejected.
[[noreturn]] void throwNothingImported(const std::string& sourcePath, const ImportTally& tally);

// The validation report stored with the dataset.
nlohmann::json importReport(const ImportOptions& options, const ImportSource& source, const ImportTally& tally,
                            const SplitLeakage& leakage, double seconds);

} // namespace swarm
