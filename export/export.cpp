#include "export/export.h"

#include "training/run_folder.h"
#include "export/export_steps.h"

#include "engine/engine.h"

#include "export/gguf_writer.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/format.h"
#include "core/hf_folder.h"
#include "core/safetensors.h"
#include "core/tokenizer.h"
#include "datasets/prompt_template.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
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

gguf::TensorType tensorType(ExportDType t) {
    switch (t) {
    case ExportDType::F32: return gguf::TensorType::F32;
    case ExportDType::F16: return gguf::TensorType::F16;
    case ExportDType::BF16: return gguf::TensorType::BF16;
    case ExportDType::Q8_0: return gguf::TensorType::Q8_0;
    case ExportDType::Q4_0: return gguf::TensorType::Q4_0;
    case ExportDType::Q4_K: return gguf::TensorType::Q4_K;
    }
    return gguf::TensorType::F32;
}

// llama-quantize's Q4_K_M choice for one tensor of an Eve (granitemoe, 8 experts) file, as its
// llama_tensor_get_type decides without an importance matrix: the tied embedding / LM head Q6_K;
// attn_k and attn_v Q8_0 and attn_output Q5_K (its rules for 8-expert models); ffn_down (routed
// and shared) Q6_K in the "more bits" layers (the first and last eighth and every third between),
// else Q4_K; everything else Q4_K. Then a k-quant whose rows are not a multiple of 256 takes the
// fallback (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0): Eve's ffn_down rows are 1408 long.
gguf::TensorType q4kmType(const std::string& name, int64_t layer, int64_t nLayer, int64_t nExpert, uint64_t rowLength) {
    using T = gguf::TensorType;
    auto has = [&name](const char* part) { return name.find(part) != std::string::npos; };
    auto moreBits = [](int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; };
    T t = T::Q4_K;
    if (name == "token_embd.weight" || name == "output.weight") t = T::Q6_K;
    else if ((has("attn_v.weight") || has("attn_k.weight")) && nExpert == 8) t = T::Q8_0;
    else if (has("attn_output.weight") && nExpert == 8) t = T::Q5_K;
    else if (has("ffn_down") && moreBits(layer, nLayer)) t = T::Q6_K;
    return gguf::kquantFallback(t, rowLength);
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

// ---------------------------------------------------------------------------------------------
// GGUF

void addGeneralMetadata(gguf::Writer& w, const OpenSource& s, const ExportOptions& o) {
    const ModelConfig& c = s.config;
    w.set(gguf::key::kArchitecture, gguf::Value::string(gguf::kEveArchitecture));
    w.set("general.type", gguf::Value::string("model"));
    w.set("general.name", gguf::Value::string(s.src.name));
    w.set("general.file_type", gguf::Value::u32(gguf::fileTypeOf(tensorType(o.dtype))));
    w.set("general.quantization_version", gguf::Value::u32(2));
    w.set(gguf::key::kAlignment, gguf::Value::u32(uint32_t(gguf::kDefaultAlignment)));
    w.set("general.size_label", gguf::Value::string(sizeLabel(c.totalParameters())));
    const std::string dataset = datasetNameOf(s.src);
    std::string description = "Eve-2 MoE specialist exported by Swarm Workbench";
    if (!dataset.empty()) description += ", fine-tuned on the dataset '" + dataset + "'";
    std::string promptFormat;             // one line: the newline shown as \n
    for (char ch : ChatFormat().promptText("{prompt}")) promptFormat += ch == '\n' ? std::string("\\n") : std::string(1, ch);
    description += ". Prompt format: \"" + promptFormat + "\". Needs ";
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
}

// The granitemoe hyper-parameters (shared/docs/gguf-export.md: each with exactly this type).
void addArchitectureMetadata(gguf::Writer& w, const ModelConfig& c) {
    const std::string p = std::string(gguf::kEveArchitecture) + ".";
    w.set(p + gguf::key::kContextLength, gguf::Value::u32(uint32_t(c.block_size)));
    w.set(p + gguf::key::kEmbeddingLength, gguf::Value::u32(uint32_t(c.n_embd)));
    w.set(p + gguf::key::kBlockCount, gguf::Value::u32(uint32_t(c.n_layer)));
    w.set(p + gguf::key::kFeedForwardLength, gguf::Value::u32(uint32_t(c.expert_intermediate_size)));
    w.set(p + gguf::key::kSharedExpertFeedForwardLength, gguf::Value::u32(uint32_t(c.shared_expert_intermediate_size)));
    w.set(p + gguf::key::kExpertCount, gguf::Value::u32(uint32_t(c.num_experts)));
    w.set(p + gguf::key::kExpertUsedCount, gguf::Value::u32(uint32_t(c.top_k)));
    w.set(p + gguf::key::kHeadCount, gguf::Value::u32(uint32_t(c.n_head)));
    w.set(p + gguf::key::kHeadCountKv, gguf::Value::u32(uint32_t(c.n_head)));
    w.set(p + gguf::key::kRmsEpsilon, gguf::Value::f32(1e-5f));
    w.set(p + gguf::key::kEmbeddingScale, gguf::Value::f32(1.0f));
    w.set(p + gguf::key::kResidualScale, gguf::Value::f32(1.0f));
    w.set(p + gguf::key::kAttentionScale, gguf::Value::f32(float(1.0 / std::sqrt(double(c.head_dim)))));
    w.set(p + gguf::key::kLogitScale, gguf::Value::f32(1.0f));
    w.set(p + gguf::key::kRopeFreqBase, gguf::Value::f32(float(c.rope_theta)));
    w.set(p + gguf::key::kRopeDimensionCount, gguf::Value::u32(uint32_t(c.head_dim)));
    w.set(p + gguf::key::kVocabSize, gguf::Value::u32(uint32_t(c.vocab_size)));
}

// The GPT-2 tokens by id, then [PAD<id>] up to vocab_size, and the merges in rank order.
void addTokenizerMetadata(gguf::Writer& w, const Gpt2Tokenizer& tok, const ModelConfig& c) {
    std::vector<std::string> tokens;
    std::vector<int32_t> types;
    tokens.reserve(size_t(c.vocab_size));
    types.reserve(size_t(c.vocab_size));
    for (int32_t id = 0; id < int32_t(c.vocab_size); ++id) {
        if (id < tok.vocabSize()) {
            tokens.push_back(tok.tokenString(id));
            types.push_back(int32_t(id == Gpt2Tokenizer::kEndOfText ? gguf::TokenType::Control : gguf::TokenType::Normal));
        } else {
            tokens.push_back("[PAD" + std::to_string(id) + "]");
            types.push_back(int32_t(gguf::TokenType::Unused));
        }
    }
    std::vector<std::string> merges;
    merges.reserve(tok.merges().size());
    for (const auto& m : tok.merges()) merges.push_back(m.first + " " + m.second);
    w.set(gguf::key::kTokenizerModel, gguf::Value::string(gguf::kGpt2TokenizerModel));
    w.set("tokenizer.ggml.pre", gguf::Value::string("gpt-2"));
    w.set(gguf::key::kTokenizerTokens, gguf::Value::stringArray(tokens));
    w.set(gguf::key::kTokenizerTokenType, gguf::Value::int32Array(types));
    w.set(gguf::key::kTokenizerMerges, gguf::Value::stringArray(merges));
    w.set("tokenizer.ggml.bos_token_id", gguf::Value::u32(uint32_t(Gpt2Tokenizer::kEndOfText)));
    w.set("tokenizer.ggml.eos_token_id", gguf::Value::u32(uint32_t(Gpt2Tokenizer::kEndOfText)));
    w.set("tokenizer.ggml.add_bos_token", gguf::Value::boolean(false));
}

// The tensor types a file holds: type -> (tensor count, bytes).
using TensorMix = std::map<std::string, std::pair<int, uint64_t>>;

void addGgufTensors(gguf::Writer& writer, const OpenSource& s, ExportDType dtype, TensorMix& mix) {
    const ModelConfig& c = s.config;
    const HfWeights& hw = *s.weights;
    const uint64_t E = uint64_t(c.n_embd), V = uint64_t(c.vocab_size), X = uint64_t(c.num_experts);
    const uint64_t FF = uint64_t(c.expert_intermediate_size), FS = uint64_t(c.shared_expert_intermediate_size);
    const gguf::TensorType mat = tensorType(dtype);
    // Q4_0 keeps the tied embedding / LM head at Q8_0 (llama.cpp's own Q4_0 mix also keeps the
    // output matrix at higher precision): it costs 6% of the file and most of Q4_0's logit error.
    const gguf::TensorType embdType = dtype == ExportDType::Q4_0 ? gguf::TensorType::Q8_0 : mat;
    const gguf::TensorType f32 = gguf::TensorType::F32;
    // Adds a tensor, choosing its type: F32 stays F32; under Q4_K every matrix gets llama.cpp's
    // Q4_K_M choice instead of `t`. `make` gives the producer of the chosen type's bytes.
    struct Adder {
        gguf::Writer& writer;
        TensorMix& mix;
        ExportDType dtype;
        const ModelConfig& c;
        int64_t layer = -1;
        void operator()(const std::string& name, const std::vector<uint64_t>& dims, gguf::TensorType t,
                        const std::function<gguf::Writer::Producer(gguf::TensorType)>& make) {
            if (dtype == ExportDType::Q4_K && t != gguf::TensorType::F32) t = q4kmType(name, layer, c.n_layer, c.num_experts, dims[0]);
            uint64_t n = 1;
            for (uint64_t d : dims) n *= d;
            auto& entry = mix[gguf::tensorTypeName(t)];
            entry.first += 1;
            entry.second += gguf::tensorBytes(t, dims[0], n);
            writer.addTensor(name, dims, t, make(t));
        }
    } w{writer, mix, dtype, c};

    using Producer = gguf::Writer::Producer;
    auto whole = [&hw](std::string name, int64_t cols) {
        return [&hw, name, cols](gguf::TensorType t) -> Producer {
            return [&hw, name, cols, t](std::vector<uint8_t>& out) {
                std::vector<float> f = hw.readFloat(name);
                gguf::encodeRows(t, f.data(), int64_t(f.size()) / cols, cols, out);
            };
        };
    };
    auto rows = [&hw](std::string name, int64_t r0, int64_t n, int64_t cols) {
        return [&hw, name, r0, n, cols](gguf::TensorType t) -> Producer {
            return [&hw, name, r0, n, cols, t](std::vector<uint8_t>& out) {
                std::vector<float> f = hw.readFloat(name);
                gguf::encodeRows(t, f.data() + r0 * cols, n, cols, out);
            };
        };
    };
    auto stacked = [&hw, X](std::string prefix, std::string suffix, int64_t cols) {
        return [&hw, X, prefix, suffix, cols](gguf::TensorType t) -> Producer {
            return [&hw, X, prefix, suffix, cols, t](std::vector<uint8_t>& out) {
                std::vector<float> all;
                for (uint64_t e = 0; e < X; ++e) {
                    std::vector<float> f = hw.readFloat(prefix + std::to_string(e) + suffix);
                    all.insert(all.end(), f.begin(), f.end());
                }
                gguf::encodeRows(t, all.data(), int64_t(all.size()) / cols, cols, out);
            };
        };
    };

    w("token_embd.weight", {E, V}, embdType, whole(kEmbeddingName, int64_t(E)));
    for (int64_t i = 0; i < c.n_layer; ++i) {
        w.layer = i;
        const std::string b = "blk." + std::to_string(i) + ".";
        const std::string h = "transformer.h." + std::to_string(i) + ".";
        const int64_t e = int64_t(E);
        w(b + "attn_norm.weight", {E}, f32, whole(h + "ln_1.weight", e));
        w(b + "attn_q.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", 0, e, e));
        w(b + "attn_k.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", e, e, e));
        w(b + "attn_v.weight", {E, E}, mat, rows(h + "attn.c_attn.weight", 2 * e, e, e));
        w(b + "attn_output.weight", {E, E}, mat, whole(h + "attn.c_proj.weight", e));
        w(b + "ffn_norm.weight", {E}, f32, whole(h + "ln_2.weight", e));
        w(b + "ffn_gate_inp.weight", {E, X}, f32, whole(h + "mlp.router.weight", e));
        w(b + "ffn_gate_exps.weight", {E, FF, X}, mat, stacked(h + "mlp.experts.", ".w1.weight", e));
        w(b + "ffn_up_exps.weight", {E, FF, X}, mat, stacked(h + "mlp.experts.", ".w2.weight", e));
        w(b + "ffn_down_exps.weight", {FF, E, X}, mat,
                    stacked(h + "mlp.experts.", ".c_proj.weight", int64_t(FF)));
        w(b + "ffn_gate_shexp.weight", {E, FS}, mat, whole(h + "mlp.shared_expert.w1.weight", e));
        w(b + "ffn_up_shexp.weight", {E, FS}, mat, whole(h + "mlp.shared_expert.w2.weight", e));
        w(b + "ffn_down_shexp.weight", {FS, E}, mat,
                    whole(h + "mlp.shared_expert.c_proj.weight", int64_t(FS)));
    }
    w.layer = -1;
    w("output_norm.weight", {E}, f32, whole("transformer.ln_f.weight", int64_t(E)));
    // No output.weight: the head is tied and llama.cpp reuses token_embd.
}

