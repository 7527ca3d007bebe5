#include "export/export.h"

#include "engine/engine.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "export/gguf_writer.h"
#include "core/half.h"
#include "core/hf_folder.h"
#include "core/safetensors.h"
#include "core/tokenizer.h"
#include "core/format.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <sqlite3.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm::exporter {

const char* const kLlamaCppRequirement =
    "llama.cpp from 2026 (build 7653, commit 193ee38a of 2026-01-07, or later): the granitemoe "
    "architecture with its shared expert; older builds (e.g. February 2025) cannot load this file. "
    "For exact logits run with flash attention off and an F32 KV cache (-fa off -ctk f32 -ctv f32).";

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }



bool isDir(const fs::path& p) {
    std::error_code ec;
    return fs::is_directory(p, ec);
}
bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

json readJsonFile(const fs::path& p) {
    try {
        return json::parse(readTextFile(p.string()));
    } catch (const json::exception& e) {
        throw Error(p.string() + ": not valid JSON: " + e.what());
    }
}

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
    // Evaluation results: any table named evaluation(s) / eval_*; rows that name this model or run
    // (in any text column), or every row when the table has no such column.
    const std::string modelAbs = fs::absolute(src.modelDir).lexically_normal().string();
    const std::string runAbs = src.runDir.empty() ? std::string() : fs::absolute(src.runDir).lexically_normal().string();
    for (const std::string& t : tables) {
        std::string lower = t;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (lower != "evaluation" && lower != "evaluations" && lower.rfind("eval_", 0) != 0 && lower.rfind("evaluation_", 0) != 0)
            continue;
        std::vector<json> rows;
        query("SELECT * FROM \"" + t + "\" LIMIT 1000", {}, [&](sqlite3_stmt* st) { rows.push_back(rowToJson(st)); });
        bool anyMentions = false;
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
            anyMentions = anyMentions || mentions;
            if (mentions) mine.push_back(r);
        }
        for (json& r : (anyMentions ? mine : rows)) {
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


gguf::TensorType tensorType(ExportDType t) {
    switch (t) {
    case ExportDType::F32: return gguf::TensorType::F32;
    case ExportDType::F16: return gguf::TensorType::F16;
    case ExportDType::BF16: return gguf::TensorType::BF16;
    case ExportDType::Q8_0: return gguf::TensorType::Q8_0;
    case ExportDType::Q4_0: return gguf::TensorType::Q4_0;
    }
    return gguf::TensorType::F32;
}

void report(const ExportOptions& o, const std::string& stage, double fraction) {
    if (o.progress) o.progress(ExportProgress{stage, std::min(1.0, std::max(0.0, fraction))});
}

void checkCancel(const ExportOptions& o, const std::string& what) {
    if (o.cancel && o.cancel->load()) throw gguf::Cancelled("export cancelled: nothing was written to '" + what + "'");
}

std::string sizeLabel(int64_t params) {
    if (params >= 1000000000) return formatNumber("%.1fB", double(params) / 1e9);
    if (params >= 1000000) return formatNumber("%.0fM", double(params) / 1e6);
    return formatNumber("%.0fK", double(params) / 1e3);
}

// The source, opened and checked.
struct OpenSource {
    ModelSource src;
    HfModelFiles files;
    ModelConfig config;
    std::unique_ptr<HfWeights> weights;
    Gpt2Tokenizer tokenizer;
};

OpenSource openSource(const std::string& path) {
    OpenSource s;
    s.src = resolveSource(path);
    try {
        s.files = locateHfModel(s.src.modelDir);
        s.config = ModelConfig::load(s.files.configPath);
        s.config.validate(s.files.configPath);
        s.weights = std::make_unique<HfWeights>(HfWeights::open(s.files, s.config));
        s.tokenizer = loadTokenizerFor(s.files);
    } catch (const gguf::Cancelled&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string("refusing to export '") + path + "': " + e.what());
    }
    return s;
}

std::string datasetNameOf(const ModelSource& s) {
    if (s.run.is_object() && s.run.contains("dataset") && s.run["dataset"].is_object())
        return s.run["dataset"].value("name", "");
    return "";
}

