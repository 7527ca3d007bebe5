// The GGUF reader on good and bad files (every truncation, lying sizes and counts, wrong magic and
// version, offsets past the end) and Eve models loaded from GGUF (granitemoe layout) in every
// stored type, against the same model loaded from a Hugging Face folder and the naive reference.
#include "engine/engine.h"
#include "engine/gguf.h"

#include "core/error.h"

#include "test_engine_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace swarm;
using namespace swarm::engine;
using enginetest::GgufWriter;
using enginetest::relativeError;

namespace {

const std::vector<int32_t> kPrompt = {15496, 11, 995, 0, 318, 257, 1332, 13, 383, 2068, 7586};

void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

template <class T>
std::string le(T v) {
    std::string s;
    GgufWriter::put(s, v);
    return s;
}

// A header followed by raw bytes (for hand-made lies).
std::string header(uint64_t nTensors, uint64_t nKv, uint32_t version = 3) {
    return "GGUF" + le<uint32_t>(version) + le<uint64_t>(nTensors) + le<uint64_t>(nKv);
}
std::string str(const std::string& s) { return le<uint64_t>(s.size()) + s; }

// One tensor info: name, dims, type, offset.
std::string tensorInfo(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    std::string s = str(name) + le<uint32_t>(uint32_t(dims.size()));
    for (uint64_t d : dims) s += le<uint64_t>(d);
    return s + le<uint32_t>(type) + le<uint64_t>(offset);
}

std::string pad(std::string s, size_t alignment = 32) {
    s.resize((s.size() + alignment - 1) / alignment * alignment, '\0');
    return s;
}

} // namespace

