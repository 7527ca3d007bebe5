#pragma once
// Helpers shared by the engine tests (torch-free): random Eve models written as HF folders, a
// deliberately naive double-precision reference forward pass written from the architecture doc,
// and a minimal GGUF writer (test-only; the product's writer is a separate component).
#include "core/gguf_format.h"
#include "core/half.h"
#include "core/hf_folder.h"
#include "core/model_config.h"
#include "core/tokenizer.h"
#include "test_util.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace enginetest {

using swarm::ModelConfig;

// Deterministic normal samples (xorshift + Box-Muller), independent of the code under test.
class Rand {
public:
    explicit Rand(uint64_t seed) : s_(seed * 2654435761u + 0x9e3779b97f4a7c15ull) {}
    uint64_t next() {
        s_ ^= s_ << 13;
        s_ ^= s_ >> 7;
        s_ ^= s_ << 17;
        return s_;
    }
    double uniform() { return double((next() >> 11) + 1) * (1.0 / 9007199254740993.0); }
    double normal() {
        const double u = uniform(), v = uniform();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
    }
private:
    uint64_t s_;
};

// tests/test_util.h's small config with experts 96 wide (the engine tests' reference figures).
inline ModelConfig smallConfig() { return swarm::test::smallConfig(96); }

// smallConfig with rows that k-quants can hold (n_embd 256) and expert down projections that they
// cannot (96 columns, as Eve's 1408 are not a multiple of 256).
inline ModelConfig kquantConfig() {
    ModelConfig c = smallConfig();
    c.n_embd = 256;
    c.head_dim = 64;
    c.shared_expert_intermediate_size = 256;
    return c;
}

using Weights = std::map<std::string, std::vector<float>>;   // canonical name -> row-major floats

// GPT-2-like random init; norms around 1 (not exactly 1, so that a missing norm weight shows).
inline Weights randomWeights(const ModelConfig& c, uint64_t seed, double std = 0.02) {
    Weights w;
    Rand r(seed);
    for (const swarm::ExpectedTensor& t : swarm::expectedTensors(c)) {
        size_t n = 1;
        for (int64_t d : t.shape) n *= size_t(d);
        std::vector<float> v(n);
        if (t.shape.size() == 1) {
            for (float& x : v) x = float(1.0 + 0.1 * r.normal());
        } else {
            const double s = t.name.find("c_proj") != std::string::npos ? std / std::sqrt(2.0 * double(c.n_layer)) : std;
            for (float& x : v) x = float(s * r.normal());
        }
        w[t.name] = std::move(v);
    }
    return w;
}

// Rounds every weight through a storage type (what the engine then reads exactly).
inline void roundWeights(Weights& w, swarm::DType t) {
    for (auto& [name, v] : w)
        for (float& x : v) {
            if (t == swarm::DType::BF16) x = swarm::bf16ToFloat(swarm::floatToBf16(x));
            else if (t == swarm::DType::F16) x = swarm::f16ToFloat(swarm::floatToF16(x));
        }
}

inline void saveModel(const std::string& dir, const ModelConfig& c, const Weights& w, swarm::DType storage,
                      bool withTokenizer = false) {
    std::vector<swarm::TensorData> tensors;
    for (const swarm::ExpectedTensor& t : swarm::expectedTensors(c)) {
        const std::vector<float>& v = w.at(t.name);
        swarm::TensorData d;
        d.name = t.name;
        d.dtype = storage;
        d.shape = t.shape;
        if (storage == swarm::DType::F32) {
            d.bytes.resize(v.size() * 4);
            std::memcpy(d.bytes.data(), v.data(), d.bytes.size());
        } else {
            d.bytes.resize(v.size() * 2);
            for (size_t i = 0; i < v.size(); ++i) {
                uint16_t h = storage == swarm::DType::BF16 ? swarm::floatToBf16(v[i]) : swarm::floatToF16(v[i]);
                std::memcpy(d.bytes.data() + 2 * i, &h, 2);
            }
        }
        tensors.push_back(std::move(d));
    }
    swarm::Gpt2Tokenizer tok = swarm::Gpt2Tokenizer::bundled();
    swarm::saveHfModel(dir, c, tensors, withTokenizer ? &tok : nullptr);
}