std::string projectPathOf(const ModelSource& s, const ExportOptions& o) {
    if (!o.project.empty()) return o.project;
    if (s.run.is_object() && s.run.contains("dataset") && s.run["dataset"].is_object()) {
        const std::string p = s.run["dataset"].value("project", "");
        if (!p.empty() && isFile(p)) return p;
    }
    return "";
}

// ---------------------------------------------------------------------------------------------
// GGUF

void addGgufMetadata(gguf::Writer& w, const OpenSource& s, const ExportOptions& o) {
    const ModelConfig& c = s.config;
    const std::string p = "granitemoe.";
    w.set("general.architecture", gguf::Value::string("granitemoe"));
    w.set("general.type", gguf::Value::string("model"));
    w.set("general.name", gguf::Value::string(s.src.name));
    w.set("general.file_type", gguf::Value::u32(gguf::fileTypeOf(tensorType(o.dtype))));
    w.set("general.quantization_version", gguf::Value::u32(2));
    w.set("general.alignment", gguf::Value::u32(uint32_t(gguf::kDefaultAlignment)));
    w.set("general.size_label", gguf::Value::string(sizeLabel(c.totalParameters())));
    const std::string dataset = datasetNameOf(s.src);
    std::string description = "Eve-2 MoE specialist exported by Swarm Workbench";
    if (!dataset.empty()) description += ", fine-tuned on the dataset '" + dataset + "'";
    description += ". Prompt format: \"User: {prompt}\\nAssistant:\". Needs ";
    description += kLlamaCppRequirement;
    w.set("general.description", gguf::Value::string(description));
    w.set("general.tags", gguf::Value::stringArray({"swarm-workbench", "eve-2-moe", "text-generation"}));
    if (s.src.run.is_object()) {
        const std::string base = s.src.run.value("base_model", "");
        if (!base.empty()) {
            w.set("general.base_model.count", gguf::Value::u32(1));
            w.set("general.base_model.0.name", gguf::Value::string(fs::path(base).filename().string()));
        }
        if (!dataset.empty()) {
            w.set("general.dataset.count", gguf::Value::u32(1));
            w.set("general.dataset.0.name", gguf::Value::string(dataset));
        }
    }

    w.set(p + "context_length", gguf::Value::u32(uint32_t(c.block_size)));
    w.set(p + "embedding_length", gguf::Value::u32(uint32_t(c.n_embd)));
    w.set(p + "block_count", gguf::Value::u32(uint32_t(c.n_layer)));
    w.set(p + "feed_forward_length", gguf::Value::u32(uint32_t(c.expert_intermediate_size)));
    w.set(p + "expert_shared_feed_forward_length", gguf::Value::u32(uint32_t(c.shared_expert_intermediate_size)));
    w.set(p + "expert_count", gguf::Value::u32(uint32_t(c.num_experts)));
    w.set(p + "expert_used_count", gguf::Value::u32(uint32_t(c.top_k)));
    w.set(p + "attention.head_count", gguf::Value::u32(uint32_t(c.n_head)));
    w.set(p + "attention.head_count_kv", gguf::Value::u32(uint32_t(c.n_head)));
    w.set(p + "attention.layer_norm_rms_epsilon", gguf::Value::f32(1e-5f));
    w.set(p + "embedding_scale", gguf::Value::f32(1.0f));
    w.set(p + "residual_scale", gguf::Value::f32(1.0f));
    w.set(p + "attention.scale", gguf::Value::f32(float(1.0 / std::sqrt(double(c.head_dim)))));
    w.set(p + "logit_scale", gguf::Value::f32(1.0f));
    w.set(p + "rope.freq_base", gguf::Value::f32(float(c.rope_theta)));
    w.set(p + "rope.dimension_count", gguf::Value::u32(uint32_t(c.head_dim)));
    w.set(p + "vocab_size", gguf::Value::u32(uint32_t(c.vocab_size)));

    // Tokenizer: the GPT-2 tokens by id, then [PAD<id>] up to vocab_size.
    const Gpt2Tokenizer& tok = s.tokenizer;
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    tokens.reserve(size_t(c.vocab_size));
    types.reserve(size_t(c.vocab_size));
    for (int32_t id = 0; id < int32_t(c.vocab_size); ++id) {
        if (id < tok.vocabSize()) {
            tokens.push_back(tok.tokenString(id));
            types.push_back(id == Gpt2Tokenizer::kEndOfText ? 3 : 1);
        } else {
            tokens.push_back("[PAD" + std::to_string(id) + "]");
            types.push_back(5);
        }
    }
    std::vector<std::string> merges;
    merges.reserve(tok.merges().size());
    for (const auto& m : tok.merges()) merges.push_back(m.first + " " + m.second);
    w.set("tokenizer.ggml.model", gguf::Value::string("gpt2"));
    w.set("tokenizer.ggml.pre", gguf::Value::string("gpt-2"));
    w.set("tokenizer.ggml.tokens", gguf::Value::stringArray(tokens));
    w.set("tokenizer.ggml.token_type", gguf::Value::int32Array(types));
    w.set("tokenizer.ggml.merges", gguf::Value::stringArray(merges));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(uint32_t(Gpt2Tokenizer::kEndOfText)));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(uint32_t(Gpt2Tokenizer::kEndOfText)));
    w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
}

