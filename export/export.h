#pragma once
// Export for deployment: a Hugging Face model folder (config.json, model.safetensors, tokenizer.json,
// generation_config.json, README.md model card) or one GGUF file (granitemoe layout, see
// shared/docs/gguf-export.md) that current llama.cpp runs exactly. Every export is re-checked:
// the written model is loaded back with the workbench's engine and compared, logit for logit, with
// the source on a fixed prompt set before it appears under its final name.
//
//   exporter::ExportOptions o;
//   o.source = "runs/sql-1";                // HF folder, run folder (uses final/) or checkpoint folder
//   o.format = exporter::Format::Gguf;
//   o.dtype = exporter::ExportDType::Q8_0;
//   o.out = "sql.q8_0.gguf";
//   exporter::ExportResult r = exporter::exportModel(o);
//
// No LibTorch: this library sits on swarm_engine and swarm_core.
#include "core/model_config.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm::exporter {

enum class Format { Hf, Gguf };
// Q4_K is llama.cpp's Q4_K_M mix (llama-quantize ... Q4_K_M, see gguf4kmType in export.cpp).
enum class ExportDType { F32, F16, BF16, Q8_0, Q4_0, Q4_K };

bool parseFormat(const std::string& s, Format& out);           // "hf", "gguf"
const char* formatName(Format f);
bool parseExportDType(const std::string& s, ExportDType& out); // f32, f16, bf16, q8_0 (q8), q4_0 (q4), q4_k (q4_k_m)
const char* exportDTypeName(ExportDType t);                    // "f32", ...

// What llama.cpp a GGUF export needs (also written into the model card).
extern const char* const kLlamaCppRequirement;

// Where a model comes from: the model folder, and the run it was trained in when there is one.
struct ModelSource {
    std::string modelDir;             // a Hugging Face model folder
    std::string runDir;               // empty: not from a run
    nlohmann::json run;               // RUN_DIR/run.json, or null
    std::string name;                 // for general.name and the card's title
};
// path: a HF folder, a run folder (RUN_DIR/final is used), RUN_DIR/final or a checkpoint folder
// (RUN_DIR/checkpoints/step-N). Throws swarm::Error naming the path.
ModelSource resolveSource(const std::string& path);

struct RecheckResult {
    int prompts = 0;
    int positions = 0;                // logit vectors compared
    double maxAbsDiff = 0;            // over every position and vocabulary entry
    double meanAbsDiff = 0;
    double maxAbsLogit = 0;           // of the source, for scale
    int top1Matches = 0;
    double top1Agreement = 0;         // top1Matches / positions
    double seconds = 0;
};
// Loads both with the engine (weights widened to float32, float activations, so that only the
// stored numbers differ) and compares the logits of every position of every prompt.
RecheckResult recheck(const std::string& sourceModel, const std::string& exported, int threads = 0);

struct ExportProgress {
    std::string stage;                // "checking", "writing", "re-checking", "done"
    double fraction = 0;              // of the whole export, 0..1
};

struct ExportOptions {
    std::string source;
    Format format = Format::Gguf;
    ExportDType dtype = ExportDType::F32;   // HF folders: f32, bf16 (or f16)
    std::string out;                  // the .gguf file, or the HF folder
    std::string project;              // optional project file: dataset size, evaluation results
    int threads = 0;                  // re-check threads (0: all cores)
    bool recheck = true;
    const std::atomic<bool>* cancel = nullptr;
    std::function<void(const ExportProgress&)> progress;
};

struct ExportResult {
    std::string path;                 // what was written (final name)
    Format format = Format::Gguf;
    ExportDType dtype = ExportDType::F32;
    uint64_t bytes = 0;               // file size (HF: all files of the folder)
    double exportSeconds = 0;         // writing, without the re-check
    bool rechecked = false;
    RecheckResult recheck;
    std::string sourceModelDir;
    std::string llamaCpp;             // kLlamaCppRequirement for GGUF, empty for HF
    // GGUF: the tensor types the file holds, e.g. "Q4_K x 84 (61.2 MiB), Q5_0 x 12 (...), ..."
    // (quantised mixes name every type, so that a fallback is visible).
    std::string tensorMix;
    std::vector<std::string> warnings;
};

// Throws swarm::Error with the reason (a source whose config and tensors disagree, an unwritable
// destination, a full disk) and exporter::Cancelled-derived gguf::Cancelled on cancel; nothing is
// left at `out` or beside it in every failure case.
ExportResult exportModel(const ExportOptions& options);

// The README.md model card (exposed for tests). `recheck` may be null.
std::string modelCard(const ModelSource& source, const ModelConfig& config, const ExportOptions& options,
                      const RecheckResult* recheck);

// One line per figure, as the CLI prints them.
std::string describe(const ExportResult& r);

} // namespace swarm::exporter