// ---------------------------------------------------------------------------------------------
// Naive reference: one token at a time, double precision, straight from the doc's formulas.
// Returns logits [T][vocab].
inline std::vector<std::vector<double>> referenceForward(const ModelConfig& c, const Weights& w,
                                                         const std::vector<int32_t>& ids) {
    const int64_t T = int64_t(ids.size()), E = c.n_embd, H = c.n_head, D = c.head_dim;
    auto P = [&](const std::string& n) -> const std::vector<float>& { return w.at(n); };
    auto matvec = [](const std::vector<float>& W, int64_t rows, int64_t cols, const std::vector<double>& x) {
        std::vector<double> y(static_cast<size_t>(rows), 0.0);
        for (int64_t r = 0; r < rows; ++r) {
            double s = 0;
            for (int64_t k = 0; k < cols; ++k) s += double(W[size_t(r * cols + k)]) * x[size_t(k)];
            y[size_t(r)] = s;
        }
        return y;
    };
    auto rms = [&](const std::vector<double>& x, const std::vector<float>& g) {
        double ss = 0;
        for (double v : x) ss += v * v;
        const double r = 1.0 / std::sqrt(ss / double(x.size()) + 1e-5);
        std::vector<double> y(x.size());
        for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * double(g[i]);
        return y;
    };
    auto expert = [&](const std::string& p, int64_t ff, const std::vector<double>& x) {
        std::vector<double> g = matvec(P(p + ".w1.weight"), ff, E, x);
        std::vector<double> u = matvec(P(p + ".w2.weight"), ff, E, x);
        for (int64_t i = 0; i < ff; ++i) g[size_t(i)] = g[size_t(i)] / (1.0 + std::exp(-g[size_t(i)])) * u[size_t(i)];
        return matvec(P(p + ".c_proj.weight"), E, ff, g);
    };

    const size_t nT = static_cast<size_t>(T);
    std::vector<std::vector<double>> x(nT, std::vector<double>(static_cast<size_t>(E)));
    const std::vector<float>& wte = P("transformer.wte.weight");
    for (int64_t t = 0; t < T; ++t)
        for (int64_t e = 0; e < E; ++e) x[size_t(t)][size_t(e)] = wte[size_t(ids[size_t(t)] * E + e)];

    for (int64_t l = 0; l < c.n_layer; ++l) {
        const std::string h = "transformer.h." + std::to_string(l);
        std::vector<std::vector<double>> q(nT), k(nT), v(nT);
        for (int64_t t = 0; t < T; ++t) {
            std::vector<double> qkv = matvec(P(h + ".attn.c_attn.weight"), 3 * E, E, rms(x[size_t(t)], P(h + ".ln_1.weight")));
            q[size_t(t)].assign(qkv.begin(), qkv.begin() + E);
            k[size_t(t)].assign(qkv.begin() + E, qkv.begin() + 2 * E);
            v[size_t(t)].assign(qkv.begin() + 2 * E, qkv.end());
            for (int64_t hh = 0; hh < H; ++hh)
                for (int64_t j = 0; j < D / 2; ++j) {
                    const double ang = double(t) * std::pow(c.rope_theta, -2.0 * double(j) / double(D));
                    for (auto* vec : {&q[size_t(t)], &k[size_t(t)]}) {
                        double& a = (*vec)[size_t(hh * D + 2 * j)];
                        double& b = (*vec)[size_t(hh * D + 2 * j + 1)];
                        const double na = a * std::cos(ang) - b * std::sin(ang);
                        const double nb = a * std::sin(ang) + b * std::cos(ang);
                        a = na;
                        b = nb;
                    }
                }
        }
        for (int64_t t = 0; t < T; ++t) {
            std::vector<double> y(static_cast<size_t>(E), 0.0);
            for (int64_t hh = 0; hh < H; ++hh) {
                std::vector<double> s(static_cast<size_t>(t + 1));
                double mx = -1e300;
                for (int64_t u = 0; u <= t; ++u) {
                    double d = 0;
                    for (int64_t j = 0; j < D; ++j) d += q[size_t(t)][size_t(hh * D + j)] * k[size_t(u)][size_t(hh * D + j)];
                    s[size_t(u)] = d / std::sqrt(double(D));
                    mx = std::max(mx, s[size_t(u)]);
                }
                double sum = 0;
                for (double& z : s) { z = std::exp(z - mx); sum += z; }
                for (int64_t u = 0; u <= t; ++u)
                    for (int64_t j = 0; j < D; ++j) y[size_t(hh * D + j)] += s[size_t(u)] / sum * v[size_t(u)][size_t(hh * D + j)];
            }
            std::vector<double> o = matvec(P(h + ".attn.c_proj.weight"), E, E, y);
            for (int64_t e = 0; e < E; ++e) x[size_t(t)][size_t(e)] += o[size_t(e)];
        }
        for (int64_t t = 0; t < T; ++t) {
            std::vector<double> xn = rms(x[size_t(t)], P(h + ".ln_2.weight"));
            std::vector<double> p = matvec(P(h + ".mlp.router.weight"), c.num_experts, E, xn);
            double mx = -1e300, sum = 0;
            for (double z : p) mx = std::max(mx, z);
            for (double& z : p) { z = std::exp(z - mx); sum += z; }
            for (double& z : p) z /= sum;
            std::vector<int64_t> chosen;
            for (int64_t j = 0; j < c.top_k; ++j) {
                int64_t best = -1;
                for (int64_t e = 0; e < c.num_experts; ++e) {
                    bool taken = false;
                    for (int64_t ch : chosen) taken = taken || ch == e;
                    if (!taken && (best < 0 || p[size_t(e)] > p[size_t(best)])) best = e;
                }
                chosen.push_back(best);
            }
            double csum = 0;
            for (int64_t e : chosen) csum += p[size_t(e)];
            std::vector<double> out = expert(h + ".mlp.shared_expert", c.shared_expert_intermediate_size, xn);
            for (int64_t e : chosen) {
                std::vector<double> ye = expert(h + ".mlp.experts." + std::to_string(e), c.expert_intermediate_size, xn);
                for (int64_t i = 0; i < E; ++i) out[size_t(i)] += p[size_t(e)] / csum * ye[size_t(i)];
            }
            for (int64_t i = 0; i < E; ++i) x[size_t(t)][size_t(i)] += out[size_t(i)];
        }
    }
    std::vector<std::vector<double>> logits(nT);
    for (int64_t t = 0; t < T; ++t) logits[size_t(t)] = matvec(wte, c.vocab_size, E, rms(x[size_t(t)], P("transformer.ln_f.weight")));
    return logits;
}