uint64_t folderBytes(const fs::path& dir) {
    uint64_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) n += e.file_size(ec);
    return n;
}

// One GGUF file, written to a temporary beside `out`, re-checked there, then renamed into place.
void exportGguf(const OpenSource& s, const ExportOptions& o, const fs::path& out, ExportResult& r) {
    const auto t0 = Clock::now();
    if (s.config.vocab_size < s.tokenizer.vocabSize())
        throw Error("refusing to export '" + o.source + "': vocab_size " + std::to_string(s.config.vocab_size) +
                    " is smaller than the tokenizer's " + std::to_string(s.tokenizer.vocabSize()) + " tokens");
    if (isDir(out)) throw Error("export: '" + o.out + "' is a folder; a GGUF export needs a file name (e.g. model.gguf)");
    std::error_code ec;
    if (!isDir(out.parent_path()) && (fs::create_directories(out.parent_path(), ec), ec))
        throw Error("cannot write '" + o.out + "': cannot create its folder: " + ec.message());
    gguf::Writer w;
    addGeneralMetadata(w, s, o);
    addArchitectureMetadata(w, s.config);
    addTokenizerMetadata(w, s.tokenizer, s.config);
    TensorMix mix;
    try {
        addGgufTensors(w, s, o.dtype, mix);
    } catch (const Error& e) {
        throw Error("refusing to export '" + o.source + "' as " + exportDTypeName(o.dtype) + ": " + e.what());
    }
    for (const auto& [type, entry] : mix)
        r.tensorMix += (r.tensorMix.empty() ? "" : ", ") + type + " x " + std::to_string(entry.first) + " (" +
                       formatNumber("%.1f", double(entry.second) / 1048576.0) + " MiB)";
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
    r.llamaCpp = kLlamaCppRequirement;
}

