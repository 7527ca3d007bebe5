// Loading: Hugging Face folders (through HfWeights) and GGUF files (granitemoe layout, see
// shared/docs/gguf-export.md) into the engine's weight set, converting types where asked.
#include "engine/model.h"

#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace swarm::engine {

AlignedBuffer AlignedBuffer::make(size_t bytes) {
    constexpr size_t kHuge = size_t(2) << 20;
    AlignedBuffer b;
    const size_t rounded = std::max(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
    void* p = std::aligned_alloc(kHuge, rounded);
    if (!p) throw std::bad_alloc();
    ::madvise(p, rounded, MADV_HUGEPAGE);    // a hint: ignored where THP is off
    b.data.reset(static_cast<uint8_t*>(p));
    b.size = rounded;
    return b;
}

uint8_t* WeightArena::allocate(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    if (bytes > kSlab / 2) {                  // large: an allocation of its own
        large.push_back(AlignedBuffer::make(bytes));
        return large.back().data.get();
    }
    if (bytes > left) {
        slabs.push_back(AlignedBuffer::make(kSlab));
        left = kSlab;
    }
    uint8_t* p = slabs.back().data.get() + (kSlab - left);
    left -= bytes;
    return p;
}

bool kvTypeSupported(WType t, int64_t headDim, std::string* why) {
    std::string reason;
    if (t != WType::F32 && t != WType::F16 && t != WType::Q8_0)
        reason = std::string(wtypeName(t)) + " cannot hold the KV cache (f32, f16 or q8_0)";
    else if (t == WType::Q8_0 && headDim % kQK != 0)
        reason = "a q8_0 KV cache needs head_dim to be a multiple of 32, not " + std::to_string(headDim);
    if (why) *why = reason;
    return reason.empty();
}

bool parseWType(const std::string& s, WType& out) {
    std::string v;
    for (char ch : s) v += char(std::tolower(static_cast<unsigned char>(ch)));
    if (v == "float32") v = "f32";
    else if (v == "bfloat16") v = "bf16";
    else if (v == "float16") v = "f16";
    else if (v == "q8") v = "q8_0";
    else if (v == "q4") v = "q4_0";
    for (int t = 0; t < kWTypeCount; ++t)
        if (v == wtypeName(WType(t))) {
            out = WType(t);
            return true;
        }
    return false;
}

namespace {

// Types a weight can be stored in (files) are ggml's; safetensors files hold F32, F16 and BF16,
// the block types only come from GGUF.
using SrcType = gguf::TensorType;

size_t srcRowBytes(SrcType t, int64_t cols) { return size_t(gguf::rowBytes(t, uint64_t(cols))); }

// The in-memory type a stored type keeps when no conversion is asked for: itself (every type
// the reader accepts has kernels).
WType naturalType(SrcType t) {
    WType w = WType::F32;
    wtypeOf(t, w);
    return w;
}

bool sameLayout(SrcType s, WType w) { return tensorTypeOf(w) == s; }

size_t srcAlign(SrcType t) { return t == SrcType::F32 ? 4 : 2; }

// A stored 2-D weight (a 1-D one has rows = 1): rows of `cols` elements at `data`.
struct Src {
    std::string name;
    SrcType type = SrcType::F32;
    const uint8_t* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
    size_t bytes() const { return size_t(rows) * srcRowBytes(type, cols); }
};

// Drops the file pages of a converted tensor from this process's resident set (they are never read
// again; the page cache keeps them for other readers). Only whole pages inside the range.
void releasePages(const uint8_t* p, size_t n) {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    uintptr_t begin = (uintptr_t(p) + page - 1) / page * page;
    uintptr_t end = (uintptr_t(p) + n) / page * page;
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// One source row to float (decodeRow reads unaligned rows).
void srcRowToFloat(const Src& s, int64_t r, float* out) {
    gguf::decodeRow(s.type, s.data + size_t(r) * srcRowBytes(s.type, s.cols), out, s.cols);
}

std::vector<float> toFloatVector(const Src& s) {
    std::vector<float> out(size_t(s.rows * s.cols));
    for (int64_t r = 0; r < s.rows; ++r) srcRowToFloat(s, r, out.data() + r * s.cols);
    return out;
}

// The type a matrix converted to `wanted` gets: a k-quant whose rows are not a multiple of 256
// takes llama.cpp's fallback (q4_k -> q5_0, q5_k -> q5_1, q6_k -> q8_0), said once in the warnings.
WType fitType(Model::Impl& m, const Src& src, WType wanted) {
    const WType fitted = naturalType(gguf::kquantFallback(tensorTypeOf(wanted), uint64_t(src.cols)));
    if (fitted != wanted) {
        const std::string note = std::string("rows of ") + std::to_string(src.cols) + " values cannot be " + wtypeName(wanted) +
                                 " (a multiple of 256 is needed): those matrices are " + wtypeName(fitted) + ", as llama.cpp does";
        if (std::find(m.warnings.begin(), m.warnings.end(), note) == m.warnings.end()) m.warnings.push_back(note);
    }
    if (src.cols % blockElements(fitted) != 0)
        throw Error(src.name + ": rows of " + std::to_string(src.cols) + " values cannot be stored as " + wtypeName(fitted) +
                    " (a multiple of " + std::to_string(blockElements(fitted)) + " is needed); choose f32, bf16 or f16");
    return fitted;
}

Mat makeMat(Model::Impl& m, const Src& src, std::optional<WType> wanted, bool release = true) {
    const WType target = wanted ? fitType(m, src, *wanted) : naturalType(src.type);
    Mat mat;
    mat.type = target;
    mat.rows = src.rows;
    mat.cols = src.cols;
    mat.rowBytes = rowBytes(target, src.cols);
    if (sameLayout(src.type, target) && uintptr_t(src.data) % srcAlign(src.type) == 0) {
        mat.data = src.data;                    // used in place: no copy
        m.stats.mappedBytes += mat.bytes();
        return mat;
    }
    uint8_t* dst = m.owned.allocate(mat.bytes());
    const int64_t rowsPerTask = 64;
    const int tasks = int((src.rows + rowsPerTask - 1) / rowsPerTask);
    m.pool->parallelFor(tasks, [&](int task, int) {
        std::vector<float> f(size_t(src.cols));
        std::vector<uint8_t> tmp;
        const int64_t r0 = task * rowsPerTask;
        const int64_t r1 = std::min(src.rows, r0 + rowsPerTask);
        for (int64_t r = r0; r < r1; ++r) {
            uint8_t* out = dst + size_t(r) * mat.rowBytes;
            if (src.type == SrcType::Q4_0 && target == WType::Q8_0) {
                // Exact: same scale, q = nibble - 8 (no second rounding).
                const size_t srb = srcRowBytes(src.type, src.cols);
                const uint8_t* srow = src.data + size_t(r) * srb;
                if (uintptr_t(srow) % 2 != 0) {
                    tmp.assign(srow, srow + srb);
                    srow = tmp.data();
                }
                convertRowQ4_0ToQ8_0(reinterpret_cast<const BlockQ4_0*>(srow), reinterpret_cast<BlockQ8_0*>(out),
                                     src.cols);
                continue;
            }
            srcRowToFloat(src, r, f.data());
            rowFromFloat(target, f.data(), out, src.cols);
        }
    });
    if (release) releasePages(src.data, src.bytes());
    mat.data = dst;
    m.stats.ownedBytes += mat.bytes();
    return mat;
}

Mat makeMat(Model::Impl& m, const Src& src) { return makeMat(m, src, m.options.dtype); }

// The embedding and the tied LM head from one stored matrix. The head is the embedding itself
// unless LoadOptions::headType asks for another type: then it is a converted copy and the
// embedding stays as it is (decode reads one embedding row per token but the whole head). The
// file pages are dropped only when nothing points into them.
void makeEmbeddingAndHead(Model::Impl& m, const Src& src) {
    m.embd = makeMat(m, src, m.options.dtype, false);
    m.head = m.embd;
    if (m.options.headType && fitType(m, src, *m.options.headType) != m.embd.type)
        m.head = makeMat(m, src, m.options.headType, false);
    if (m.embd.data != src.data && m.head.data != src.data) releasePages(src.data, src.bytes());
}

// Rows [r0, r0 + n) of a matrix as a matrix.
Mat sliceRows(const Mat& m, int64_t r0, int64_t n) {
    Mat s = m;
    s.rows = n;
    s.data = m.data + size_t(r0) * m.rowBytes;
    return s;
}

std::vector<float> ownedFloats(Model::Impl& m, const Src& s) {
    std::vector<float> v = toFloatVector(s);
    m.stats.ownedBytes += v.size() * 4;
    return v;
}

void noteStoredType(Model::Impl& m, SrcType t) {
    const std::string name = gguf::tensorTypeName(t);
    for (const std::string& s : m.stats.storedTypes)
        if (s == name) return;
    m.stats.storedTypes.push_back(name);
}

void buildRope(Model::Impl& m) {
    const int64_t half = m.config.head_dim / 2;
    m.ropeCos.resize(size_t(m.config.block_size * half));
    m.ropeSin.resize(m.ropeCos.size());
    // As the reference: angles in float64, then rounded to float32.
    for (int64_t p = 0; p < m.config.block_size; ++p)
        for (int64_t j = 0; j < half; ++j) {
            const double invFreq = std::pow(m.config.rope_theta, -2.0 * double(j) / double(m.config.head_dim));
            const double angle = double(p) * invFreq;
            m.ropeCos[size_t(p * half + j)] = float(std::cos(angle));
            m.ropeSin[size_t(p * half + j)] = float(std::sin(angle));
        }
}

// The engine's own requirements beyond ModelConfig::validate().
void checkEngineConfig(const Model::Impl& m, const std::string& source) {
    const ModelConfig& c = m.config;
    c.validate(source);
    for (const std::optional<WType>& t : {m.options.dtype, m.options.headType}) {
        if (!t || !isQuantized(*t)) continue;
        for (auto [name, v] : {std::pair<const char*, int64_t>{"n_embd", c.n_embd},
                               {"expert_intermediate_size", c.expert_intermediate_size},
                               {"shared_expert_intermediate_size", c.shared_expert_intermediate_size}})
            if (v % kQK != 0)
                throw Error(source + ": " + name + " = " + std::to_string(v) + " is not a multiple of 32, so the weights cannot be stored as " +
                            wtypeName(*t));
    }
    if (c.top_k > 64) throw Error(source + ": top_k " + std::to_string(c.top_k) + " is above the engine's limit of 64");
}

void finishLoad(Model::Impl& m) {
    m.q8Acts = false;
    auto consider = [&](const Mat& w) {
        if (isQuantized(w.type) && m.options.quantizeActivations) m.q8Acts = true;
    };
    consider(m.embd);
    consider(m.head);
    uint64_t perToken = m.head.bytes() + m.embd.rowBytes + m.lnf.size() * 4;
    for (const LayerWeights& l : m.layers) {
        for (const Mat* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.shGate, &l.shUp, &l.shDown}) {
            consider(*w);
            perToken += w->bytes();
        }
        for (size_t e = 0; e < l.gate.size(); ++e) {
            consider(l.gate[e]);
            consider(l.up[e]);
            consider(l.down[e]);
        }
        perToken += uint64_t(m.config.top_k) * (l.gate[0].bytes() + l.up[0].bytes() + l.down[0].bytes());
        perToken += l.router.bytes() + (l.ln1.size() + l.ln2.size()) * 4;
    }
    m.stats.decodeBytesPerToken = perToken;
    m.mainType = m.layers.empty() ? m.embd.type : m.layers[0].gate[0].type;
    if (m.options.kvType) {
        std::string why;
        if (!kvTypeSupported(*m.options.kvType, m.config.head_dim, &why)) throw Error("engine: KV cache type: " + why);
        m.kvType = *m.options.kvType;
    } else {
        m.kvType = !m.q8Acts ? WType::F32 : kvTypeSupported(WType::Q8_0, m.config.head_dim) ? WType::Q8_0 : WType::F16;
    }
    buildRope(m);
}

// ---------------------------------------------------------------------------------------------
// Hugging Face folders

SrcType fromDType(DType t) {
    switch (t) {
    case DType::F32: return SrcType::F32;
    case DType::F16: return SrcType::F16;
    case DType::BF16: return SrcType::BF16;
    }
    return SrcType::F32;
}

void loadHf(Model::Impl& m, const std::string& dir) {
    HfModelFiles files = locateHfModel(dir);
    m.config = ModelConfig::load(files.configPath);
    checkEngineConfig(m, files.configPath);
    m.hf = std::make_unique<HfWeights>(HfWeights::open(files, m.config));
    m.warnings = m.hf->warnings();
    m.tokenizer = loadTokenizerFor(files);
    m.stats.format = "safetensors";

    auto src = [&](const std::string& name) {
        HfWeights::Entry e = m.hf->get(name);
        Src s;
        s.name = dir + ": " + name;
        s.type = fromDType(e.info->dtype);
        s.data = e.data();
        const auto& shape = e.info->shape;
        s.rows = shape.size() == 2 ? shape[0] : 1;
        s.cols = shape.back();
        noteStoredType(m, s.type);
        return s;
    };
    const ModelConfig& c = m.config;
    makeEmbeddingAndHead(m, src(kEmbeddingName));
    m.lnf = ownedFloats(m, src("transformer.ln_f.weight"));
    m.layers.resize(size_t(c.n_layer));
    for (int64_t i = 0; i < c.n_layer; ++i) {
        LayerWeights& l = m.layers[size_t(i)];
        const std::string h = "transformer.h." + std::to_string(i);
        l.ln1 = ownedFloats(m, src(h + ".ln_1.weight"));
        l.ln2 = ownedFloats(m, src(h + ".ln_2.weight"));
        Mat qkv = makeMat(m, src(h + ".attn.c_attn.weight"));
        l.wq = sliceRows(qkv, 0, c.n_embd);
        l.wk = sliceRows(qkv, c.n_embd, c.n_embd);
        l.wv = sliceRows(qkv, 2 * c.n_embd, c.n_embd);
        l.wo = makeMat(m, src(h + ".attn.c_proj.weight"));
        l.routerData = ownedFloats(m, src(h + ".mlp.router.weight"));
        l.shGate = makeMat(m, src(h + ".mlp.shared_expert.w1.weight"));
        l.shUp = makeMat(m, src(h + ".mlp.shared_expert.w2.weight"));
        l.shDown = makeMat(m, src(h + ".mlp.shared_expert.c_proj.weight"));
        for (int64_t e = 0; e < c.num_experts; ++e) {
            const std::string p = h + ".mlp.experts." + std::to_string(e);
            l.gate.push_back(makeMat(m, src(p + ".w1.weight")));
            l.up.push_back(makeMat(m, src(p + ".w2.weight")));
            l.down.push_back(makeMat(m, src(p + ".c_proj.weight")));
        }
    }
    // Nothing points into the mapping any more when every tensor was converted: close it.
    if (m.stats.mappedBytes == 0) m.hf.reset();
}

// ---------------------------------------------------------------------------------------------
// GGUF (granitemoe, as the workbench exports it)

std::string dimsToString(const std::vector<uint64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

// Builds the GPT-2 tokenizer from tokenizer.ggml.tokens / merges.
Gpt2Tokenizer tokenizerFromGguf(const GgufFile& f) {
    const std::string model = f.string(gguf::key::kTokenizerModel, gguf::kGpt2TokenizerModel);
    if (model != gguf::kGpt2TokenizerModel)
        throw Error(f.path() + ": tokenizer.ggml.model is '" + model + "'; the engine reads GPT-2 BPE (gpt2) only");
    std::vector<std::string> tokens = f.stringArray(gguf::key::kTokenizerTokens);
    if (!f.find(gguf::key::kTokenizerMerges))
        throw Error(f.path() + ": tokenizer.ggml.tokens is present but tokenizer.ggml.merges is missing");
    const std::vector<std::string> merges = f.stringArray(gguf::key::kTokenizerMerges);
    std::vector<int64_t> types;
    if (f.find(gguf::key::kTokenizerTokenType)) {
        types = f.intArray(gguf::key::kTokenizerTokenType);
        if (types.size() != tokens.size())
            throw Error(f.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) +
                        " entries for " + std::to_string(tokens.size()) + " tokens");
    }
    std::vector<std::pair<std::string, int64_t>> vocab;
    vocab.reserve(tokens.size());
    for (size_t id = 0; id < tokens.size(); ++id) {
        if (!types.empty() && types[id] == int64_t(gguf::TokenType::Unused)) continue;    // padding entries
        vocab.emplace_back(std::move(tokens[id]), int64_t(id));
    }
    return Gpt2Tokenizer::fromTokens(std::move(vocab), merges, f.path() + ": tokenizer metadata", gguf::key::kTokenizerMerges);
}

void loadGguf(Model::Impl& m, const std::string& path) {
    m.gguf = std::make_unique<GgufFile>(path);
    const GgufFile& f = *m.gguf;
    m.stats.format = "gguf";
    const std::string arch = f.string(gguf::key::kArchitecture);
    if (arch != gguf::kEveArchitecture)
        throw Error(path + ": general.architecture is '" + arch + "'; the engine runs Eve exports (granitemoe)");
    const std::string p = std::string(gguf::kEveArchitecture) + ".";
    ModelConfig& c = m.config;
    c.n_embd = f.u32(p + gguf::key::kEmbeddingLength);
    c.n_layer = f.u32(p + gguf::key::kBlockCount);
    c.n_head = f.u32(p + gguf::key::kHeadCount);
    const uint32_t headsKv = f.u32(p + gguf::key::kHeadCountKv, uint32_t(c.n_head));
    if (headsKv != c.n_head)
        throw Error(path + ": attention.head_count_kv " + std::to_string(headsKv) + " differs from head_count " +
                    std::to_string(c.n_head) + " (Eve has no grouped KV)");
    if (c.n_head <= 0 || c.n_embd % c.n_head != 0)
        throw Error(path + ": embedding_length " + std::to_string(c.n_embd) + " is not a multiple of head_count " +
                    std::to_string(c.n_head));
    c.head_dim = f.u32(p + gguf::key::kRopeDimensionCount, uint32_t(c.n_embd / c.n_head));
    c.block_size = f.u32(p + gguf::key::kContextLength);
    c.num_experts = f.u32(p + gguf::key::kExpertCount);
    c.top_k = f.u32(p + gguf::key::kExpertUsedCount);
    c.expert_intermediate_size = f.u32(p + gguf::key::kFeedForwardLength);
    c.shared_expert_intermediate_size = f.u32(p + gguf::key::kSharedExpertFeedForwardLength, 0);
    if (c.shared_expert_intermediate_size == 0)
        throw Error(path + ": " + p + gguf::key::kSharedExpertFeedForwardLength + " is missing or 0; Eve always has a shared expert");
    c.rope_theta = f.f32(p + gguf::key::kRopeFreqBase, 10000.0f);
    m.eps = f.f32(p + gguf::key::kRmsEpsilon, 1e-5f);
    if (!(m.eps > 0.0f) || !(m.eps < 1.0f)) throw Error(path + ": attention.layer_norm_rms_epsilon is out of range");
    const float scale = 1.0f / std::sqrt(float(c.head_dim));
    auto mustBe = [&](const std::string& key, float expected) {
        const float v = f.f32(p + key, expected);
        if (std::fabs(v - expected) > 1e-6f * std::max(1.0f, std::fabs(expected)))
            throw Error(path + ": " + p + key + " is " + std::to_string(v) + "; Eve (and this engine) needs " +
                        std::to_string(expected));
    };
    mustBe(gguf::key::kEmbeddingScale, 1.0f);
    mustBe(gguf::key::kResidualScale, 1.0f);
    mustBe(gguf::key::kLogitScale, 1.0f);
    mustBe(gguf::key::kAttentionScale, scale);

    const GgufTensor* embd = f.tensor("token_embd.weight");
    if (!embd) throw Error(path + ": tensor 'token_embd.weight' is missing");
    if (embd->dims.size() != 2) throw Error(path + ": token_embd.weight must have 2 dimensions, has " + dimsToString(embd->dims));
    c.vocab_size = int64_t(embd->dims[1]);
    const std::string vocabKey = p + gguf::key::kVocabSize;
    if (f.find(vocabKey) && f.u32(vocabKey) != c.vocab_size)
        throw Error(path + ": " + vocabKey + " " + std::to_string(f.u32(vocabKey)) +
                    " disagrees with token_embd.weight " + dimsToString(embd->dims));
    c.dtype = DType::F32;
    checkEngineConfig(m, path);

    std::set<std::string> used;
    auto tensor = [&](const std::string& name, std::vector<uint64_t> dims) {
        const GgufTensor* t = f.tensor(name);
        if (!t) throw Error(path + ": tensor '" + name + "' is missing");
        if (t->dims != dims)
            throw Error(path + ": tensor '" + name + "' is " + dimsToString(t->dims) + ", the metadata needs " +
                        dimsToString(dims) + " (GGUF dims, innermost first)");
        used.insert(name);
        Src s;
        s.name = path + ": " + name;
        s.type = t->type;
        s.data = t->data;
        s.cols = int64_t(dims[0]);
        s.rows = int64_t(t->nelements / dims[0]);
        noteStoredType(m, s.type);
        return s;
    };
    const uint64_t E = uint64_t(c.n_embd), V = uint64_t(c.vocab_size), X = uint64_t(c.num_experts);
    const uint64_t FF = uint64_t(c.expert_intermediate_size), FS = uint64_t(c.shared_expert_intermediate_size);
    if (f.tensor("output.weight")) {
        m.embd = makeMat(m, tensor("token_embd.weight", {E, V}));
        m.head = makeMat(m, tensor("output.weight", {E, V}), m.options.headType ? m.options.headType : m.options.dtype);
    } else {
        makeEmbeddingAndHead(m, tensor("token_embd.weight", {E, V}));
    }
    m.lnf = ownedFloats(m, tensor("output_norm.weight", {E}));
    m.layers.resize(size_t(c.n_layer));
    for (int64_t i = 0; i < c.n_layer; ++i) {
        LayerWeights& l = m.layers[size_t(i)];
        const std::string b = "blk." + std::to_string(i) + ".";
        l.ln1 = ownedFloats(m, tensor(b + "attn_norm.weight", {E}));
        l.ln2 = ownedFloats(m, tensor(b + "ffn_norm.weight", {E}));
        l.wq = makeMat(m, tensor(b + "attn_q.weight", {E, E}));
        l.wk = makeMat(m, tensor(b + "attn_k.weight", {E, E}));
        l.wv = makeMat(m, tensor(b + "attn_v.weight", {E, E}));
        l.wo = makeMat(m, tensor(b + "attn_output.weight", {E, E}));
        l.routerData = ownedFloats(m, tensor(b + "ffn_gate_inp.weight", {E, X}));
        l.shGate = makeMat(m, tensor(b + "ffn_gate_shexp.weight", {E, FS}));
        l.shUp = makeMat(m, tensor(b + "ffn_up_shexp.weight", {E, FS}));
        l.shDown = makeMat(m, tensor(b + "ffn_down_shexp.weight", {FS, E}));
        // Stacked experts: [n_embd, n_ff, n_expert] innermost first = [expert][ff][embd] row-major.
        Mat gate = makeMat(m, tensor(b + "ffn_gate_exps.weight", {E, FF, X}));
        Mat up = makeMat(m, tensor(b + "ffn_up_exps.weight", {E, FF, X}));
        Mat down = makeMat(m, tensor(b + "ffn_down_exps.weight", {FF, E, X}));
        for (uint64_t e = 0; e < X; ++e) {
            l.gate.push_back(sliceRows(gate, int64_t(e * FF), int64_t(FF)));
            l.up.push_back(sliceRows(up, int64_t(e * FF), int64_t(FF)));
            l.down.push_back(sliceRows(down, int64_t(e * E), int64_t(E)));
        }
    }
    std::vector<std::string> unexpected;
    for (const GgufTensor& t : f.tensors())
        if (!used.count(t.name)) unexpected.push_back(t.name);
    if (!unexpected.empty()) {
        std::string list;
        for (size_t i = 0; i < unexpected.size() && i < 8; ++i) list += (i ? ", " : "") + unexpected[i];
        if (unexpected.size() > 8) list += ", ...";
        throw Error(path + ": " + std::to_string(unexpected.size()) + " tensor(s) the model does not use: " + list);
    }

    m.tokenizer = f.find(gguf::key::kTokenizerTokens) ? tokenizerFromGguf(f) : Gpt2Tokenizer::bundled();
    if (m.stats.mappedBytes == 0) m.gguf.reset();
}

bool isGgufPath(const std::string& path) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return false;
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    if (in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0) return true;
    return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

} // namespace

Model Model::load(const std::string& path, const LoadOptions& options) {
    const auto t0 = std::chrono::steady_clock::now();
    auto impl = std::make_shared<Impl>();
    impl->options = options;
    impl->kernels = &kernelsFor(options.isa);
    impl->pool = std::make_unique<ThreadPool>(options.threads);
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(path + ": no such model folder or GGUF file");
    if (isGgufPath(path)) loadGguf(*impl, path);
    else loadHf(*impl, path);
    for (LayerWeights& l : impl->layers) {
        l.router.type = WType::F32;
        l.router.rows = impl->config.num_experts;
        l.router.cols = impl->config.n_embd;
        l.router.rowBytes = size_t(impl->config.n_embd) * 4;
        l.router.data = reinterpret_cast<const uint8_t*>(l.routerData.data());
    }
    finishLoad(*impl);
    impl->stats.loadSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    Model m;
    m.impl_ = std::move(impl);
    return m;
}

Model::Model() = default;

namespace {
Model::Impl& need(const std::shared_ptr<Model::Impl>& p) {
    if (!p) throw Error("engine: the model is not loaded");
    return *p;
}
} // namespace

const ModelConfig& Model::config() const { return need(impl_).config; }
const Gpt2Tokenizer& Model::tokenizer() const { return need(impl_).tokenizer; }
WType Model::weightType() const { return need(impl_).mainType; }
WType Model::headType() const { return need(impl_).head.type; }
WType Model::kvType() const { return need(impl_).kvType; }
void Model::attachProfile(OpProfile* profile) const { need(impl_).profile = profile; }
Isa Model::isa() const { return need(impl_).kernels->isa; }
int Model::threads() const { return need(impl_).pool->size(); }
bool Model::quantizedActivations() const { return need(impl_).q8Acts; }
float Model::rmsEps() const { return need(impl_).eps; }
const ModelStats& Model::stats() const { return need(impl_).stats; }
const std::vector<std::string>& Model::warnings() const { return need(impl_).warnings; }

} // namespace swarm::engine