// max |a - b| / (max(b) - min(b)) over one row
template <class A, class B>
double relativeError(const A* a, const B* b, size_t n) {
    double maxDiff = 0, lo = 1e300, hi = -1e300;
    for (size_t i = 0; i < n; ++i) {
        maxDiff = std::max(maxDiff, std::fabs(double(a[i]) - double(b[i])));
        lo = std::min(lo, double(b[i]));
        hi = std::max(hi, double(b[i]));
    }
    return maxDiff / std::max(hi - lo, 1e-30);
}

// ---------------------------------------------------------------------------------------------
// Minimal GGUF writer (little-endian host). Values are appended already encoded, so tests can
// write any (also wrong) type for a key.
class GgufWriter {
public:
    static constexpr uint32_t kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9, kU64 = 10;

    template <class T>
    static void put(std::string& out, T v) { out.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
    static void putString(std::string& out, const std::string& s) {
        put<uint64_t>(out, s.size());
        out += s;
    }

    void raw(const std::string& key, uint32_t type, const std::string& payload) {
        putString(kv_, key);
        put<uint32_t>(kv_, type);
        kv_ += payload;
        ++nKv_;
    }
    void u32(const std::string& key, uint32_t v) { std::string p; put(p, v); raw(key, kU32, p); }
    void f32(const std::string& key, float v) { std::string p; put(p, v); raw(key, kF32, p); }
    void boolean(const std::string& key, bool v) { raw(key, kBool, std::string(1, char(v ? 1 : 0))); }
    void str(const std::string& key, const std::string& v) { std::string p; putString(p, v); raw(key, kString, p); }
    void strArray(const std::string& key, const std::vector<std::string>& v) {
        std::string p;
        put<uint32_t>(p, kString);
        put<uint64_t>(p, v.size());
        for (const std::string& s : v) putString(p, s);
        raw(key, kArray, p);
    }
    void i32Array(const std::string& key, const std::vector<int32_t>& v) {
        std::string p;
        put<uint32_t>(p, kI32);
        put<uint64_t>(p, v.size());
        for (int32_t x : v) put(p, x);
        raw(key, kArray, p);
    }

    // dims innermost first; data already in the ggml type's bytes.
    void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t ggmlType, std::string data) {
        tensors_.push_back({name, std::move(dims), ggmlType, std::move(data)});
    }