void addGgufTensors(gguf::Writer& w, const OpenSource& s, ExportDType dtype) {
    const ModelConfig& c = s.config;
    const HfWeights& hw = *s.weights;
    const uint64_t E = uint64_t(c.n_embd), V = uint64_t(c.vocab_size), X = uint64_t(c.num_experts);
    const uint64_t FF = uint64_t(c.expert_intermediate_size), FS = uint64_t(c.shared_expert_intermediate_size);
    const gguf::TensorType mat = tensorType(dtype);
    // Q4_0 keeps the tied embedding / LM head at Q8_0 (llama.cpp's own Q4_0 mix also keeps the
    // output matrix at higher precision): it costs 6% of the file and most of Q4_0's logit error.
    const gguf::TensorType embdType = dtype == ExportDType::Q4_0 ? gguf::TensorType::Q8_0 : mat;
    const gguf::TensorType f32 = gguf::TensorType::F32;

    auto whole = [&hw](std::string name, int64_t cols, gguf::TensorType t) {
        return [&hw, name, cols, t](std::vector<uint8_t>& out) {
            std::vector<float> f = hw.readFloat(name);
            gguf::encodeRows(t, f.data(), int64_t(f.size()) / cols, cols, out);
        };
    };
    auto rows = [&hw](std::string name, int64_t r0, int64_t n, int64_t cols, gguf::TensorType t) {
        return [&hw, name, r0, n, cols, t](std::vector<uint8_t>& out) {
            std::vector<float> f = hw.readFloat(name);
            gguf::encodeRows(t, f.data() + r0 * cols, n, cols, out);
        };
    };
    auto stacked = [&hw, X](std::string prefix, std::string suffix, int64_t cols, gguf::TensorType t) {
        return [&hw, X, prefix, suffix, cols, t](std::vector<uint8_t>& out) {
            std::vector<float> all;
            for (uint64_t e = 0; e < X; ++e) {
                std::vector<float> f = hw.readFloat(prefix + std::to_string(e) + suffix);
                all.insert(all.end(), f.begin(), f.end());
            }
            gguf::encodeRows(t, all.data(), int64_t(all.size()) / cols, cols, out);
        };
    };

    w.addTensor("token_embd.weight", {E, V}, embdType, whole(kEmbeddingName, int64_t(E), embdType));
    for (int64_t i = 0; i < c.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        const std::string h = "transformer.h." + std::to_string(i) + ".";
        const int64_t e = int64_t(E);
        w.addTensor(b + "attn_norm.weight", {E}, f32, whole(h + "ln_1.weight", e, f32));
        w.addTensor(b + "attn_q.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", 0, e, e, mat));
        w.addTensor(b + "attn_k.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", e, e, e, mat));
        w.addTensor(b + "attn_v.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", 2 * e, e, e, mat));
        w.addTensor(b + "attn_output.weight", {E, E}, mat, whole(h + "attn.c_proj.weight", e, mat));
        w.addTensor(b + "ffn_norm.weight", {E}, f32, whole(h + "ln_2.weight", e, f32));
        w.addTensor(b + "ffn_gate_inp.weight", {E, X}, f32, whole(h + "mlp.router.weight", e, f32));
        w.addTensor(b + "ffn_gate_exps.weight", {E, FF, X}, mat, stacked(h + "mlp.experts.", ".w1.weight", e, mat));
        w.addTensor(b + "ffn_up_exps.weight", {E, FF, X}, mat, stacked(h + "mlp.experts.", ".w2.weight", e, mat));
        w.addTensor(b + "ffn_down_exps.weight", {FF, E, X}, mat,
                    stacked(h + "mlp.experts.", ".c_proj.weight", int64_t(FF), mat));
        w.addTensor(b + "ffn_gate_shexp.weight", {E, FS}, mat, whole(h + "mlp.shared_expert.w1.weight", e, mat));
        w.addTensor(b + "ffn_up_shexp.weight", {E, FS}, mat, whole(h + "mlp.shared_expert.w2.weight", e, mat));
        w.addTensor(b + "ffn_down_shexp.weight", {FS, E}, mat,
                    whole(h + "mlp.shared_expert.c_proj.weight", int64_t(FS), mat));
    }
    w.addTensor("output_norm.weight", {E}, f32, whole("transformer.ln_f.weight", int64_t(E), f32));
    // No output.weight: the head is tied and llama.cpp reuses token_embd.
}

