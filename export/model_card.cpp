// The README.md model card of an export: the model, its training run, the project's evaluation
// results for it, the export re-check, the prompt format and how to run it.
#include "export/export.h"
#include "export/export_steps.h"

#include "core/format.h"
#include "datasets/prompt_template.h"

#include <algorithm>
#include <filesystem>
#include <sqlite3.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm::exporter {

std::string datasetNameOf(const ModelSource& s) {
    if (s.run.is_object() && s.run.contains("dataset") && s.run["dataset"].is_object())
        return s.run["dataset"].value("name", "");
    return "";
}

namespace {

// Figures of the project file, read-only (no migration, no lock beyond SQLite's own).
struct ProjectFacts {
    bool found = false;
    json dataset;                     // the dataset's row, column -> value
    std::vector<json> evaluations;    // rows of evaluation tables that concern this model
    std::vector<std::string> notes;
};

json rowToJson(sqlite3_stmt* st) {
    json row = json::object();
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const char* name = sqlite3_column_name(st, c);
        switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: row[name] = sqlite3_column_int64(st, c); break;
        case SQLITE_FLOAT: row[name] = sqlite3_column_double(st, c); break;
        case SQLITE_TEXT: {
            const char* t = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
            std::string s = t ? t : "";
            if (!json::accept(s) || s.size() > 200) row[name] = s.size() > 200 ? s.substr(0, 200) + "..." : s;
            else row[name] = s;
            break;
        }
        case SQLITE_NULL: break;
        default: break;                // blobs are not shown
        }
    }
    return row;
}

// Rows of an evaluation table that name this model or run (in any text column), or every row
// when none does.
std::vector<json> rowsAbout(std::vector<json> rows, const ModelSource& src) {
    const std::string modelAbs = fs::absolute(src.modelDir).lexically_normal().string();
    const std::string runAbs = src.runDir.empty() ? std::string() : fs::absolute(src.runDir).lexically_normal().string();
    std::vector<json> mine;
    for (const json& r : rows) {
        bool mentions = false;
        for (auto it = r.begin(); it != r.end(); ++it)
            if (it->is_string()) {
                const std::string v = it->get<std::string>();
                if (v.empty()) continue;
                if (v == modelAbs || v == src.modelDir || (!runAbs.empty() && (v == runAbs || v == src.runDir)) ||
                    (!runAbs.empty() && v.rfind(runAbs + "/", 0) == 0))
                    mentions = true;
            }
        if (mentions) mine.push_back(r);
    }
    return mine.empty() ? rows : mine;
}

bool isEvaluationTable(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return name == "evaluation" || name == "evaluations" || name.rfind("eval_", 0) == 0 ||
           name.rfind("evaluation_", 0) == 0;
}

ProjectFacts readProject(const std::string& path, const std::string& datasetName, const ModelSource& src) {
    ProjectFacts f;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        f.notes.push_back("project '" + path + "' could not be opened: " + (db ? sqlite3_errmsg(db) : "?"));
        sqlite3_close(db);
        return f;
    }
    struct Closer {
        sqlite3* db;
        ~Closer() { sqlite3_close(db); }
    } closer{db};
    auto query = [&](const std::string& sql, const std::vector<std::string>& binds, auto&& onRow) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            sqlite3_finalize(st);
            return false;
        }
        for (size_t i = 0; i < binds.size(); ++i)
            sqlite3_bind_text(st, int(i) + 1, binds[i].c_str(), -1, SQLITE_TRANSIENT);
        while (sqlite3_step(st) == SQLITE_ROW) onRow(st);
        sqlite3_finalize(st);
        return true;
    };
    std::vector<std::string> tables;
    if (!query("SELECT name FROM sqlite_master WHERE type = 'table'", {},
               [&](sqlite3_stmt* st) { tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))); })) {
        f.notes.push_back("'" + path + "' is not a project file");
        return f;
    }
    f.found = true;
    if (!datasetName.empty() && std::find(tables.begin(), tables.end(), "datasets") != tables.end())
        query("SELECT * FROM datasets WHERE name = ?", {datasetName}, [&](sqlite3_stmt* st) { f.dataset = rowToJson(st); });
    for (const std::string& t : tables) {
        if (!isEvaluationTable(t)) continue;
        std::vector<json> rows;
        query("SELECT * FROM \"" + t + "\" LIMIT 1000", {}, [&](sqlite3_stmt* st) { rows.push_back(rowToJson(st)); });
        for (json& r : rowsAbout(std::move(rows), src)) {
            r["_table"] = t;
            if (f.evaluations.size() < 20) f.evaluations.push_back(r);
        }
    }
    return f;
}