    std::string build(uint32_t alignment = 32, uint32_t version = 3) const {
        std::string out = "GGUF";
        put<uint32_t>(out, version);
        put<uint64_t>(out, tensors_.size());
        put<uint64_t>(out, nKv_);
        out += kv_;
        uint64_t offset = 0;
        for (const T& t : tensors_) {
            putString(out, t.name);
            put<uint32_t>(out, uint32_t(t.dims.size()));
            for (uint64_t d : t.dims) put<uint64_t>(out, d);
            put<uint32_t>(out, t.type);
            put<uint64_t>(out, offset);
            offset += (t.data.size() + alignment - 1) / alignment * alignment;
        }
        out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
        for (const T& t : tensors_) {
            out += t.data;
            out.resize(out.size() + ((alignment - t.data.size() % alignment) % alignment), '\0');
        }
        return out;
    }

private:
    struct T {
        std::string name;
        std::vector<uint64_t> dims;
        uint32_t type;
        std::string data;
    };
    std::string kv_;
    uint64_t nKv_ = 0;
    std::vector<T> tensors_;
};

// The ggml ids of the block types whose codecs the tests take from core/gguf_format (checked on
// their own against independently generated vectors in test_gguf_kquants).
inline bool productCodec(uint32_t type) { return type == 6 || type == 7 || type == 12 || type == 13 || type == 14; }

// ggml encodings of float data (test-side, from the GGUF spec in gguf-export.md).
inline std::string ggmlBytes(const std::vector<float>& v, uint32_t type) {
    std::string out;
    if (productCodec(type)) {
        const auto t = swarm::gguf::TensorType(type);
        out.resize(size_t(swarm::gguf::tensorBytes(t, v.size(), v.size())));
        swarm::gguf::encodeRow(t, v.data(), reinterpret_cast<uint8_t*>(out.data()), int64_t(v.size()));
    } else if (type == 0) {
        out.resize(v.size() * 4);
        std::memcpy(out.data(), v.data(), out.size());
    } else if (type == 1 || type == 30) {
        for (float x : v) GgufWriter::put<uint16_t>(out, type == 1 ? swarm::floatToF16(x) : swarm::floatToBf16(x));
    } else if (type == 8) {                       // Q8_0: d = max|x| / 127, q = round(x / d)
        for (size_t b = 0; b < v.size() / 32; ++b) {
            float amax = 0;
            for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[b * 32 + i]));
            const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
            GgufWriter::put<uint16_t>(out, swarm::floatToF16(d));
            for (int i = 0; i < 32; ++i) out += char(int8_t(std::round(v[b * 32 + i] * id)));
        }
    } else if (type == 2) {                       // Q4_0: d = (value of max magnitude) / -8
        for (size_t b = 0; b < v.size() / 32; ++b) {
            float amax = 0, mx = 0;
            for (int i = 0; i < 32; ++i)
                if (std::fabs(v[b * 32 + i]) > amax) { amax = std::fabs(v[b * 32 + i]); mx = v[b * 32 + i]; }
            const float d = mx / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
            GgufWriter::put<uint16_t>(out, swarm::floatToF16(d));
            for (int i = 0; i < 16; ++i) {
                int lo = std::min(15, std::max(0, int(std::round(v[b * 32 + i] * id)) + 8));
                int hi = std::min(15, std::max(0, int(std::round(v[b * 32 + 16 + i] * id)) + 8));
                out += char(uint8_t(lo | (hi << 4)));
            }
        }
    }
    return out;
}

