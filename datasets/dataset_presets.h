#pragma once
// Column mappings for the eight published Eve-2 specialist datasets (field names as in
// shared/docs/eve-architecture.md), detected from a file's columns and editable: a preset is
// plain data (JSON), so a user can start from one, change its templates, and save the result in
// the project or in a file.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

struct DatasetPreset {
    std::string name;                          // "sql", "function", ... (what --preset takes)
    std::string specialist;                    // "NanoSQL"
    std::string source;                        // "b-mc2/sql-create-context"
    std::string description;
    std::vector<std::string> requiredFields;   // all present: the preset matches a file
    std::vector<std::string> optionalFields;   // read when present (through |default:)
    std::string promptTemplate;                // TextTemplate over the record
    std::string responseTemplate;              // TextTemplate over the record
    std::string chatFormat;                    // empty: ChatFormat::kDefault
    int maxLen = 1024;

    nlohmann::json toJson() const;
    // `source` names the file or project in errors; missing optional keys take defaults.
    static DatasetPreset fromJson(const nlohmann::json& j, const std::string& source);
    // Parses the templates and the chat format; throws swarm::Error naming the preset.
    void validate() const;
};

// The eight built-in presets, in the order of the specialists table.
const std::vector<DatasetPreset>& builtinPresets();
// By name ("sql") or specialist name ("NanoSQL"), case-insensitive; nullptr when unknown.
const DatasetPreset* findBuiltinPreset(const std::string& name);

struct PresetDetection {
    std::optional<DatasetPreset> preset;       // the match, if exactly one best
    std::vector<std::string> candidates;       // every preset whose required fields are present
    std::string explanation;                   // one line for the user
};

// Picks the preset whose required fields are all among `columns`, preferring the one with the
// most required fields; a tie between different presets picks none and says so.
PresetDetection detectPreset(const std::vector<std::string>& columns,
                             const std::vector<DatasetPreset>& presets = builtinPresets());

} // namespace swarm