std::string jsonScalar(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_float()) return formatNumber("%.4g", v.get<double>());
    return v.dump();
}

std::string projectPathOf(const ModelSource& s, const ExportOptions& o) {
    if (!o.project.empty()) return o.project;
    if (s.run.is_object() && s.run.contains("dataset") && s.run["dataset"].is_object()) {
        const std::string p = s.run["dataset"].value("project", "");
        std::error_code ec;
        if (!p.empty() && fs::is_regular_file(p, ec)) return p;
    }
    return "";
}

std::string cardHeader(const ModelSource& source, const ExportOptions& options, const std::string& dataset,
                       const std::string& base) {
    std::string s;
    s += "---\n";
    s += "library_name: swarm-workbench\n";
    s += "pipeline_tag: text-generation\n";
    s += "tags:\n  - eve-2-moe\n  - mixture-of-experts\n  - swarm-workbench\n";
    if (!base.empty()) s += "base_model: " + fs::path(base).filename().string() + "\n";
    s += "---\n\n";
    s += "# " + source.name + "\n\n";
    s += "An Eve-2 MoE specialist";
    if (!dataset.empty()) s += " fine-tuned on `" + dataset + "`";
    s += ", exported by Swarm Workbench (" + std::string(formatName(options.format)) + ", " +
         exportDTypeName(options.dtype) + ").\n\n";
    return s;
}

std::string cardModel(const ModelConfig& config, const ExportOptions& options) {
    std::string s = "## Model\n\n";
    s += "| | |\n|---|---|\n";
    s += "| architecture | Eve-2 MoE (DeepSeekMoE-style: interleaved RoPE, RMSNorm, SwiGLU experts, "
         "softmax -> top-k -> renormalised routing, one shared expert, tied head) |\n";
    s += "| parameters | " + withThousands(int64_t(config.totalParameters())) + " (" +
         withThousands(int64_t(config.activeParametersPerToken())) + " active per token) |\n";
    s += "| layers / hidden / heads | " + std::to_string(config.n_layer) + " / " + std::to_string(config.n_embd) + " / " +
         std::to_string(config.n_head) + " |\n";
    s += "| experts | " + std::to_string(config.num_experts) + " routed (top-" + std::to_string(config.top_k) +
         ", width " + std::to_string(config.expert_intermediate_size) + ") + 1 shared (width " +
         std::to_string(config.shared_expert_intermediate_size) + ") |\n";
    s += "| context | " + std::to_string(config.block_size) + " tokens |\n";
    s += "| tokenizer | GPT-2 byte-level BPE, `<\\|endoftext\\|>` = 50256 (EOS and pad) |\n";   // GFM: pipes escaped inside a table cell
    s += "| weights in this export | " + std::string(exportDTypeName(options.dtype)) + " |\n\n";
    return s;
}