// Decodes ggml bytes back to floats (Q8_0 / Q4_0 / F16 / BF16 / F32), the values a file holds.
inline std::vector<float> ggmlValues(const std::string& bytes, uint32_t type, size_t n) {
    std::vector<float> out(n);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data());
    if (productCodec(type)) {
        swarm::gguf::decodeRow(swarm::gguf::TensorType(type), p, out.data(), int64_t(n));
        return out;
    }
    for (size_t i = 0; i < n; ++i) {
        if (type == 0) std::memcpy(&out[i], p + 4 * i, 4);
        else if (type == 1 || type == 30) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            out[i] = type == 1 ? swarm::f16ToFloat(h) : swarm::bf16ToFloat(h);
        } else if (type == 8) {
            const uint8_t* b = p + (i / 32) * 34;
            uint16_t h;
            std::memcpy(&h, b, 2);
            out[i] = swarm::f16ToFloat(h) * float(int8_t(b[2 + i % 32]));
        } else if (type == 2) {
            const uint8_t* b = p + (i / 32) * 18;
            uint16_t h;
            std::memcpy(&h, b, 2);
            const int j = int(i % 32);
            const int q = j < 16 ? (b[2 + j] & 0x0f) : (b[2 + j - 16] >> 4);
            out[i] = swarm::f16ToFloat(h) * float(q - 8);
        }
    }
    return out;
}

// The granitemoe GGUF of a model (gguf-export.md): metadata, tokenizer (optional) and tensors, with
// matrices in `type` (norms and router F32). When `roundTrip` is given, it receives the weights
// as the file holds them (after quantisation).
struct GgufEdits {
    std::map<std::string, uint32_t> u32;     // replaces the value of these UINT32 keys
    std::map<std::string, float> f32;        // and of these FLOAT32 keys
    std::string skipTensor;                  // leaves this tensor out
    std::map<size_t, std::string> merges;    // replaces these tokenizer.ggml.merges entries
    // Matrices whose name ends with a key get that ggml type instead of the file's (a llama.cpp
    // mix such as Q4_K_M). Either way a k-quant type on rows that are not a multiple of 256 takes
    // llama.cpp's fallback (gguf::kquantFallback), as llama-quantize does.
    std::map<std::string, uint32_t> tensorTypes;
};