// The HF folder's weights in `target`: tensors already of that type are written from the mapping.
void writeHfWeights(const OpenSource& s, const ExportOptions& o, DType target, const fs::path& file) {
    std::vector<TensorView> views;
    std::vector<std::vector<uint8_t>> owned;
    const std::vector<ExpectedTensor> expected = expectedTensors(s.config);
    owned.reserve(expected.size());   // views point into owned: no reallocation
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
    writeSafetensors(file.string(), views, {{"format", "pt"}});
}

// config.json, generation_config.json and tokenizer.json of the folder.
void writeHfMetadata(const OpenSource& s, DType target, const fs::path& dir) {
    ModelConfig stored = s.config;
    stored.dtype = target;
    stored.save((dir / "config.json").string());
    json gen = {{"bos_token_id", Gpt2Tokenizer::kEndOfText},
                {"eos_token_id", Gpt2Tokenizer::kEndOfText},
                {"pad_token_id", Gpt2Tokenizer::kEndOfText}};
    writeFileAtomically((dir / "generation_config.json").string(), gen.dump(2) + "\n");
    writeFileAtomically((dir / "tokenizer.json").string(), s.tokenizer.toTokenizerJson());
}

// Whether `out` holds a model to replace (false: it does not exist or is empty); throws for
// anything else there.
bool checkHfDestination(const fs::path& out, const ExportOptions& o) {
    std::error_code ec;
    if (!fs::exists(out, ec)) return false;
    if (!isDir(out)) throw Error("export: '" + o.out + "' exists and is not a folder");
    const bool empty = fs::is_empty(out, ec);
    if (!empty && !isFile(out / "config.json"))
        throw Error("export: '" + o.out + "' exists and is not an empty folder or a model folder; choose another destination");
    return !empty;
}

