#pragma once
// What the `swarm dataset` sub-commands share. Internal to app/cmd_dataset*.cpp:
// cmd_dataset.cpp (dispatch, list, stats, export, delete, presets, samples),
// cmd_dataset_import.cpp (import, preview), cmd_dataset_mask.cpp (mask-preview).
#include "app/cli_args.h"
#include "app/commands.h"

#include "core/tokenizer.h"
#include "datasets/dataset_store.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm::cli::datasetcmd {

int cmdImport(const Argv& argv);
int cmdPreview(const Argv& argv);
int cmdMaskPreview(const Argv& argv);

// A text on one line: newlines and tabs shown as \n and \t; cut to `max` bytes (whole
// characters) with "..." when max > 0.
std::string oneLine(const std::string& s, size_t max = 0);

// A preset file (JSON, at most 1 MiB): one preset or an array of them.
nlohmann::json readPresetFile(const std::string& path);

// --tokenizer MODEL_DIR, or the bundled GPT-2 tokenizer.
Gpt2Tokenizer tokenizerFrom(const Args& args);

// --split S, when given.
std::optional<Split> splitOption(const Args& args);

// The validation report as text. The rejected rows come from `allRejected` when given, else
// the first `maxRejected` of the report's own sample.
void printReport(const nlohmann::json& r, const std::vector<RejectedRow>* allRejected, int maxRejected, bool histogram);

} // namespace swarm::cli::datasetcmd