uint64_t folderBytes(const fs::path& dir) {
    uint64_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) n += e.file_size(ec);
    return n;
}

} // namespace

// ---------------------------------------------------------------------------------------------

bool parseFormat(const std::string& s, Format& out) {
    if (s == "hf" || s == "safetensors") out = Format::Hf;
    else if (s == "gguf") out = Format::Gguf;
    else return false;
    return true;
}

const char* formatName(Format f) { return f == Format::Hf ? "hf" : "gguf"; }

bool parseExportDType(const std::string& s, ExportDType& out) {
    if (s == "f32" || s == "float32") out = ExportDType::F32;
    else if (s == "f16" || s == "float16") out = ExportDType::F16;
    else if (s == "bf16" || s == "bfloat16") out = ExportDType::BF16;
    else if (s == "q8_0" || s == "q8") out = ExportDType::Q8_0;
    else if (s == "q4_0" || s == "q4") out = ExportDType::Q4_0;
    else return false;
    return true;
}

const char* exportDTypeName(ExportDType t) {
    switch (t) {
    case ExportDType::F32: return "f32";
    case ExportDType::F16: return "f16";
    case ExportDType::BF16: return "bf16";
    case ExportDType::Q8_0: return "q8_0";
    case ExportDType::Q4_0: return "q4_0";
    }
    return "?";
}

ModelSource resolveSource(const std::string& pathIn) {
    if (pathIn.empty()) throw Error("no model given to export");
    fs::path path = fs::path(pathIn);
    if (!fs::exists(path)) throw Error(pathIn + ": no such model folder, run folder or checkpoint");
    if (!isDir(path))
        throw Error(pathIn + ": export reads a Hugging Face model folder, a run folder or a checkpoint folder, not a file");
    path = fs::absolute(path).lexically_normal();
    if (path.has_filename() == false) path = path.parent_path();
    ModelSource s;
    if (isFile(path / "run.json")) {
        s.runDir = path.string();
        s.run = readJsonFile(path / "run.json");
        const fs::path final = path / "final";
        if (!isFile(final / "config.json")) {
            std::string hint;
            std::error_code ec;
            std::vector<std::string> cks;
            for (const auto& e : fs::directory_iterator(path / "checkpoints", ec))
                if (e.is_directory(ec) && e.path().filename().string().rfind("step-", 0) == 0) cks.push_back(e.path().string());
            std::sort(cks.begin(), cks.end());
            if (!cks.empty()) hint = "; export a checkpoint instead, e.g. " + cks.back();
            throw Error(pathIn + ": the run has no final model yet (status '" + s.run.value("status", "?") + "')" + hint);
        }
        s.modelDir = final.string();
        s.name = path.filename().string();
        return s;
    }
    if (!isFile(path / "config.json"))
        throw Error(pathIn + ": not a model folder (no config.json) and not a run folder (no run.json)");
    s.modelDir = path.string();
    s.name = path.filename().string();
    // RUN_DIR/final or RUN_DIR/checkpoints/step-N: the run's manifest describes it.
    fs::path runDir;
    if (path.filename() == "final") runDir = path.parent_path();
    else if (path.parent_path().filename() == "checkpoints") runDir = path.parent_path().parent_path();
    if (!runDir.empty() && isFile(runDir / "run.json")) {
        s.runDir = runDir.string();
        s.run = readJsonFile(runDir / "run.json");
        s.name = runDir.filename().string() + (path.filename() == "final" ? "" : "-" + path.filename().string());
    }
    return s;
}