// Renames the finished temporary folder to `out`; an old model there is moved aside first and
// put back if the rename fails.
void moveIntoPlace(const fs::path& temp, const fs::path& out, bool replace, const ExportOptions& o) {
    std::error_code ec;
    if (!replace) {
        fs::rename(temp, out, ec);
        if (ec) throw Error("export: cannot move the export into place at '" + o.out + "': " + ec.message());
        return;
    }
    const fs::path old = out.parent_path() / ("." + out.filename().string() + ".export-old." + std::to_string(long(::getpid())));
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
}

// A Hugging Face folder: written into a temporary folder beside the destination, re-checked
// there, then renamed.
void exportHf(const OpenSource& s, const ExportOptions& o, const fs::path& out, ExportResult& r) {
    const auto t0 = Clock::now();
    std::error_code ec;
    const fs::path parent = out.parent_path();
    fs::create_directories(parent, ec);
    if (ec) throw Error("export: cannot create the folder '" + parent.string() + "': " + ec.message());
    const bool replace = checkHfDestination(out, o);
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
        writeHfWeights(s, o, target, temp / "model.safetensors");
        report(o, "writing", 0.75);
        writeHfMetadata(s, target, temp);
        r.exportSeconds = secondsSince(t0);
        checkCancel(o, o.out);
        if (o.recheck) {
            report(o, "re-checking", 0.8);
            r.recheck = recheck(s.src.modelDir, temp.string(), o.threads);
            r.rechecked = true;
        }
        writeFileAtomically((temp / "README.md").string(), modelCard(s.src, s.config, o, o.recheck ? &r.recheck : nullptr));
        checkCancel(o, o.out);
        r.bytes = folderBytes(temp);
        moveIntoPlace(temp, out, replace, o);
        guard.keep = true;
    } catch (const gguf::Cancelled&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string("export to '") + o.out + "' failed, nothing was written: " + e.what());
    }
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
    else if (s == "q4_k" || s == "q4_k_m") out = ExportDType::Q4_K;
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
    case ExportDType::Q4_K: return "q4_k";
    }
    return "?";
}

