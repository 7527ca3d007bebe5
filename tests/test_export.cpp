// The export pipeline (export/): GGUF and Hugging Face exports of a small random model, parsed
// back field by field (gguf_test_parser.h, from the specification), run through the engine and
// compared with their source; the model card; refusals, a full disk and a cancel leave no file.
#include "test_engine_util.h"
#include "gguf_test_parser.h"

#include "engine/engine.h"
#include "engine/gguf.h"
#include "export/export.h"
#include "export/gguf_writer.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/gguf_format.h"
#include "core/half.h"
#include "core/hf_folder.h"
#include "core/safetensors.h"
#include "core/tokenizer.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace swarm;
using namespace gguftest;
using nlohmann::json;

namespace {

std::string readAll(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Runs f with the file-size limit at `limit` bytes (SIGXFSZ ignored), restoring both after.
template <typename F>
std::string withFileSizeLimit(rlim_t limit, F&& f) {
    struct rlimit oldLimit {};
    ::getrlimit(RLIMIT_FSIZE, &oldLimit);
    struct sigaction ignore {}, oldAction {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGXFSZ, &ignore, &oldAction);
    struct rlimit small = oldLimit;
    small.rlim_cur = limit;
    ::setrlimit(RLIMIT_FSIZE, &small);
    std::string error;
    try {
        f();
    } catch (const std::exception& e) {
        error = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &oldLimit);
    ::sigaction(SIGXFSZ, &oldAction, nullptr);
    return error;
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string source_;             // small random model (HF folder, F32, with tokenizer.json)
    ModelConfig config_;
    enginetest::Weights weights_;

    std::string path(const std::string& name) const { return QDir(tmp_.path()).filePath(QString::fromStdString(name)).toStdString(); }

    exporter::ExportResult exportTo(const std::string& out, exporter::Format f, exporter::ExportDType t,
                                    const std::string& src = "") {
        exporter::ExportOptions o;
        o.source = src.empty() ? source_ : src;
        o.format = f;
        o.dtype = t;
        o.out = out;
        o.threads = 2;
        return exporter::exportModel(o);
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        config_ = enginetest::smallConfig();
        weights_ = enginetest::randomWeights(config_, 7);
        source_ = path("src-model");
        enginetest::saveModel(source_, config_, weights_, DType::F32, true);
    }

    // ---- GGUF export ---------------------------------------------------------------------------

    void ggufExportParsesBackFieldByField() {
        const std::string out = path("model-f32.gguf");
        exporter::ExportResult res = exportTo(out, exporter::Format::Gguf, exporter::ExportDType::F32);
        QCOMPARE(res.path, fs::absolute(out).lexically_normal().string());
        QCOMPARE(res.bytes, uint64_t(fs::file_size(out)));
        QVERIFY(contains(res.llamaCpp, "2026"));
        const PFile f = parseGguf(out);
        QCOMPARE(f.version, 3u);
        const ModelConfig& c = config_;
        auto u32 = [&](const std::string& k, uint64_t v) {
            QVERIFY2(f.has(k), k.c_str());
            QVERIFY2(f.at(k).type == 4u, (k + " is not UINT32").c_str());
            QVERIFY2(f.at(k).u == v, (k + " = " + std::to_string(f.at(k).u)).c_str());
        };
        auto f32 = [&](const std::string& k, double v) {
            QVERIFY2(f.has(k), k.c_str());
            QVERIFY2(f.at(k).type == 6u, (k + " is not FLOAT32").c_str());
            QVERIFY2(std::fabs(f.at(k).f - v) < 1e-9, k.c_str());
        };
        auto str = [&](const std::string& k, const std::string& v) {
            QVERIFY2(f.has(k), k.c_str());
            QVERIFY2(f.at(k).type == 8u, (k + " is not STRING").c_str());
            QCOMPARE(f.at(k).s, v);
        };
        str("general.architecture", "granitemoe");
        str("general.name", "src-model");
        u32("general.file_type", 0);
        u32("general.quantization_version", 2);
        u32("general.alignment", 32);
        const std::string p = "granitemoe.";
        u32(p + "context_length", uint64_t(c.block_size));
        u32(p + "embedding_length", uint64_t(c.n_embd));
        u32(p + "block_count", uint64_t(c.n_layer));
        u32(p + "feed_forward_length", uint64_t(c.expert_intermediate_size));
        u32(p + "expert_shared_feed_forward_length", uint64_t(c.shared_expert_intermediate_size));
        u32(p + "expert_count", uint64_t(c.num_experts));
        u32(p + "expert_used_count", uint64_t(c.top_k));
        u32(p + "attention.head_count", uint64_t(c.n_head));
        u32(p + "attention.head_count_kv", uint64_t(c.n_head));
        f32(p + "attention.layer_norm_rms_epsilon", double(1e-5f));
        f32(p + "embedding_scale", 1.0);
        f32(p + "residual_scale", 1.0);
        f32(p + "attention.scale", double(1.0f / std::sqrt(float(c.head_dim))));
        f32(p + "logit_scale", 1.0);
        f32(p + "rope.freq_base", c.rope_theta);
        u32(p + "rope.dimension_count", uint64_t(c.head_dim));
        u32(p + "vocab_size", uint64_t(c.vocab_size));
        QVERIFY(!f.has(p + "rope.scaling.finetuned"));
        str("tokenizer.ggml.model", "gpt2");
        str("tokenizer.ggml.pre", "gpt-2");
        u32("tokenizer.ggml.bos_token_id", 50256);
        u32("tokenizer.ggml.eos_token_id", 50256);
        QCOMPARE(f.at("tokenizer.ggml.add_bos_token").type, 7u);
        QCOMPARE(f.at("tokenizer.ggml.add_bos_token").u, uint64_t(0));
        // Every key is one of those above or general.* model-card facts.
        for (const auto& kv : f.kv)
            QVERIFY2(kv.first.rfind("general.", 0) == 0 || kv.first.rfind("granitemoe.", 0) == 0 ||
                         kv.first.rfind("tokenizer.ggml.", 0) == 0,
                     kv.first.c_str());
        QCOMPARE(f.at("general.tags").arrType, 8u);

        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        const PValue& tokens = f.at("tokenizer.ggml.tokens");
        QCOMPARE(tokens.type, 9u);
        QCOMPARE(tokens.arrType, 8u);
        QCOMPARE(tokens.arr.size(), size_t(50304));
        for (int32_t id = 0; id < 50257; ++id) QCOMPARE(tokens.arr[size_t(id)].s, tok.tokenString(id));
        QCOMPARE(tokens.arr[198].s, std::string("\xc4\x8a"));          // "\n" in byte-level form
        QCOMPARE(tokens.arr[50256].s, std::string("<|endoftext|>"));
        QCOMPARE(tokens.arr[50257].s, std::string("[PAD50257]"));
        QCOMPARE(tokens.arr[50303].s, std::string("[PAD50303]"));
        const PValue& types = f.at("tokenizer.ggml.token_type");
        QCOMPARE(types.arrType, 5u);                                     // INT32, not INT8/UINT8
        QCOMPARE(types.arr.size(), size_t(50304));
        for (size_t id = 0; id < types.arr.size(); ++id)
            QCOMPARE(types.arr[id].i, int64_t(id == 50256 ? 3 : id > 50256 ? 5 : 1));
        const PValue& merges = f.at("tokenizer.ggml.merges");
        QCOMPARE(merges.arrType, 8u);
        QCOMPARE(merges.arr.size(), size_t(50000));
        for (size_t i = 0; i < merges.arr.size(); ++i)
            QCOMPARE(merges.arr[i].s, tok.merges()[i].first + " " + tok.merges()[i].second);
        QCOMPARE(merges.arr[0].s, std::string("\xc4\xa0 t"));

        // Tensors: names, GGUF dims, types, alignment, running offsets; nothing extra (no output.weight).
        const uint64_t E = uint64_t(c.n_embd), V = uint64_t(c.vocab_size), X = uint64_t(c.num_experts);
        const uint64_t FF = uint64_t(c.expert_intermediate_size), FS = uint64_t(c.shared_expert_intermediate_size);
        std::vector<std::pair<std::string, std::vector<uint64_t>>> expected = {{"token_embd.weight", {E, V}}};
        for (int64_t i = 0; i < c.n_layer; ++i) {
            const std::string b = "blk." + std::to_string(i) + ".";
            expected.push_back({b + "attn_norm.weight", {E}});
            expected.push_back({b + "attn_q.weight", {E, E}});
            expected.push_back({b + "attn_k.weight", {E, E}});
            expected.push_back({b + "attn_v.weight", {E, E}});
            expected.push_back({b + "attn_output.weight", {E, E}});
            expected.push_back({b + "ffn_norm.weight", {E}});
            expected.push_back({b + "ffn_gate_inp.weight", {E, X}});
            expected.push_back({b + "ffn_gate_exps.weight", {E, FF, X}});
            expected.push_back({b + "ffn_up_exps.weight", {E, FF, X}});
            expected.push_back({b + "ffn_down_exps.weight", {FF, E, X}});
            expected.push_back({b + "ffn_gate_shexp.weight", {E, FS}});
            expected.push_back({b + "ffn_up_shexp.weight", {E, FS}});
            expected.push_back({b + "ffn_down_shexp.weight", {FS, E}});
        }
        expected.push_back({"output_norm.weight", {E}});
        QCOMPARE(f.tensors.size(), expected.size());
        QCOMPARE(f.dataStart % 32, uint64_t(0));
        QVERIFY(f.dataStart - f.infosEnd < 32);
        uint64_t running = 0;
        for (size_t i = 0; i < expected.size(); ++i) {
            const PTensor& t = f.tensors[i];
            QCOMPARE(t.name, expected[i].first);
            QCOMPARE(t.dims, expected[i].second);
            QCOMPARE(t.type, 0u);
            QCOMPARE(t.offset % 32, uint64_t(0));
            QCOMPARE(t.offset, running);
            uint64_t n = 1;
            for (uint64_t d : t.dims) n *= d;
            running = (t.offset + ggmlBytes(t.type, n) + 31) / 32 * 32;
            if (i + 1 == expected.size()) QCOMPARE(uint64_t(f.bytes.size()), f.dataStart + t.offset + ggmlBytes(t.type, n));
        }
        // Data: exactly the source weights, split and stacked as the table says.
        auto data = [&](const std::string& n) { return f.bytes.data() + f.dataStart + f.tensor(n).offset; };
        auto same = [&](const char* p, const std::vector<float>& v, size_t from, size_t count) {
            return std::memcmp(p, v.data() + from, count * 4) == 0;
        };
        const std::vector<float>& qkv = weights_.at("transformer.h.1.attn.c_attn.weight");
        QVERIFY(same(data("blk.1.attn_q.weight"), qkv, 0, E * E));
        QVERIFY(same(data("blk.1.attn_k.weight"), qkv, E * E, E * E));
        QVERIFY(same(data("blk.1.attn_v.weight"), qkv, 2 * E * E, E * E));
        QVERIFY(same(data("token_embd.weight"), weights_.at("transformer.wte.weight"), 0, E * V));
        QVERIFY(same(data("blk.0.ffn_gate_inp.weight"), weights_.at("transformer.h.0.mlp.router.weight"), 0, E * X));
        for (uint64_t e = 0; e < X; ++e) {
            const std::string ex = "transformer.h.0.mlp.experts." + std::to_string(e);
            QVERIFY(same(data("blk.0.ffn_gate_exps.weight") + e * FF * E * 4, weights_.at(ex + ".w1.weight"), 0, FF * E));
            QVERIFY(same(data("blk.0.ffn_up_exps.weight") + e * FF * E * 4, weights_.at(ex + ".w2.weight"), 0, FF * E));
            QVERIFY(same(data("blk.0.ffn_down_exps.weight") + e * FF * E * 4, weights_.at(ex + ".c_proj.weight"), 0, FF * E));
        }
        QVERIFY(same(data("output_norm.weight"), weights_.at("transformer.ln_f.weight"), 0, E));
        QVERIFY(same(data("blk.1.ffn_down_shexp.weight"), weights_.at("transformer.h.1.mlp.shared_expert.c_proj.weight"), 0, FS * E));
    }

    void quantisedExportsKeepNormsAndRouterF32() {
        const std::string out = path("model-q4.gguf");
        exportTo(out, exporter::Format::Gguf, exporter::ExportDType::Q4_0);
        const PFile f = parseGguf(out);
        QCOMPARE(f.at("general.file_type").u, uint64_t(2));
        for (const PTensor& t : f.tensors) {
            QCOMPARE(t.offset % 32, uint64_t(0));
            const bool keepF32 = contains(t.name, "norm") || contains(t.name, "ffn_gate_inp");
            const uint32_t want = keepF32 ? 0u : t.name == "token_embd.weight" ? 8u : 2u;
            QVERIFY2(t.type == want, t.name.c_str());
        }
        // Q4_0 bytes are exactly the writer's blocks of the source weights.
        const std::vector<float>& w = weights_.at("transformer.h.0.mlp.shared_expert.w2.weight");
        std::vector<gguf::BlockQ4_0> expect(w.size() / 32);
        gguf::quantizeRowQ4_0(w.data(), expect.data(), int64_t(w.size()));
        QVERIFY(std::memcmp(f.bytes.data() + f.dataStart + f.tensor("blk.0.ffn_up_shexp.weight").offset, expect.data(),
                            expect.size() * sizeof(gguf::BlockQ4_0)) == 0);
    }

    // --dtype q4_k writes llama-quantize's Q4_K_M mix for an 8-expert model: checked tensor by
    // tensor on a model whose rows k-quants can hold (n_embd 256) except the 96-wide ffn_down.
    void q4kExportIsLlamaCppsMix() {
        ModelConfig c = enginetest::kquantConfig();
        c.num_experts = 8;
        c.n_layer = 8;                       // "more bits" layers of 8: 0, 3, 6, 7
        const enginetest::Weights w = enginetest::randomWeights(c, 31);
        const std::string src = path("src-kquant");
        enginetest::saveModel(src, c, w, DType::F32, true);
        const std::string out = path("model-q4k.gguf");
        exporter::ExportResult res = exportTo(out, exporter::Format::Gguf, exporter::ExportDType::Q4_K, src);
        qInfo("q4_k: %s", exporter::describe(res).c_str());
        QVERIFY(contains(res.tensorMix, "Q4_K x ") && contains(res.tensorMix, "Q5_0 x ") && contains(res.tensorMix, "Q6_K x 5 ") &&
                contains(res.tensorMix, "Q5_K x 8 ") && contains(res.tensorMix, "Q8_0 x "));
        QVERIFY(contains(exporter::describe(res), "tensor types: "));
        const PFile f = parseGguf(out);
        QCOMPARE(f.at("general.file_type").u, uint64_t(15));          // LLAMA_FTYPE_MOSTLY_Q4_K_M
        auto typeOf = [&](const std::string& name) { return f.tensor(name).type; };
        QCOMPARE(typeOf("token_embd.weight"), 14u);                     // Q6_K (with 4 more-bits ffn_down_shexp: 5)
        QCOMPARE(typeOf("output_norm.weight"), 0u);
        for (int64_t i = 0; i < c.n_layer; ++i) {
            const std::string b = "blk." + std::to_string(i) + ".";
            const bool moreBits = i == 0 || i == 3 || i == 6 || i == 7;
            QCOMPARE(typeOf(b + "attn_q.weight"), 12u);                 // Q4_K
            QCOMPARE(typeOf(b + "attn_k.weight"), 8u);                  // Q8_0 (8 experts)
            QCOMPARE(typeOf(b + "attn_v.weight"), 8u);
            QCOMPARE(typeOf(b + "attn_output.weight"), 13u);            // Q5_K (8 experts)
            QCOMPARE(typeOf(b + "ffn_gate_exps.weight"), 12u);
            QCOMPARE(typeOf(b + "ffn_up_shexp.weight"), 12u);
            QCOMPARE(typeOf(b + "ffn_gate_inp.weight"), 0u);
            // 96-wide rows: Q6_K -> Q8_0 in the more-bits layers, Q4_K -> Q5_0 elsewhere.
            QCOMPARE(typeOf(b + "ffn_down_exps.weight"), moreBits ? 8u : 6u);
            QCOMPARE(typeOf(b + "ffn_down_shexp.weight"), moreBits ? 14u : 12u);   // 256-wide rows: no fallback
        }
        // The bytes are the reference quantiser's.
        const std::vector<float>& q = w.at("transformer.h.1.attn.c_attn.weight");
        std::vector<gguf::BlockQ4_K> expect(size_t(c.n_embd * c.n_embd) / 256);
        gguf::quantizeRowQ4_K(q.data(), expect.data(), c.n_embd * c.n_embd);
        QVERIFY(std::memcmp(f.bytes.data() + f.dataStart + f.tensor("blk.1.attn_q.weight").offset, expect.data(),
                            expect.size() * sizeof(gguf::BlockQ4_K)) == 0);
        // Re-checked like every export: Q4_K_M sits between Q8_0 and Q4_0 here.
        QVERIFY(res.rechecked);
        QVERIFY2(res.recheck.maxAbsDiff <= 2e-1, qPrintable(QString::number(res.recheck.maxAbsDiff)));
        QVERIFY(res.recheck.top1Agreement >= 0.6);
        QVERIFY_THROWS_EXCEPTION(Error, exportTo(path("hf-q4k"), exporter::Format::Hf, exporter::ExportDType::Q4_K, src));
    }

    // Bounds: measured on this random model (logits up to 1.6; 109 positions) with about 3x margin:
    //   f32 0 -> 1e-5, f16 3.0e-4 -> 1e-3, bf16 2.7e-3 -> 1e-2, q8_0 3.0e-2 -> 1e-1, q4_0 7.2e-2 -> 2e-1.
    void exportedLogitsMatchTheSource_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<double>("bound");
        QTest::addColumn<double>("minTop1");
        QTest::newRow("f32") << int(exporter::ExportDType::F32) << 1e-5 << 1.0;
        QTest::newRow("f16") << int(exporter::ExportDType::F16) << 1e-3 << 0.95;
        QTest::newRow("bf16") << int(exporter::ExportDType::BF16) << 1e-2 << 0.9;
        QTest::newRow("q8_0") << int(exporter::ExportDType::Q8_0) << 1e-1 << 0.9;
        QTest::newRow("q4_0") << int(exporter::ExportDType::Q4_0) << 2e-1 << 0.6;
        QTest::newRow("q4_k") << int(exporter::ExportDType::Q4_K) << 2e-1 << 0.6;
    }
    void exportedLogitsMatchTheSource() {
        QFETCH(int, dtype);
        QFETCH(double, bound);
        QFETCH(double, minTop1);
        const auto t = exporter::ExportDType(dtype);
        const std::string out = path(std::string("logits-") + exporter::exportDTypeName(t) + ".gguf");
        exporter::ExportResult res = exportTo(out, exporter::Format::Gguf, t);
        QVERIFY(res.rechecked);
        qInfo("%s: %s", exporter::exportDTypeName(t), exporter::describe(res).c_str());
        QVERIFY(res.recheck.positions >= 80);
        QCOMPARE(res.recheck.prompts, 5);
        QVERIFY2(res.recheck.maxAbsDiff <= bound, qPrintable(QString::number(res.recheck.maxAbsDiff)));
        QVERIFY(res.recheck.meanAbsDiff <= res.recheck.maxAbsDiff);
        QVERIFY(res.recheck.top1Agreement >= minTop1);

        // Independently of the re-check: the engine, with the file's own types (a Q4_0 file becomes
        // Q8_0 exactly, float activations), against the naive double reference of the source.
        engine::LoadOptions lo;
        lo.quantizeActivations = false;
        lo.threads = 2;
        engine::Model m = engine::Model::load(out, lo);
        QCOMPARE(m.config().n_layer, config_.n_layer);
        QCOMPARE(m.config().vocab_size, config_.vocab_size);
        const std::vector<int32_t> ids = m.tokenizer().encode("User: What is 2+2?\nAssistant:");
        QCOMPARE(ids, Gpt2Tokenizer::bundled().encode("User: What is 2+2?\nAssistant:"));
        engine::Session s(m);
        s.prefill(ids, true);
        const auto ref = enginetest::referenceForward(config_, weights_, ids);
        double maxDiff = 0;
        for (size_t p = 0; p < ids.size(); ++p)
            for (int64_t v = 0; v < config_.vocab_size; ++v)
                maxDiff = std::max(maxDiff, std::fabs(double(s.allLogits()[p * size_t(config_.vocab_size) + size_t(v)]) -
                                                      ref[p][size_t(v)]));
        QVERIFY2(maxDiff <= std::max(bound, 1e-4), qPrintable(QString::number(maxDiff)));
    }

    // ---- HF folder export ----------------------------------------------------------------------

    void hfExportLoadsBackBitIdentically() {
        const std::string out = path("hf-f32");
        exporter::ExportResult res = exportTo(out, exporter::Format::Hf, exporter::ExportDType::F32);
        QVERIFY(res.rechecked);
        QCOMPARE(res.recheck.maxAbsDiff, 0.0);
        QCOMPARE(res.recheck.top1Agreement, 1.0);
        QCOMPARE(entries(out), (std::vector<std::string>{"README.md", "config.json", "generation_config.json",
                                                        "model.safetensors", "tokenizer.json"}));
        for (const std::string& e : entries(tmp_.path().toStdString())) QVERIFY2(!contains(e, "export-tmp"), e.c_str());

        HfModelFiles files = locateHfModel(out);
        ModelConfig c = ModelConfig::load(files.configPath);
        QCOMPARE(c.dtype, DType::F32);
        c.dtype = config_.dtype;
        QVERIFY(c == config_);
        HfWeights w = HfWeights::open(files, c);
        for (const ExpectedTensor& e : expectedTensors(config_)) {
            const HfWeights::Entry en = w.get(e.name);
            QCOMPARE(en.info->dtype, DType::F32);
            QVERIFY2(std::memcmp(en.data(), weights_.at(e.name).data(), en.info->nbytes()) == 0, e.name.c_str());
        }
        SafetensorsReader st(out + "/model.safetensors");
        QCOMPARE(st.metadata().at("format"), std::string("pt"));
        QVERIFY(st.find("lm_head.weight"));
        const json cfg = json::parse(readAll(out + "/config.json"));
        QCOMPARE(cfg.at("architectures")[0].get<std::string>(), std::string("DeepSeekMoE"));
        const json gen = json::parse(readAll(out + "/generation_config.json"));
        QCOMPARE(gen.at("eos_token_id").get<int>(), 50256);
        QCOMPARE(gen.at("pad_token_id").get<int>(), 50256);
        const std::string card = readAll(out + "/README.md");
        QVERIFY(contains(card, "User: {prompt}\nAssistant:"));
        QVERIFY(contains(card, "Intended use"));
        QVERIFY(contains(card, "Export re-check"));
        QVERIFY(contains(card, "llama.cpp"));

        // The tokenizer.json encodes the fixture to the workbench tokenizer's ids.
        const std::string fixture = readAll(std::string(SWARM_TEST_DATA_DIR) + "/tokenizer_fixture.txt");
        const Gpt2Tokenizer exported = Gpt2Tokenizer::fromTokenizerJson(out + "/tokenizer.json");
        const std::vector<int32_t> ids = exported.encode(fixture);
        QCOMPARE(ids, Gpt2Tokenizer::bundled().encode(fixture));
        const json fixtureIds = json::parse(readAll(std::string(SWARM_TEST_DATA_DIR) + "/tokenizer_fixture_ids.json"));
        QCOMPARE(ids, fixtureIds.at("ids").get<std::vector<int32_t>>());

        // Exporting again replaces the previous export.
        exporter::ExportResult again = exportTo(out, exporter::Format::Hf, exporter::ExportDType::BF16);
        HfModelFiles f2 = locateHfModel(out);
        ModelConfig c2 = ModelConfig::load(f2.configPath);
        QCOMPARE(c2.dtype, DType::BF16);
        HfWeights w2 = HfWeights::open(f2, c2);
        const HfWeights::Entry en = w2.get("transformer.h.0.attn.c_proj.weight");
        QCOMPARE(en.info->dtype, DType::BF16);
        const std::vector<float>& src = weights_.at("transformer.h.0.attn.c_proj.weight");
        for (size_t i = 0; i < src.size(); ++i) {
            uint16_t h;
            std::memcpy(&h, en.data() + 2 * i, 2);
            QCOMPARE(h, floatToBf16(src[i]));
        }
        QVERIFY(again.recheck.maxAbsDiff < 2e-2);
        QVERIFY_THROWS_EXCEPTION(Error, exportTo(path("hf-q8"), exporter::Format::Hf, exporter::ExportDType::Q8_0));
    }

    void modelCardFromRunAndProject() {
        // A run folder: run.json + final/ (the source model) and a project with an evaluation table.
        const std::string run = path("runs/sql-run");
        fs::create_directories(run);
        fs::copy(source_, run + "/final", fs::copy_options::recursive);
        const std::string project = path("p.swarm");
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(project.c_str(), &db), SQLITE_OK);
        const char* sql =
            "CREATE TABLE datasets (id INTEGER PRIMARY KEY, name TEXT, preset TEXT, source_path TEXT, rows_imported INTEGER, n_tokens INTEGER);"
            "INSERT INTO datasets VALUES (1, 'sql-ds', 'sql-create-context', '/data/sql.jsonl', 25000, 3100000);"
            "CREATE TABLE evaluation (id INTEGER PRIMARY KEY, model TEXT, metric TEXT, value REAL);";
        QCOMPARE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
        const std::string ins = "INSERT INTO evaluation (model, metric, value) VALUES ('" + fs::absolute(run).string() +
                                "', 'exact_match', 0.873), ('/elsewhere', 'exact_match', 0.1);";
        QCOMPARE(sqlite3_exec(db, ins.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
        sqlite3_close(db);
        json manifest = {{"format", "swarm-run"}, {"base_model", "/models/Eve-2-MoE-IT-272M"},
                         {"config", {{"epochs", 2}, {"peak_lr", 5e-5}, {"global_batch", 128}, {"precision", "bf16"}}},
                         {"dataset", {{"name", "sql-ds"}, {"train_examples", 22500}, {"validation_examples", 1250},
                                      {"project", project}}},
                         {"status", "finished"}, {"steps_done", 352}, {"total_steps", 352},
                         {"elapsed_seconds", 5400.0}, {"device", "cuda:0"}, {"train_loss", 0.1834}, {"validation_loss", 0.2011}};
        writeFileAtomically(run + "/run.json", manifest.dump(2));

        const std::string out = path("exports/sql-hf");
        exporter::ExportResult res = exportTo(out, exporter::Format::Hf, exporter::ExportDType::F32, run);
        QCOMPARE(res.sourceModelDir, fs::absolute(run + "/final").string());
        const std::string card = readAll(out + "/README.md");
        for (const char* s : {"# sql-run", "Eve-2-MoE-IT-272M", "sql-ds", "22,500", "25,000", "3,100,000",
                              "sql-create-context", "peak LR 5e-05", "global batch 128", "1h30m", "cuda:0", "0.1834",
                              "0.2011", "exact_match: 0.873", "User: {prompt}\nAssistant:", "Intended use"})
            QVERIFY2(contains(card, s), s);
        QVERIFY(!contains(card, "/elsewhere"));

        // The GGUF export carries the facts in general.* keys.
        const std::string g = path("exports/sql.gguf");
        exportTo(g, exporter::Format::Gguf, exporter::ExportDType::Q8_0, run);
        const PFile f = parseGguf(g);
        QCOMPARE(f.at("general.name").s, std::string("sql-run"));
        QCOMPARE(f.at("general.dataset.0.name").s, std::string("sql-ds"));
        QCOMPARE(f.at("general.base_model.0.name").s, std::string("Eve-2-MoE-IT-272M"));
        QCOMPARE(f.at("general.base_model.count").type, 4u);
        QCOMPARE(f.at("general.file_type").u, uint64_t(7));

        // A checkpoint folder of the run is a source too, described by the run's manifest.
        fs::create_directories(run + "/checkpoints");
        fs::copy(run + "/final", run + "/checkpoints/step-00000005", fs::copy_options::recursive);
        const std::string ck = path("exports/ck.gguf");
        exportTo(ck, exporter::Format::Gguf, exporter::ExportDType::F16, run + "/checkpoints/step-00000005");
        QCOMPARE(parseGguf(ck).at("general.name").s, std::string("sql-run@step-5"));

        // A project without an evaluation table is fine; a run without final/ is refused.
        sqlite3_open(project.c_str(), &db);
        sqlite3_exec(db, "DROP TABLE evaluation;", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        exportTo(path("exports/sql-hf2"), exporter::Format::Hf, exporter::ExportDType::F32, run);
        QVERIFY(contains(readAll(path("exports/sql-hf2/README.md")), "no evaluation results"));
        const std::string run2 = path("runs/unfinished");
        fs::create_directories(run2 + "/checkpoints/step-00000010");
        writeFileAtomically(run2 + "/run.json", json{{"format", "swarm-run"}, {"status", "running"}}.dump());
        writeFileAtomically(run2 + "/checkpoints/step-00000010/trainer_state.json", "{}");
        try {
            exportTo(path("exports/x.gguf"), exporter::Format::Gguf, exporter::ExportDType::F32, run2);
            QFAIL("a run without a final model was exported");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), "no final model") && contains(e.what(), "'running'") && contains(e.what(), "step-00000010"), e.what());
        }
    }