class TestEngineGguf : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    int fileNo_ = 0;

    std::string file(const std::string& bytes) {
        std::string path = tmp_.filePath(QString("f%1.gguf").arg(fileNo_++)).toStdString();
        writeFile(path, bytes);
        return path;
    }

    void expectError(const std::string& bytes, const char* what, const char* mention = nullptr) {
        const std::string path = file(bytes);
        try {
            GgufFile f(path);
            QFAIL(qPrintable(QString("accepted a bad file: ") + what));
        } catch (const Error& e) {
            if (mention && std::string(e.what()).find(mention) == std::string::npos)
                QFAIL(qPrintable(QString("%1: message '%2' does not mention '%3'").arg(what, e.what(), mention)));
        }
    }

    GgufWriter goodWriter() {
        GgufWriter g;
        g.str("general.architecture", "test");
        g.u32("general.alignment", 64);
        g.f32("some.float", 0.25f);
        g.boolean("some.bool", true);
        g.strArray("some.strings", {"a", "", "héllo"});
        g.i32Array("some.ints", {-1, 2, 3});
        g.raw("some.u8", 0, std::string(1, char(200)));
        g.raw("some.i8", 1, std::string(1, char(-5)));
        g.raw("some.u16", 2, le<uint16_t>(65000));
        g.raw("some.i16", 3, le<int16_t>(-300));
        g.raw("some.u64", 10, le<uint64_t>(1ull << 40));
        g.raw("some.i64", 11, le<int64_t>(-(1ll << 40)));
        g.raw("some.f64", 12, le<double>(2.5));
        g.raw("some.u8array", 9, le<uint32_t>(0) + le<uint64_t>(3) + std::string("\x01\x02\x03", 3));
        std::vector<float> a = {1, 2, 3, 4, 5, 6};
        g.tensor("a", {3, 2}, 0, enginetest::ggmlBytes(a, 0));
        std::vector<float> b(64);
        for (size_t i = 0; i < b.size(); ++i) b[i] = float(i) - 30.0f;
        g.tensor("b", {32, 2}, 8, enginetest::ggmlBytes(b, 8));
        return g;
    }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void readsMetadataAndTensors() {
        GgufFile f(file(goodWriter().build(64)));
        QCOMPARE(f.version(), 3u);
        QCOMPARE(f.alignment(), uint64_t(64));
        QCOMPARE(f.dataOffset() % 64, uint64_t(0));
        QCOMPARE(f.string("general.architecture"), std::string("test"));
        QCOMPARE(f.f32("some.float"), 0.25f);
        QCOMPARE(f.boolean("some.bool", false), true);
        QCOMPARE(f.u32("missing.key", 7u), 7u);
        QCOMPARE(f.stringArray("some.strings"), (std::vector<std::string>{"a", "", "héllo"}));
        QCOMPARE(f.intArray("some.ints"), (std::vector<int64_t>{-1, 2, 3}));
        QCOMPARE(f.intArray("some.u8array"), (std::vector<int64_t>{1, 2, 3}));
        QCOMPARE(f.find("some.u8")->u, uint64_t(200));
        QCOMPARE(f.find("some.i8")->i, int64_t(-5));
        QCOMPARE(f.find("some.u16")->u, uint64_t(65000));
        QCOMPARE(f.find("some.i16")->i, int64_t(-300));
        QCOMPARE(f.find("some.u64")->u, uint64_t(1) << 40);
        QCOMPARE(f.find("some.i64")->i, -(int64_t(1) << 40));
        QCOMPARE(f.find("some.f64")->f, 2.5);
        QCOMPARE(f.keys().size(), size_t(14));
        QVERIFY_THROWS_EXCEPTION(Error, f.u32("some.float"));          // wrong type: named error
        QVERIFY_THROWS_EXCEPTION(Error, f.string("missing.key"));
        QVERIFY_THROWS_EXCEPTION(Error, f.stringArray("some.ints"));
        QCOMPARE(f.tensors().size(), size_t(2));
        const GgufTensor* a = f.tensor("a");
        QVERIFY(a);
        QCOMPARE(a->dims, (std::vector<uint64_t>{3, 2}));
        QCOMPARE(a->nbytes, uint64_t(24));
        float a5;
        std::memcpy(&a5, a->data + 20, 4);
        QCOMPARE(a5, 6.0f);
        const GgufTensor* b = f.tensor("b");
        QCOMPARE(uint32_t(b->type), uint32_t(gguf::TensorType::Q8_0));
        QCOMPARE(b->nbytes, uint64_t(68));
        QCOMPARE(b->offset % 64, uint64_t(0));
        QVERIFY(!f.tensor("c"));
        GgufFile v2(file(goodWriter().build(64, 2)));
        QCOMPARE(v2.version(), 2u);
    }

    // Every prefix of a valid file that cuts into its header or tensor data is an error.
    void everyTruncationFails() {
        const std::string good = goodWriter().build(64);
        uint64_t needed = 0;
        {
            GgufFile f(file(good));
            for (const GgufTensor& t : f.tensors()) needed = std::max(needed, f.dataOffset() + t.offset + t.nbytes);
        }
        const std::string path = tmp_.filePath("trunc.gguf").toStdString();
        for (size_t len = 0; len < good.size(); ++len) {
            writeFile(path, good.substr(0, len));
            bool threw = false;
            try {
                GgufFile f(path);
            } catch (const Error&) {
                threw = true;
            }
            if (len < needed && !threw) QFAIL(qPrintable(QString("a file cut at %1 of %2 bytes loaded").arg(len).arg(good.size())));
            if (len >= needed && threw) QFAIL(qPrintable(QString("a complete file (padding cut at %1) failed").arg(len)));
        }
    }

    void lyingFiles() {
        const std::string kv1 = str("k") + le<uint32_t>(4) + le<uint32_t>(1);
        expectError("GGUX" + le<uint32_t>(3) + le<uint64_t>(0) + le<uint64_t>(0), "bad magic", "magic");
        expectError(header(0, 0, 1), "version 1", "version 1");
        expectError(header(0, 0, 4), "version 4", "version 4");
        expectError(header(0, 0, 0x03000000), "big-endian", "big-endian");
        expectError("GG", "tiny file");
        expectError(header(uint64_t(1) << 62, 0), "huge tensor count", "tensor count");
        expectError(header(0, uint64_t(1) << 62), "huge metadata count", "metadata count");
        expectError(header(0, 2) + kv1, "metadata count larger than present", "metadata count");
        expectError(header(0, 1) + le<uint64_t>(uint64_t(1) << 63) + "k", "huge key length", "");
        expectError(header(0, 1) + str("k") + le<uint32_t>(8) + le<uint64_t>(~uint64_t(0)), "huge string value", "truncated");
        expectError(header(0, 1) + str("k") + le<uint32_t>(9) + le<uint32_t>(8) + le<uint64_t>(uint64_t(1) << 60),
                    "huge string array", "more than the file can hold");
        expectError(header(0, 1) + str("k") + le<uint32_t>(9) + le<uint32_t>(4) + le<uint64_t>(uint64_t(1) << 61) + std::string(64, 'x'),
                    "huge u32 array", "more than the file can hold");
        expectError(header(0, 1) + str("k") + le<uint32_t>(9) + le<uint32_t>(6) + le<uint64_t>(3) + le<float>(1),
                    "array shorter than its count", "more than the file can hold");
        expectError(header(0, 1) + str("k") + le<uint32_t>(9) + le<uint32_t>(9) + le<uint64_t>(1) + std::string(32, '\0'),
                    "nested array", "nests");
        expectError(header(0, 1) + str("k") + le<uint32_t>(13) + std::string(8, '\0'), "unknown value type", "unknown value type");
        expectError(header(0, 1) + str("k") + le<uint32_t>(7) + std::string(1, '\2'), "bool 2", "BOOL");
        expectError(header(0, 1) + str("") + le<uint32_t>(4) + le<uint32_t>(1), "empty key", "empty");
        expectError(header(0, 2) + kv1 + kv1, "duplicate key", "twice");
        expectError(header(0, 1) + str("general.alignment") + le<uint32_t>(4) + le<uint32_t>(0), "alignment 0", "power of two");
        expectError(header(0, 1) + str("general.alignment") + le<uint32_t>(4) + le<uint32_t>(24), "alignment 24", "power of two");
        expectError(header(0, 1) + str("general.alignment") + le<uint32_t>(8) + str("32"), "alignment string", "UINT32");

        auto oneTensor = [&](const std::string& info, size_t dataBytes) {
            return pad(header(1, 0) + info) + std::string(dataBytes, '\0');
        };
        QVERIFY(GgufFile(file(oneTensor(tensorInfo("t", {4, 2}, 0, 0), 32))).tensors().size() == 1);   // the control
        expectError(oneTensor(tensorInfo("t", {4, 2}, 0, 0), 31), "data one byte short", "past the end");
        expectError(oneTensor(tensorInfo("t", {4, 2}, 0, 32), 32), "offset past the end", "past the end");
        expectError(oneTensor(tensorInfo("t", {4, 2}, 0, ~uint64_t(0) - 31), 32), "offset near 2^64", "");
        expectError(oneTensor(tensorInfo("t", {4, 2}, 0, 16), 64), "misaligned offset", "alignment");
        expectError(oneTensor(tensorInfo("t", {1u << 20, 1u << 20}, 0, 0), 32), "lying dims", "past the end");
        expectError(oneTensor(tensorInfo("t", {uint64_t(1) << 40, uint64_t(1) << 40}, 0, 0), 32), "element count overflow", "overflow");
        expectError(oneTensor(tensorInfo("t", {}, 0, 0), 32), "0 dims", "dimensions");
        expectError(oneTensor(tensorInfo("t", {1, 1, 1, 1, 1}, 0, 0), 32), "5 dims", "dimensions");
        expectError(oneTensor(tensorInfo("t", {4, 0}, 0, 0), 32), "zero dim", "dimension");
        expectError(oneTensor(tensorInfo("t", {256}, 10, 0), 256), "Q2_K (unsupported)", "does not read");
        expectError(oneTensor(tensorInfo("t", {33}, 8, 0), 64), "Q8_0 row of 33", "multiple of 32");
        expectError(oneTensor(tensorInfo(std::string(64, 'n'), {4}, 0, 0), 32), "64-byte name", "bytes");
        expectError(oneTensor(tensorInfo("", {4}, 0, 0), 32), "empty name", "empty name");
        expectError(pad(header(2, 0) + tensorInfo("t", {4}, 0, 0) + tensorInfo("t", {4}, 0, 32)) + std::string(64, '\0'),
                    "duplicate tensor", "twice");
        expectError(header(1, 0) + tensorInfo("t", {4}, 0, 0), "data section past the end", "");
        expectError(header(1, 0) + str("t") + le<uint32_t>(2) + le<uint64_t>(4), "tensor info cut in its dims", "");
    }

    // ---------------------------------------------------------------------------------------------
    // Eve models from GGUF.

    void modelFromGgufMatchesFolder() {
        ModelConfig c = enginetest::smallConfig();
        enginetest::Weights w = enginetest::randomWeights(c, 11);
        const std::string dir = tmp_.filePath("hf").toStdString();
        enginetest::saveModel(dir, c, w, DType::F32);
        const size_t V = size_t(c.vocab_size);

        LoadOptions o;
        o.threads = 2;
        // F32 GGUF and the F32 folder: the same weights, the same kernels: the same logits.
        const std::string f32 = file(enginetest::eveGguf(c, w, 0, false).build());
        Model mg = Model::load(f32, o), mh = Model::load(dir, o);
        QCOMPARE(mg.stats().format, std::string("gguf"));
        QVERIFY(mg.config().n_embd == c.n_embd && mg.config().vocab_size == c.vocab_size &&
                mg.config().expert_intermediate_size == c.expert_intermediate_size);
        Session sg(mg), sh(mh);
        sg.prefill(kPrompt);
        sh.prefill(kPrompt);
        QVERIFY(relativeError(sg.logits(), sh.logits(), V) < 1e-6);

        // Q8_0 GGUF used in place (no copy) == the folder quantised on load (same rule, same bytes).
        const std::string q8 = file(enginetest::eveGguf(c, w, 8, false).build());
        LoadOptions oq = o;
        oq.dtype = WType::Q8_0;
        Model mq = Model::load(q8, o), mhq = Model::load(dir, oq);
        QCOMPARE(int(mq.weightType()), int(WType::Q8_0));
        QVERIFY(mq.stats().mappedBytes > mq.stats().ownedBytes);
        Session sq(mq), shq(mhq);
        sq.prefill(kPrompt);
        shq.prefill(kPrompt);
        QVERIFY(relativeError(sq.logits(), shq.logits(), V) < 1e-6);

        // Q4_0, F16 and BF16 files against the naive reference on the values the file holds
        // (float activations, so only the file's rounding is in play).
        for (uint32_t type : {2u, 1u, 30u}) {
            enginetest::Weights held;
            const std::string path = file(enginetest::eveGguf(c, w, type, false, &held).build());
            LoadOptions ox = o;
            ox.quantizeActivations = false;
            Model m = Model::load(path, ox);
            QCOMPARE(int(m.weightType()), int(type == 2 ? WType::Q4_0 : type == 1 ? WType::F16 : WType::BF16));
            QVERIFY(m.stats().mappedBytes > m.stats().ownedBytes);   // in place, Q4_0 included (no widening to Q8_0)
            Session s(m);
            s.prefill(kPrompt);
            const auto ref = enginetest::referenceForward(c, held, kPrompt);
            const double err = relativeError(s.logits(), ref.back().data(), V);
            qInfo("GGUF %s: relative logit error vs the reference on the file's values %.3g", gguf::tensorTypeName(gguf::TensorType(type)), err);
            QVERIFY(err < 1e-5);
        }
    }

    // Every block type a llama-quantize file holds, used in place from the mapping, against the
    // reference on the file's values: float activations (only the file's rounding) and Q8
    // activations (llama.cpp's scheme), the scalar and the best SIMD kernels (their sums differ in
    // order, which can turn over a near-tied expert choice, so each is held to the reference rather
    // than to the other; test_engine_kernels compares the kernels themselves). k-quant files hold
    // the fallback type in the 96-wide expert down projections (Q4_K -> Q5_0, Q5_K -> Q5_1,
    // Q6_K -> Q8_0), and the Q4_K_M mix llama.cpp writes for an 8-expert model is one more file.
    void blockTypeFiles() {
        const ModelConfig c = enginetest::kquantConfig();
        enginetest::Weights w = enginetest::randomWeights(c, 21);
        const size_t V = size_t(c.vocab_size);
        enginetest::GgufEdits q4km;
        q4km.tensorTypes = {{"token_embd.weight", 14}, {"attn_k.weight", 8}, {"attn_v.weight", 8},
                            {"attn_output.weight", 13}, {"blk.0.ffn_down_exps.weight", 14}, {"blk.0.ffn_down_shexp.weight", 14}};
        struct Case {
            const char* name;
            uint32_t type;
            enginetest::GgufEdits edits;
            std::vector<WType> held;   // types the engine must report holding
        };
        const std::vector<Case> cases = {
            {"Q4_0", 2, {}, {WType::Q4_0}},
            {"Q5_0", 6, {}, {WType::Q5_0}},
            {"Q5_1", 7, {}, {WType::Q5_1}},
            {"Q4_K", 12, {}, {WType::Q4_K, WType::Q5_0}},
            {"Q5_K", 13, {}, {WType::Q5_K, WType::Q5_1}},
            {"Q6_K", 14, {}, {WType::Q6_K, WType::Q8_0}},
            {"Q4_K_M mix", 12, q4km, {WType::Q4_K, WType::Q5_0}},
        };
        for (const Case& k : cases) {
            enginetest::Weights held;
            const std::string path = file(enginetest::eveGguf(c, w, k.type, false, &held, k.edits).build());
            const auto ref = enginetest::referenceForward(c, held, kPrompt);
            for (Isa isa : {Isa::Scalar, Isa::Auto})
                for (bool q8 : {false, true}) {
                    LoadOptions o;
                    o.threads = 2;
                    o.isa = isa;
                    o.quantizeActivations = q8;
                    Model m = Model::load(path, o);
                    QCOMPARE(m.stats().ownedBytes < m.stats().mappedBytes / 10, true);   // used in place
                    QCOMPARE(int(m.weightType()), int(k.held[0]));
                    QCOMPARE(m.quantizedActivations(), q8);
                    Session s(m);
                    s.prefill(kPrompt);
                    const double err = relativeError(s.logits(), ref.back().data(), V);
                    qInfo("GGUF %s, %s, %s activations: relative logit error vs the reference on the file's values %.3g", k.name,
                          isaName(m.isa()), q8 ? "q8" : "f32", err);
                    QVERIFY2(err < (q8 ? 3e-2 : 1e-5), k.name);
                }
        }
        // The mix's types, as the file holds them.
        enginetest::Weights held;
        GgufFile f(file(enginetest::eveGguf(c, w, 12, false, &held, q4km).build()));
        QCOMPARE(gguf::tensorTypeName(f.tensor("token_embd.weight")->type), "Q6_K");
        QCOMPARE(gguf::tensorTypeName(f.tensor("blk.1.attn_k.weight")->type), "Q8_0");
        QCOMPARE(gguf::tensorTypeName(f.tensor("blk.1.attn_output.weight")->type), "Q5_K");
        QCOMPARE(gguf::tensorTypeName(f.tensor("blk.1.attn_q.weight")->type), "Q4_K");
        QCOMPARE(gguf::tensorTypeName(f.tensor("blk.0.ffn_down_exps.weight")->type), "Q8_0");
        QCOMPARE(gguf::tensorTypeName(f.tensor("blk.1.ffn_down_exps.weight")->type), "Q5_0");

        // A folder quantised on load to q4_k: the 96-wide down projections fall back to q5_0 and
        // the warning says so; a q4_k head keeps the embedding as it is.
        const std::string dir = tmp_.filePath("kq-hf").toStdString();
        enginetest::saveModel(dir, c, w, DType::F32);
        LoadOptions o;
        o.threads = 2;
        o.dtype = WType::Q4_K;
        Model mk = Model::load(dir, o);
        QCOMPARE(int(mk.weightType()), int(WType::Q4_K));
        QCOMPARE(mk.warnings().size(), size_t(1));
        QVERIFY(mk.warnings()[0].find("q5_0") != std::string::npos);
        o.dtype = WType::F32;
        o.headType = WType::Q8_0;
        Model mh = Model::load(dir, o);
        QCOMPARE(int(mh.headType()), int(WType::Q8_0));
        QCOMPARE(int(mh.weightType()), int(WType::F32));
    }

    void tokenizerFromMetadata() {
        ModelConfig c = enginetest::smallConfig();
        enginetest::Weights w = enginetest::randomWeights(c, 12);
        Model m = Model::load(file(enginetest::eveGguf(c, w, 0, true).build()));
        Gpt2Tokenizer bundled = Gpt2Tokenizer::bundled();
        const std::string text = "User: Hello, world! It's 2026 — naïve café?\nAssistant: <|endoftext|>";
        QCOMPARE(m.tokenizer().encode(text), bundled.encode(text));
        QCOMPARE(m.tokenizer().vocabSize(), 50257);
        QCOMPARE(m.tokenizer().decode(bundled.encode(text)), text);

        // Bad merges in the metadata name the file and the entry.
        for (const auto& [merge, mention] : std::vector<std::pair<std::string, std::string>>{
                 {"nospace", "tokenizer.ggml.merges[5] is malformed"},
                 {"\xc4\xa0 zzzunknown", "tokenizer.ggml.merges[5] names unknown token"}}) {
            enginetest::GgufEdits e;
            e.merges[5] = merge;
            const std::string path = file(enginetest::eveGguf(c, w, 0, true, nullptr, e).build());
            try {
                Model::load(path);
                QFAIL("loaded a GGUF file with a bad merge");
            } catch (const Error& err) {
                const std::string what = err.what();
                QVERIFY2(what.find(mention) != std::string::npos && what.find(path) != std::string::npos, err.what());
            }
        }
    }

    void configDisagreements() {
        ModelConfig c = enginetest::smallConfig();
        enginetest::Weights w = enginetest::randomWeights(c, 13);
        auto expectLoadError = [&](const enginetest::GgufEdits& edits, const char* mention) {
            const std::string path = file(enginetest::eveGguf(c, w, 0, false, nullptr, edits).build());
            try {
                Model::load(path);
                QFAIL(qPrintable(QString("loaded a bad model (expected an error about %1)").arg(mention)));
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find(mention) != std::string::npos, e.what());
            }
        };
        enginetest::GgufEdits e;
        e.u32["granitemoe.feed_forward_length"] = 128;
        expectLoadError(e, "ffn_gate_exps.weight");
        e = {};
        e.u32["granitemoe.embedding_length"] = 128;
        expectLoadError(e, "head_dim");
        e = {};
        e.u32["granitemoe.expert_shared_feed_forward_length"] = 128;
        expectLoadError(e, "ffn_gate_shexp.weight");
        e = {};
        e.u32["granitemoe.attention.head_count_kv"] = 2;
        expectLoadError(e, "head_count_kv");
        e = {};
        e.u32["granitemoe.vocab_size"] = 50257;
        expectLoadError(e, "vocab_size");
        e = {};
        e.skipTensor = "blk.1.ffn_down_shexp.weight";
        expectLoadError(e, "blk.1.ffn_down_shexp.weight");

        // An extra tensor, another architecture, a scale Eve does not have, a key of the wrong type.
        GgufWriter g = enginetest::eveGguf(c, w, 0, false);
        g.tensor("rope_freqs.weight", {8}, 0, std::string(32, '\0'));
        try {
            Model::load(file(g.build()));
            QFAIL("an extra tensor was accepted");
        } catch (const Error& err) {
            QVERIFY2(std::string(err.what()).find("rope_freqs.weight") != std::string::npos, err.what());
        }
        e = {};
        e.f32["granitemoe.embedding_scale"] = 2.0f;
        expectLoadError(e, "embedding_scale");
        e = {};
        e.f32["granitemoe.attention.scale"] = 0.5f;
        expectLoadError(e, "attention.scale");
        GgufWriter arch;
        arch.str("general.architecture", "llama");
        QVERIFY_THROWS_EXCEPTION(Error, Model::load(file(arch.build())));
        GgufWriter wrongType;
        wrongType.str("general.architecture", "granitemoe");
        wrongType.f32("granitemoe.embedding_length", 64.0f);
        try {
            Model::load(file(wrongType.build()));
            QFAIL("a FLOAT32 embedding_length was accepted");
        } catch (const Error& err) {
            QVERIFY2(std::string(err.what()).find("must be UINT32") != std::string::npos, err.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestEngineGguf)
#include "test_engine_gguf.moc"
