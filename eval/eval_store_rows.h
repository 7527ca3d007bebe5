#pragma once
// The writes evaluate() makes to the evaluation tables (eval_runs, eval_examples), one function
// each. Internal to swarm_eval: eval_store.cpp holds them, harness.cpp calls them.
#include "eval/harness.h"

#include "core/sqlite.h"
#include "datasets/dataset_store.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

struct sqlite3;

namespace swarm::eval {

// JSON text for the store: invalid UTF-8 in strings is replaced, never thrown.
std::string dumpSafe(const nlohmann::json& j);

// A new run, 'running', of `total` examples; returns its id.
int64_t insertRun(sqlite3* db, const ModelRef& model, const DatasetInfo& dataset, const EvalSettings& effective,
                  const std::vector<std::string>& families, int64_t total);
void setRunRunning(sqlite3* db, int64_t runId, int64_t total);
void setRunDoneCount(sqlite3* db, int64_t runId, int64_t done);
void setRunPerf(sqlite3* db, int64_t runId, const nlohmann::json& perf);
void setRunCancelled(sqlite3* db, int64_t runId, const std::string& message);
void setRunDone(sqlite3* db, int64_t runId, int64_t total);
// Best effort: when the database itself is what failed, the run stays as it was.
void setRunFailed(sqlite3* db, int64_t runId, const std::string& message) noexcept;

// Stores example rows of one run (replacing an earlier row of the same example).
class ExampleInserter {
public:
    ExampleInserter(sqlite3* db, int64_t runId);
    void insert(const EvalExampleRow& row);

private:
    SqlStatement insert_;
    int64_t runId_;
};

} // namespace swarm::eval