    // ---- robustness ----------------------------------------------------------------------------

    void mismatchedSourceIsRefused() {
        const std::string bad = path("bad-model");
        fs::copy(source_, bad, fs::copy_options::recursive);
        json cfg = json::parse(readAll(bad + "/config.json"));
        cfg["num_experts"] = 5;
        writeFileAtomically(bad + "/config.json", cfg.dump());
        for (exporter::Format fmt : {exporter::Format::Gguf, exporter::Format::Hf}) {
            const std::string out = path(fmt == exporter::Format::Gguf ? "bad.gguf" : "bad-hf");
            try {
                exportTo(out, fmt, exporter::ExportDType::F32, bad);
                QFAIL("a mismatched model was exported");
            } catch (const Error& e) {
                QVERIFY2(contains(e.what(), "refusing to export") && contains(e.what(), "experts.4"), e.what());
            }
            QVERIFY(!fs::exists(out));
        }
    }

    void unwritableDestination() {
        // A destination whose folder is a file (and, when not root, a read-only folder).
        const std::string file = path("plain-file");
        writeFileAtomically(file, "x");
        try {
            exportTo(file + "/m.gguf", exporter::Format::Gguf, exporter::ExportDType::F32);
            QFAIL("exported into a file");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), "m.gguf"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, exportTo(file + "/hf", exporter::Format::Hf, exporter::ExportDType::F32));
        if (::geteuid() != 0) {
            const std::string ro = path("read-only");
            fs::create_directories(ro);
            fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
            QVERIFY_THROWS_EXCEPTION(Error, exportTo(ro + "/m.gguf", exporter::Format::Gguf, exporter::ExportDType::F32));
            QVERIFY_THROWS_EXCEPTION(Error, exportTo(ro + "/hf", exporter::Format::Hf, exporter::ExportDType::F32));
            fs::permissions(ro, fs::perms::owner_all);
            QVERIFY(entries(ro).empty());
        }
        // A folder given as a GGUF destination.
        QVERIFY_THROWS_EXCEPTION(Error, exportTo(tmp_.path().toStdString(), exporter::Format::Gguf, exporter::ExportDType::F32));
    }

    void fullDiskLeavesNoPartialFile() {
        const std::string dir = path("full");
        fs::create_directories(dir);
        writeFileAtomically(dir + "/keep.gguf", "old export");
        // 4 MiB: past the ~1.3 MB of metadata, inside the 12.9 MB embedding.
        std::string error = withFileSizeLimit(4 << 20, [&] {
            exportTo(dir + "/keep.gguf", exporter::Format::Gguf, exporter::ExportDType::F32);
        });
        QVERIFY2(contains(error, "file too large") && contains(error, "keep.gguf"), error.c_str());
        QCOMPARE(entries(dir), std::vector<std::string>{"keep.gguf"});
        QCOMPARE(readAll(dir + "/keep.gguf"), std::string("old export"));
        error = withFileSizeLimit(4 << 20, [&] { exportTo(dir + "/hf", exporter::Format::Hf, exporter::ExportDType::F32); });
        QVERIFY2(contains(error, "file too large") && contains(error, "nothing was written"), error.c_str());
        QCOMPARE(entries(dir), std::vector<std::string>{"keep.gguf"});
    }

    void cancelLeavesNoPartialFile() {
        const std::string dir = path("cancel");
        fs::create_directories(dir);
        for (exporter::Format fmt : {exporter::Format::Gguf, exporter::Format::Hf}) {
            std::atomic<bool> cancel{false};
            std::vector<std::string> stages;
            exporter::ExportOptions o;
            o.source = source_;
            o.format = fmt;
            o.dtype = exporter::ExportDType::F16;
            o.out = dir + (fmt == exporter::Format::Gguf ? "/m.gguf" : "/hf");
            o.cancel = &cancel;
            o.progress = [&](const exporter::ExportProgress& p) {
                stages.push_back(p.stage);
                if (p.stage == "writing" && p.fraction > 0.1) cancel = true;   // mid-write
            };
            try {
                exporter::exportModel(o);
                QFAIL("the export was not cancelled");
            } catch (const gguf::Cancelled& e) {
                QVERIFY2(contains(e.what(), "cancelled"), e.what());
            }
            QVERIFY(entries(dir).empty());
            QVERIFY(std::find(stages.begin(), stages.end(), "writing") != stages.end());
        }
        // Progress reaches "done" at 1.0 on a normal export.
        double last = -1;
        bool monotonic = true;
        exporter::ExportOptions o;
        o.source = source_;
        o.out = dir + "/ok.gguf";
        o.dtype = exporter::ExportDType::Q8_0;
        o.progress = [&](const exporter::ExportProgress& p) {
            monotonic = monotonic && p.fraction >= last;
            last = p.fraction;
        };
        exporter::exportModel(o);
        QVERIFY(monotonic);
        QCOMPARE(last, 1.0);
    }};

QTEST_GUILESS_MAIN(TestExport)
#include "test_export.moc"