const std::vector<std::string>& recheckPrompts() {
    static const std::vector<std::string> prompts = {
        "User: Which customers placed more than three orders in 2023?\nAssistant:",
        "User: Summarize: the meeting moved to Friday because the room was double-booked.\nAssistant:",
        "User: Extract the name and email from: contact Jane Doe at jane.doe@example.com\nAssistant:",
        "User: Write a commit message for: fix off-by-one in the CSV parser (42 rows lost)\nAssistant:",
        "User: I want a refund for order #4521, it arrived broken!\nAssistant:",
    };
    return prompts;
}

RecheckResult recheck(const std::string& sourceModel, const std::string& exported, int threads) {
    const auto t0 = Clock::now();
    engine::LoadOptions lo;
    lo.dtype = engine::WType::F32;
    lo.quantizeActivations = false;
    lo.threads = threads;
    engine::Model a = engine::Model::load(sourceModel, lo);
    engine::Model b;
    try {
        b = engine::Model::load(exported, lo);
    } catch (const Error& e) {
        throw Error(std::string("re-check: the exported model does not load: ") + e.what());
    }
    if (a.config().vocab_size != b.config().vocab_size || a.config().n_layer != b.config().n_layer ||
        a.config().n_embd != b.config().n_embd || a.config().num_experts != b.config().num_experts)
        throw Error("re-check: the exported model's configuration differs from the source's");
    RecheckResult r;
    double sum = 0;
    uint64_t count = 0;
    const int V = int(a.config().vocab_size);
    for (const std::string& prompt : recheckPrompts()) {
        std::vector<int32_t> ids = a.tokenizer().encode(prompt);
        if (b.tokenizer().encode(prompt) != ids)
            throw Error("re-check: the exported tokenizer encodes the prompt \"" + prompt.substr(0, 40) +
                        "...\" differently from the source's");
        const int ctx = int(std::min<int64_t>(a.config().block_size, 128));
        if (int(ids.size()) > ctx) ids.resize(size_t(ctx));
        engine::SessionOptions so;
        so.context = ctx;
        engine::Session sa(a, so), sb(b, so);
        sa.prefill(ids, true);
        sb.prefill(ids, true);
        const std::vector<float>& la = sa.allLogits();
        const std::vector<float>& lb = sb.allLogits();
        for (size_t t = 0; t < ids.size(); ++t) {
            const float* x = la.data() + t * size_t(V);
            const float* y = lb.data() + t * size_t(V);
            int ax = 0, by = 0;
            for (int v = 0; v < V; ++v) {
                const double d = std::fabs(double(x[v]) - double(y[v]));
                if (!(d == d)) throw Error("re-check: the exported model computes NaN logits");
                r.maxAbsDiff = std::max(r.maxAbsDiff, d);
                r.maxAbsLogit = std::max(r.maxAbsLogit, std::fabs(double(x[v])));
                sum += d;
                if (x[v] > x[ax]) ax = v;
                if (y[v] > y[by]) by = v;
            }
            count += uint64_t(V);
            r.top1Matches += ax == by ? 1 : 0;
            ++r.positions;
        }
        ++r.prompts;
    }
    r.meanAbsDiff = count ? sum / double(count) : 0;
    r.top1Agreement = r.positions ? double(r.top1Matches) / r.positions : 0;
    r.seconds = secondsSince(t0);
    return r;
}