// The dataset row of the training table: the run's counts, then what the project adds.
std::string cardDatasetRow(const json& runDataset, const std::string& dataset, const ProjectFacts& project) {
    const json& d = runDataset;
    std::string s = "| dataset | `" + dataset + "`: " + withThousands(d.value("train_examples", int64_t(0))) +
                    " training and " + withThousands(d.value("validation_examples", int64_t(0))) + " validation examples";
    if (project.dataset.is_object()) {
        const json& pd = project.dataset;
        if (pd.contains("rows_imported")) s += ", " + withThousands(pd.value("rows_imported", int64_t(0))) + " imported";
        if (pd.contains("n_tokens")) s += ", " + withThousands(pd.value("n_tokens", int64_t(0))) + " tokens";
        if (pd.contains("preset") && pd["preset"].is_string() && !pd["preset"].get<std::string>().empty())
            s += ", preset `" + pd["preset"].get<std::string>() + "`";
        if (pd.contains("source_path") && pd["source_path"].is_string())
            s += ", from `" + fs::path(pd["source_path"].get<std::string>()).filename().string() + "`";
    }
    return s + " |\n";
}

std::string trainingRecipe(const json& c) {
    std::string recipe = "full fine-tuning, AdamW";
    if (c.contains("beta1")) recipe += " (beta " + jsonScalar(c["beta1"]) + ", " + jsonScalar(c.value("beta2", json(0.95))) + ")";
    if (c.contains("peak_lr")) recipe += ", cosine schedule, peak LR " + jsonScalar(c["peak_lr"]);
    if (c.contains("warmup_fraction")) recipe += ", warm-up " + jsonScalar(c["warmup_fraction"]) + " of the steps";
    if (c.contains("epochs")) recipe += ", " + jsonScalar(c["epochs"]) + " epoch(s)";
    if (c.contains("global_batch")) recipe += ", global batch " + jsonScalar(c["global_batch"]);
    if (c.contains("micro_batch")) recipe += " (micro-batch " + jsonScalar(c["micro_batch"]) + ")";
    if (c.contains("weight_decay")) recipe += ", weight decay " + jsonScalar(c["weight_decay"]);
    if (c.contains("grad_clip")) recipe += ", clipping " + jsonScalar(c["grad_clip"]);
    if (c.contains("precision")) recipe += ", " + jsonScalar(c["precision"]);
    return recipe + ", loss on the response only";
}

std::string cardTraining(const json& run, const std::string& dataset, const std::string& base,
                         const ProjectFacts& project) {
    std::string s = "## Training\n\n";
    if (!run.is_object())
        return s + "No training run is recorded for this model (it was exported from a model folder, not a run).\n\n";
    s += "| | |\n|---|---|\n";
    s += "| base model | " + (base.empty() ? std::string("(not recorded)") : "`" + base + "`") + " |\n";
    if (run.contains("dataset") && run["dataset"].is_object()) s += cardDatasetRow(run["dataset"], dataset, project);
    if (run.contains("config") && run["config"].is_object()) s += "| recipe | " + trainingRecipe(run["config"]) + " |\n";
    s += "| steps | " + std::to_string(run.value("steps_done", int64_t(0))) + " of " +
         std::to_string(run.value("total_steps", int64_t(0))) + " (status: " + run.value("status", "?") + ") |\n";
    s += "| training time | " + formatDuration(run.value("elapsed_seconds", 0.0)) + " |\n";
    std::string device = run.value("device", "");
    if (device.empty() && run.contains("config") && run["config"].is_object()) device = run["config"].value("device", "");
    s += "| hardware | " + (device.empty() ? std::string("(not recorded)") : device) + " |\n";
    if (run.contains("train_loss")) s += "| final training loss | " + formatNumber("%.4f", run.value("train_loss", 0.0)) + " |\n";
    if (run.contains("validation_loss"))
        s += "| final validation loss | " + formatNumber("%.4f", run.value("validation_loss", 0.0)) + " |\n";
    return s + "\n";
}