ModelSource resolveSource(const std::string& pathIn) {
    if (pathIn.empty()) throw Error("no model given to export");
    const run_folder::ModelLocation where = run_folder::locateModel(pathIn, run_folder::WithoutFinal::Refuse);
    if (where.kind == run_folder::ModelLocation::Kind::Gguf)
        throw Error(pathIn + ": export reads a Hugging Face model folder, a run folder or a checkpoint folder, not a file");
    ModelSource s;
    s.modelDir = where.modelPath;
    s.name = where.name;
    if (!where.runDir.empty()) {
        s.runDir = where.runDir;
        s.run = run_folder::readManifest(where.runDir);
    }
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
    if (!r.tensorMix.empty()) s += "tensor types: " + r.tensorMix + "\n";
    if (!r.llamaCpp.empty()) s += "llama.cpp: " + r.llamaCpp + "\n";
    for (const std::string& w : r.warnings) s += "warning: " + w + "\n";
    return s;
}

ExportResult exportModel(const ExportOptions& o) {
    if (o.out.empty()) throw Error("export: no destination given (--out)");
    if (o.format == Format::Hf && (o.dtype == ExportDType::Q8_0 || o.dtype == ExportDType::Q4_0 || o.dtype == ExportDType::Q4_K))
        throw Error(std::string("export: a Hugging Face folder stores f32, bf16 or f16 weights, not ") +
                    exportDTypeName(o.dtype) + " (use --format gguf for quantised exports)");
    report(o, "checking", 0.0);
    OpenSource s = openSource(o.source);
    ExportResult r;
    r.format = o.format;
    r.dtype = o.dtype;
    r.sourceModelDir = s.src.modelDir;
    r.warnings = s.weights->warnings();
    const fs::path out = fs::absolute(o.out).lexically_normal();
    if (out == fs::path(s.src.modelDir) || (!s.src.runDir.empty() && out == fs::path(s.src.runDir)))
        throw Error("export: the destination '" + o.out + "' is the source itself");
    checkCancel(o, o.out);
    if (o.format == Format::Gguf) exportGguf(s, o, out, r);
    else exportHf(s, o, out, r);
    r.path = out.string();
    report(o, "done", 1.0);
    return r;
}

} // namespace swarm::exporter