inline GgufWriter eveGguf(const ModelConfig& c, const Weights& w, uint32_t type, bool withTokenizer,
                          Weights* roundTrip = nullptr, const GgufEdits& edits = {}) {
    struct Writer : GgufWriter {
        const GgufEdits* edits = nullptr;
        void u32(const std::string& key, uint32_t v) {
            auto it = edits->u32.find(key);
            GgufWriter::u32(key, it == edits->u32.end() ? v : it->second);
        }
        void f32(const std::string& key, float v) {
            auto it = edits->f32.find(key);
            GgufWriter::f32(key, it == edits->f32.end() ? v : it->second);
        }
        void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t t, std::string data) {
            if (name != edits->skipTensor) GgufWriter::tensor(name, std::move(dims), t, std::move(data));
        }
    } g;
    g.edits = &edits;
    const std::string p = "granitemoe.";
    g.str("general.architecture", "granitemoe");
    g.str("general.name", "eve-test");
    g.u32("general.file_type", swarm::gguf::fileTypeOf(swarm::gguf::TensorType(type)));
    g.u32("general.quantization_version", 2);
    g.u32("general.alignment", 32);
    g.u32(p + "context_length", uint32_t(c.block_size));
    g.u32(p + "embedding_length", uint32_t(c.n_embd));
    g.u32(p + "block_count", uint32_t(c.n_layer));
    g.u32(p + "feed_forward_length", uint32_t(c.expert_intermediate_size));
    g.u32(p + "expert_shared_feed_forward_length", uint32_t(c.shared_expert_intermediate_size));
    g.u32(p + "expert_count", uint32_t(c.num_experts));
    g.u32(p + "expert_used_count", uint32_t(c.top_k));
    g.u32(p + "attention.head_count", uint32_t(c.n_head));
    g.u32(p + "attention.head_count_kv", uint32_t(c.n_head));
    g.f32(p + "attention.layer_norm_rms_epsilon", 1e-5f);
    g.f32(p + "embedding_scale", 1.0f);
    g.f32(p + "residual_scale", 1.0f);
    g.f32(p + "attention.scale", float(1.0 / std::sqrt(double(c.head_dim))));
    g.f32(p + "logit_scale", 1.0f);
    g.f32(p + "rope.freq_base", float(c.rope_theta));
    g.u32(p + "rope.dimension_count", uint32_t(c.head_dim));
    g.u32(p + "vocab_size", uint32_t(c.vocab_size));
    if (withTokenizer) {
        swarm::Gpt2Tokenizer tok = swarm::Gpt2Tokenizer::bundled();
        std::vector<std::string> tokens;
        std::vector<int32_t> types;
        for (int32_t id = 0; id < c.vocab_size; ++id) {
            if (id < tok.vocabSize()) {
                tokens.push_back(tok.tokenString(id));
                types.push_back(id == 50256 ? 3 : 1);
            } else {
                tokens.push_back("[PAD" + std::to_string(id) + "]");
                types.push_back(5);
            }
        }
        std::vector<std::string> merges;
        for (const auto& [a, b] : tok.merges()) merges.push_back(a + " " + b);
        for (const auto& [i, m] : edits.merges) merges.at(i) = m;
        g.str("tokenizer.ggml.model", "gpt2");
        g.str("tokenizer.ggml.pre", "gpt-2");
        g.strArray("tokenizer.ggml.tokens", tokens);
        g.i32Array("tokenizer.ggml.token_type", types);
        g.strArray("tokenizer.ggml.merges", merges);
        g.u32("tokenizer.ggml.bos_token_id", 50256);
        g.u32("tokenizer.ggml.eos_token_id", 50256);
        g.boolean("tokenizer.ggml.add_bos_token", false);
    }
    const uint64_t E = uint64_t(c.n_embd), V = uint64_t(c.vocab_size), X = uint64_t(c.num_experts);
    const uint64_t FF = uint64_t(c.expert_intermediate_size), FS = uint64_t(c.shared_expert_intermediate_size);
    auto typeOf = [&](const std::string& name, uint64_t rowLength, uint32_t t) {
        if (t == 0) return t;                     // norms and the router stay F32
        for (const auto& [suffix, type] : edits.tensorTypes)
            if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) t = type;
        return uint32_t(swarm::gguf::kquantFallback(swarm::gguf::TensorType(t), rowLength));
    };
    auto add = [&](const std::string& name, std::vector<uint64_t> dims, const std::vector<float>& v, uint32_t t,
                   const std::vector<std::string>& sources) {
        t = typeOf(name, dims[0], t);
        std::string bytes = ggmlBytes(v, t);
        if (roundTrip) {
            std::vector<float> back = ggmlValues(bytes, t, v.size());
            size_t off = 0;
            for (const std::string& s : sources) {
                std::vector<float>& dst = (*roundTrip)[s];
                dst.assign(back.begin() + long(off), back.begin() + long(off + w.at(s).size()));
                off += w.at(s).size();
            }
        }
        g.tensor(name, std::move(dims), t, std::move(bytes));
    };
    auto cat = [&](const std::vector<std::string>& names) {
        std::vector<float> out;
        for (const std::string& n : names) out.insert(out.end(), w.at(n).begin(), w.at(n).end());
        return out;
    };
    add("token_embd.weight", {E, V}, w.at("transformer.wte.weight"), type, {"transformer.wte.weight"});
    add("output_norm.weight", {E}, w.at("transformer.ln_f.weight"), 0, {"transformer.ln_f.weight"});
    for (int64_t i = 0; i < c.n_layer; ++i) {
        const std::string h = "transformer.h." + std::to_string(i), b = "blk." + std::to_string(i) + ".";
        add(b + "attn_norm.weight", {E}, w.at(h + ".ln_1.weight"), 0, {h + ".ln_1.weight"});
        add(b + "ffn_norm.weight", {E}, w.at(h + ".ln_2.weight"), 0, {h + ".ln_2.weight"});
        const std::vector<float>& qkv = w.at(h + ".attn.c_attn.weight");
        const size_t EE = size_t(E * E);
        // q, k, v are slices of c_attn: round-trip them through a temporary name each.
        for (int part = 0; part < 3; ++part) {
            std::vector<float> slice(qkv.begin() + long(part * EE), qkv.begin() + long((part + 1) * EE));
            const std::string name = b + (part == 0 ? "attn_q.weight" : part == 1 ? "attn_k.weight" : "attn_v.weight");
            const uint32_t t = typeOf(name, E, type);
            std::string bytes = ggmlBytes(slice, t);
            if (roundTrip) {
                std::vector<float> back = ggmlValues(bytes, t, slice.size());
                std::vector<float>& dst = (*roundTrip)[h + ".attn.c_attn.weight"];
                dst.resize(qkv.size());
                std::copy(back.begin(), back.end(), dst.begin() + long(part * EE));
            }
            g.tensor(name, {E, E}, t, std::move(bytes));
        }
        add(b + "attn_output.weight", {E, E}, w.at(h + ".attn.c_proj.weight"), type, {h + ".attn.c_proj.weight"});
        add(b + "ffn_gate_inp.weight", {E, X}, w.at(h + ".mlp.router.weight"), 0, {h + ".mlp.router.weight"});
        const std::string sh = h + ".mlp.shared_expert";
        add(b + "ffn_gate_shexp.weight", {E, FS}, w.at(sh + ".w1.weight"), type, {sh + ".w1.weight"});
        add(b + "ffn_up_shexp.weight", {E, FS}, w.at(sh + ".w2.weight"), type, {sh + ".w2.weight"});
        add(b + "ffn_down_shexp.weight", {FS, E}, w.at(sh + ".c_proj.weight"), type, {sh + ".c_proj.weight"});
        std::vector<std::string> w1, w2, w3;
        for (int64_t e = 0; e < c.num_experts; ++e) {
            const std::string ex = h + ".mlp.experts." + std::to_string(e);
            w1.push_back(ex + ".w1.weight");
            w2.push_back(ex + ".w2.weight");
            w3.push_back(ex + ".c_proj.weight");
        }
        add(b + "ffn_gate_exps.weight", {E, FF, X}, cat(w1), type, w1);
        add(b + "ffn_up_exps.weight", {E, FF, X}, cat(w2), type, w2);
        add(b + "ffn_down_exps.weight", {FF, E, X}, cat(w3), type, w3);
    }
    return g;
}

} // namespace enginetest