// One evaluation row: "metric: value" first when the row has such columns, then the other columns.
std::string cardEvaluationRow(const json& row) {
    std::string metricKey, valueKey;
    for (const char* k : {"metric", "metric_name", "name", "task"})
        if (metricKey.empty() && row.contains(k) && row[k].is_string()) metricKey = k;
    for (const char* k : {"value", "score", "result"})
        if (valueKey.empty() && row.contains(k) && !row[k].is_null()) valueKey = k;
    std::string s = "-";
    bool first = true;
    if (!metricKey.empty() && !valueKey.empty()) {
        s += " " + jsonScalar(row[metricKey]) + ": " + jsonScalar(row[valueKey]);
        first = false;
    }
    for (auto it = row.begin(); it != row.end(); ++it) {
        if (it.key() == "_table" || it.key() == "id" || it.key() == metricKey || it.key() == valueKey) continue;
        s += std::string(first ? " " : "; ") + it.key() + ": " + jsonScalar(it.value());
        first = false;
    }
    return s + "\n";
}

std::string cardEvaluation(const ProjectFacts& project, const std::string& projectPath) {
    std::string s = "## Evaluation\n\n";
    if (project.evaluations.empty())
        return s + (projectPath.empty() ? "No project was given, so no evaluation results are included.\n\n"
                                        : "The project records no evaluation results for this model.\n\n");
    for (const json& row : project.evaluations) s += cardEvaluationRow(row);
    return s + "\n";
}

std::string cardRecheck(const RecheckResult& rc) {
    return "## Export re-check\n\n"
           "This export was loaded back with the workbench's engine and compared with the source model on " +
           std::to_string(rc.prompts) + " fixed prompts (" + std::to_string(rc.positions) +
           " positions): max |logit difference| " + formatNumber("%.3g", rc.maxAbsDiff) + ", mean " +
           formatNumber("%.3g", rc.meanAbsDiff) + ", top-1 agreement " + formatNumber("%.1f", 100.0 * rc.top1Agreement) +
           "% (source logits up to " + formatNumber("%.3g", rc.maxAbsLogit) + ").\n\n";
}

std::string cardUsage(const std::string& dataset) {
    std::string s = "## Prompt format\n\n";
    s += "```\n" + ChatFormat().promptText("{prompt}") + "\n```\n\n";
    s += "The model answers after `Assistant:` and ends its answer with `<|endoftext|>` (id 50256). "
         "Greedy decoding is recommended for structured outputs.\n\n";
    s += "## Intended use\n\n";
    s += "A small specialist for one narrow task";
    if (!dataset.empty()) s += " (the task of `" + dataset + "`)";
    s += ", to run locally on CPUs down to single-board computers, or as one member of a swarm behind a "
         "router. It is not a general-purpose assistant: outside its task, and on inputs unlike its "
         "training data, expect wrong answers. Validate its outputs before acting on them (e.g. run "
         "generated SQL read-only, parse generated JSON).\n\n";
    s += "## Running it\n\n";
    s += "- Hugging Face folder: Eve-2 MoE layout (`config.json` with `\"architectures\": [\"DeepSeekMoE\"]`, "
         "`model.safetensors`, GPT-2 `tokenizer.json`); loads in Swarm Workbench and with Eve-2 model code.\n";
    s += std::string("- GGUF (`swarm export --format gguf`): ") + kLlamaCppRequirement + "\n";
    return s;
}

} // namespace

std::string modelCard(const ModelSource& source, const ModelConfig& config, const ExportOptions& options,
                      const RecheckResult* rc) {
    const json& run = source.run;
    const std::string dataset = datasetNameOf(source);
    const std::string base = run.is_object() ? run.value("base_model", "") : "";
    const std::string projectPath = projectPathOf(source, options);
    ProjectFacts project;
    if (!projectPath.empty()) project = readProject(projectPath, dataset, source);

    std::string s = cardHeader(source, options, dataset, base);
    s += cardModel(config, options);
    s += cardTraining(run, dataset, base, project);
    s += cardEvaluation(project, projectPath);
    if (rc) s += cardRecheck(*rc);
    s += cardUsage(dataset);
    return s;
}

} // namespace swarm::exporter