std::string modelCard(const ModelSource& source, const ModelConfig& config, const ExportOptions& options,
                      const RecheckResult* rc) {
    const json& run = source.run;
    const bool hasRun = run.is_object();
    const std::string dataset = datasetNameOf(source);
    std::string base = hasRun ? run.value("base_model", "") : "";
    const std::string projectPath = projectPathOf(source, options);
    ProjectFacts project;
    if (!projectPath.empty()) project = readProject(projectPath, dataset, source);

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

    s += "## Model\n\n";
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

    s += "## Training\n\n";
    if (!hasRun) {
        s += "No training run is recorded for this model (it was exported from a model folder, not a run).\n\n";
    } else {
        s += "| | |\n|---|---|\n";
        s += "| base model | " + (base.empty() ? std::string("(not recorded)") : "`" + base + "`") + " |\n";
        if (run.contains("dataset") && run["dataset"].is_object()) {
            const json& d = run["dataset"];
            s += "| dataset | `" + dataset + "`: " + withThousands(d.value("train_examples", int64_t(0))) +
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
            s += " |\n";
        }
        if (run.contains("config") && run["config"].is_object()) {
            const json& c = run["config"];
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
            recipe += ", loss on the response only";
            s += "| recipe | " + recipe + " |\n";
        }
        s += "| steps | " + std::to_string(run.value("steps_done", int64_t(0))) + " of " +
             std::to_string(run.value("total_steps", int64_t(0))) + " (status: " + run.value("status", "?") + ") |\n";
        s += "| training time | " + formatDuration(run.value("elapsed_seconds", 0.0)) + " |\n";
        std::string device = run.value("device", "");
        if (device.empty() && run.contains("config") && run["config"].is_object()) device = run["config"].value("device", "");
        s += "| hardware | " + (device.empty() ? std::string("(not recorded)") : device) + " |\n";
        if (run.contains("train_loss")) s += "| final training loss | " + formatNumber("%.4f", run.value("train_loss", 0.0)) + " |\n";
        if (run.contains("validation_loss"))
            s += "| final validation loss | " + formatNumber("%.4f", run.value("validation_loss", 0.0)) + " |\n";
        s += "\n";
    }

    s += "## Evaluation\n\n";
    if (project.evaluations.empty()) {
        s += projectPath.empty() ? "No project was given, so no evaluation results are included.\n\n"
                                 : "The project records no evaluation results for this model.\n\n";
    } else {
        for (const json& row : project.evaluations) {
            // "metric: value" first when the row has such columns, then the other columns.
            std::string metricKey, valueKey;
            for (const char* k : {"metric", "metric_name", "name", "task"})
                if (metricKey.empty() && row.contains(k) && row[k].is_string()) metricKey = k;
            for (const char* k : {"value", "score", "result"})
                if (valueKey.empty() && row.contains(k) && !row[k].is_null()) valueKey = k;
            s += "-";
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
            s += "\n";
        }
        s += "\n";
    }

    if (rc) {
        s += "## Export re-check\n\n";
        s += "This export was loaded back with the workbench's engine and compared with the source model on " +
             std::to_string(rc->prompts) + " fixed prompts (" + std::to_string(rc->positions) +
             " positions): max |logit difference| " + formatNumber("%.3g", rc->maxAbsDiff) + ", mean " +
             formatNumber("%.3g", rc->meanAbsDiff) + ", top-1 agreement " + formatNumber("%.1f", 100.0 * rc->top1Agreement) +
             "% (source logits up to " + formatNumber("%.3g", rc->maxAbsLogit) + ").\n\n";
    }

    s += "## Prompt format\n\n";
    s += "```\nUser: {prompt}\nAssistant:\n```\n\n";
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

std::string describe(const ExportResult& r) {
    std::string s = "exported: " + r.path + " (" + formatName(r.format) + ", " + exportDTypeName(r.dtype) + ", " +
                    withThousands(int64_t(r.bytes)) + " bytes) in " + formatNumber("%.1f", r.exportSeconds) + " s\n";
    if (r.rechecked) {
        const RecheckResult& c = r.recheck;
        s += "re-check: " + std::to_string(c.prompts) + " prompts, " + std::to_string(c.positions) +
             " positions: max |logit diff| " + formatNumber("%.3g", c.maxAbsDiff) + ", mean |logit diff| " +
             formatNumber("%.3g", c.meanAbsDiff) + ", top-1 agreement " + formatNumber("%.1f", 100.0 * c.top1Agreement) + "% (" +
             std::to_string(c.top1Matches) + "/" + std::to_string(c.positions) + "), source logits up to " +
             formatNumber("%.3g", c.maxAbsLogit) + " (" + formatNumber("%.1f", c.seconds) + " s)\n";
    } else {
        s += "re-check: skipped\n";
    }
    if (!r.llamaCpp.empty()) s += "llama.cpp: " + r.llamaCpp + "\n";
    for (const std::string& w : r.warnings) s += "warning: " + w + "\n";
    return s;
}

ExportResult exportModel(const ExportOptions& o) {
    if (o.out.empty()) throw Error("export: no destination given (--out)");
    if (o.format == Format::Hf && (o.dtype == ExportDType::Q8_0 || o.dtype == ExportDType::Q4_0))
        throw Error(std::string("export: a Hugging Face folder stores f32, bf16 or f16 weights, not ") +
                    exportDTypeName(o.dtype) + " (use --format gguf for quantised exports)");
    report(o, "checking", 0.0);
    OpenSource s = openSource(o.source);
    const ModelConfig& c = s.config;
    ExportResult r;
    r.format = o.format;
    r.dtype = o.dtype;
    r.sourceModelDir = s.src.modelDir;
    r.warnings = s.weights->warnings();
    const fs::path out = fs::absolute(o.out).lexically_normal();
    if (out == fs::path(s.src.modelDir) || (!s.src.runDir.empty() && out == fs::path(s.src.runDir)))
        throw Error("export: the destination '" + o.out + "' is the source itself");
    checkCancel(o, o.out);
    const auto t0 = Clock::now();

    if (o.format == Format::Gguf) {
        if (c.vocab_size < s.tokenizer.vocabSize())
            throw Error("refusing to export '" + o.source + "': vocab_size " + std::to_string(c.vocab_size) +
                        " is smaller than the tokenizer's " + std::to_string(s.tokenizer.vocabSize()) + " tokens");
        if (isDir(out)) throw Error("export: '" + o.out + "' is a folder; a GGUF export needs a file name (e.g. model.gguf)");
        std::error_code ec;
        if (!isDir(out.parent_path()) && (fs::create_directories(out.parent_path(), ec), ec))
            throw Error("cannot write '" + o.out + "': cannot create its folder: " + ec.message());
        gguf::Writer w;
        addGgufMetadata(w, s, o);
        try {
            addGgufTensors(w, s, o.dtype);
        } catch (const Error& e) {
            throw Error("refusing to export '" + o.source + "' as " + exportDTypeName(o.dtype) + ": " + e.what());
        }
        AtomicFile file(out.string());
        w.writeTo(file, o.cancel, [&](uint64_t done, uint64_t total) {
            report(o, "writing", 0.02 + 0.78 * double(done) / double(std::max<uint64_t>(total, 1)));
        });
        r.exportSeconds = secondsSince(t0);
        r.bytes = file.bytesWritten();
        if (o.recheck) {
            report(o, "re-checking", 0.8);
            r.recheck = recheck(s.src.modelDir, file.temporaryPath(), o.threads);
            r.rechecked = true;
        }
        checkCancel(o, o.out);
        file.commit();
        r.path = out.string();
        r.llamaCpp = kLlamaCppRequirement;
        report(o, "done", 1.0);
        return r;
    }

    // Hugging Face folder: written into a temporary folder beside the destination, then renamed.
    std::error_code ec;
    const fs::path parent = out.parent_path();
    fs::create_directories(parent, ec);
    if (ec) throw Error("export: cannot create the folder '" + parent.string() + "': " + ec.message());
    bool replace = false;
    if (fs::exists(out, ec)) {
        if (!isDir(out)) throw Error("export: '" + o.out + "' exists and is not a folder");
        const bool empty = fs::is_empty(out, ec);
        if (!empty && !isFile(out / "config.json"))
            throw Error("export: '" + o.out + "' exists and is not an empty folder or a model folder; choose another destination");
        replace = !empty;
    }
    const fs::path temp = parent / ("." + out.filename().string() + ".export-tmp." + std::to_string(long(::getpid())));
    fs::remove_all(temp, ec);
    if (!fs::create_directory(temp, ec) || ec)
        throw Error("export: cannot write into '" + parent.string() + "': " +
                    (ec ? ec.message() : std::string("cannot create a temporary folder")));
    struct TempGuard {
        fs::path p;
        bool keep = false;
        ~TempGuard() {
            if (keep) return;
            std::error_code e;
            fs::remove_all(p, e);
        }
    } guard{temp};
    try {
        const DType target = o.dtype == ExportDType::BF16 ? DType::BF16 : o.dtype == ExportDType::F16 ? DType::F16 : DType::F32;
        std::vector<TensorView> views;
        std::vector<std::vector<uint8_t>> owned;
        const std::vector<ExpectedTensor> expected = expectedTensors(c);
        owned.reserve(expected.size());
        size_t done = 0;
        for (const ExpectedTensor& e : expected) {
            checkCancel(o, o.out);
            const HfWeights::Entry entry = s.weights->get(e.name);
            const std::string stored = e.name == kEmbeddingName ? kLmHeadName : e.name;
            if (entry.info->dtype == target) {
                views.push_back(TensorView{stored, target, e.shape, entry.data(), entry.info->nbytes()});
            } else {
                std::vector<float> f = s.weights->readFloat(e.name);
                std::vector<uint8_t> bytes;
                gguf::encodeRows(target == DType::BF16 ? gguf::TensorType::BF16
                                 : target == DType::F16 ? gguf::TensorType::F16 : gguf::TensorType::F32,
                                 f.data(), 1, int64_t(f.size()), bytes);
                owned.push_back(std::move(bytes));
                views.push_back(TensorView{stored, target, e.shape, owned.back().data(), owned.back().size()});
            }
            report(o, "writing", 0.02 + 0.4 * double(++done) / double(expected.size()));
        }
        checkCancel(o, o.out);
        writeSafetensors((temp / "model.safetensors").string(), views, {{"format", "pt"}});
        owned.clear();
        report(o, "writing", 0.75);
        ModelConfig stored = c;
        stored.dtype = target;
        stored.save((temp / "config.json").string());
        json gen = {{"bos_token_id", Gpt2Tokenizer::kEndOfText},
                    {"eos_token_id", Gpt2Tokenizer::kEndOfText},
                    {"pad_token_id", Gpt2Tokenizer::kEndOfText}};
        writeFileAtomically((temp / "generation_config.json").string(), gen.dump(2) + "\n");
        writeFileAtomically((temp / "tokenizer.json").string(), s.tokenizer.toTokenizerJson());
        r.exportSeconds = secondsSince(t0);
        checkCancel(o, o.out);
        if (o.recheck) {
            report(o, "re-checking", 0.8);
            r.recheck = recheck(s.src.modelDir, temp.string(), o.threads);
            r.rechecked = true;
        }
        writeFileAtomically((temp / "README.md").string(), modelCard(s.src, c, o, o.recheck ? &r.recheck : nullptr));
        checkCancel(o, o.out);
        r.bytes = folderBytes(temp);
        if (replace) {
            const fs::path old = parent / ("." + out.filename().string() + ".export-old." + std::to_string(long(::getpid())));
            fs::remove_all(old, ec);
            fs::rename(out, old, ec);
            if (ec) throw Error("export: cannot replace '" + o.out + "': " + ec.message());
            fs::rename(temp, out, ec);
            if (ec) {
                std::error_code ec2;
                fs::rename(old, out, ec2);
                throw Error("export: cannot replace '" + o.out + "': " + ec.message());
            }
            fs::remove_all(old, ec);
        } else {
            fs::rename(temp, out, ec);
            if (ec) throw Error("export: cannot move the export into place at '" + o.out + "': " + ec.message());
        }
        guard.keep = true;
    } catch (const gguf::Cancelled&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string("export to '") + o.out + "' failed, nothing was written: " + e.what());
    }
    r.path = out.string();
    report(o, "done", 1.0);
    return r;
}

} // namespace swarm::exporter
