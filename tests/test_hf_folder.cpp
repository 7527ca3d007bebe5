// Hugging Face model folders without torch: locating files, checking the tensor inventory
// against the config (tied head variants, shards), saving and reading back, and the 16-bit
// float conversions of core/half.h.
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/hf_folder.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace swarm;
using nlohmann::json;

namespace {

ModelConfig smallConfig() {
    ModelConfig c;
    c.vocab_size = 50304;   // validate() insists on the GPT-2 vocabulary
    c.n_layer = 1;
    c.n_embd = 16;
    c.n_head = 2;
    c.head_dim = 8;
    c.num_experts = 4;
    c.top_k = 2;
    c.expert_intermediate_size = 8;
    c.shared_expert_intermediate_size = 8;
    c.block_size = 32;
    c.validate("smallConfig");
    return c;
}

// Canonical tensors with random contents (every bit pattern, NaNs included: bytes must survive).
std::vector<TensorData> makeTensors(const ModelConfig& c, DType type, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<TensorData> out;
    for (const ExpectedTensor& e : expectedTensors(c)) {
        TensorData t;
        t.name = e.name;
        t.dtype = type;
        t.shape = e.shape;
        int64_t n = 1;
        for (int64_t d : e.shape) n *= d;
        t.bytes.resize(size_t(n) * dtypeSize(type));
        for (auto& b : t.bytes) b = uint8_t(rng());
        out.push_back(std::move(t));
    }
    return out;
}

std::vector<TensorView> views(const std::vector<TensorData>& tensors) {
    std::vector<TensorView> v;
    for (const TensorData& t : tensors) v.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
    return v;
}

const TensorData& byName(const std::vector<TensorData>& tensors, const std::string& name) {
    for (const TensorData& t : tensors)
        if (t.name == name) return t;
    throw std::runtime_error("test bug: no tensor " + name);
}

void spit(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
}

std::string errorOf(const std::function<void()>& f) {
    try {
        f();
        return "<no error>";
    } catch (const Error& e) {
        return e.what();
    }
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string join(const std::string& dir, const std::string& name) { return dir + "/" + name; }

// Every stored tensor matches the source bytes exactly.
void checkBytes(const HfWeights& w, const std::vector<TensorData>& tensors) {
    for (const TensorData& t : tensors) {
        HfWeights::Entry e = w.get(t.name);
        QVERIFY(e.file && e.info);
        QCOMPARE(e.info->dtype, t.dtype);
        QCOMPARE(e.info->shape, t.shape);
        QCOMPARE(e.info->nbytes(), uint64_t(t.bytes.size()));
        QVERIFY2(std::memcmp(e.data(), t.bytes.data(), t.bytes.size()) == 0, t.name.c_str());
    }
}

uint32_t floatBits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

float bitsFloat(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

} // namespace

class TestHfFolder : public QObject {
    Q_OBJECT

private:
    ModelConfig cfg_ = smallConfig();
    std::vector<TensorData> f32_ = makeTensors(cfg_, DType::F32, 1);

    // A folder with config.json and one model.safetensors holding `stored`.
    std::string makeFolder(const QTemporaryDir& dir, const std::vector<TensorView>& stored,
                           const ModelConfig* config = nullptr) {
        const std::string d = dir.path().toStdString();
        (config ? *config : cfg_).save(join(d, "config.json"));
        writeSafetensors(join(d, "model.safetensors"), stored);
        return d;
    }

    // f32_ with the embedding renamed / duplicated as asked.
    std::vector<TensorView> withHead(bool embedding, bool head, const std::vector<uint8_t>* headBytes = nullptr) {
        std::vector<TensorView> v;
        for (const TensorView& t : views(f32_)) {
            if (t.name != kEmbeddingName) {
                v.push_back(t);
                continue;
            }
            if (embedding) v.push_back(t);
            if (head) {
                TensorView h = t;
                h.name = kLmHeadName;
                if (headBytes) h.data = headBytes->data();
                v.push_back(h);
            }
        }
        return v;
    }

private slots:
    void expectedTensorList() {
        const auto list = expectedTensors(cfg_);
        QCOMPARE(list.size(), size_t(1 + 8 + 3 * 4 + 1));
        QCOMPARE(list.front().name, std::string(kEmbeddingName));
        QCOMPARE(list.front().shape, (std::vector<int64_t>{50304, 16}));
        QCOMPARE(list.back().name, std::string("transformer.ln_f.weight"));
        int64_t total = 0;
        for (const auto& e : list) {
            int64_t n = 1;
            for (int64_t d : e.shape) n *= d;
            total += n;
        }
        QCOMPARE(total, cfg_.totalParameters());
        // The published size: expected tensors add up to the published parameter count.
        total = 0;
        for (const auto& e : expectedTensors(ModelConfig::preset("eve-272m"))) {
            int64_t n = 1;
            for (int64_t d : e.shape) n *= d;
            total += n;
        }
        QCOMPARE(total, int64_t(271970816));
    }

    void singleFileWithEmbedding() {
        QTemporaryDir dir;
        const std::string d = makeFolder(dir, withHead(true, false));
        const HfModelFiles files = locateHfModel(d);
        QCOMPARE(files.dir, d);
        QCOMPARE(files.configPath, join(d, "config.json"));
        QCOMPARE(files.weightFiles, std::vector<std::string>{join(d, "model.safetensors")});
        QVERIFY(!files.hasTokenizer());
        const ModelConfig loaded = ModelConfig::load(files.configPath);
        QCOMPARE(loaded, cfg_);
        const HfWeights w = HfWeights::open(files, loaded);
        QVERIFY(w.warnings().empty());
        checkBytes(w, f32_);
        uint64_t total = 0;
        for (const TensorData& t : f32_) total += t.bytes.size();
        QCOMPARE(w.totalBytes(), total);
        QCOMPARE(w.storedDTypes(), std::vector<DType>{DType::F32});
        const std::string msg = errorOf([&] { w.get("transformer.h.5.ln_1.weight"); });
        QVERIFY2(contains(msg, "transformer.h.5.ln_1.weight"), msg.c_str());
        // HfWeights is movable: entries keep pointing into the files it owns.
        HfWeights moved = HfWeights::open(files, loaded);
        HfWeights other = std::move(moved);
        checkBytes(other, f32_);
    }

    void onlyLmHead() {
        QTemporaryDir dir;
        const std::string d = makeFolder(dir, withHead(false, true));
        const HfWeights w = HfWeights::open(locateHfModel(d), cfg_);
        QVERIFY(w.warnings().empty());
        const HfWeights::Entry e = w.get(kEmbeddingName);
        QCOMPARE(e.info->name, std::string(kLmHeadName));   // resolved to the stored head
        checkBytes(w, f32_);
    }

    void bothHeadsIdentical() {
        QTemporaryDir dir;
        const std::string d = makeFolder(dir, withHead(true, true));
        const HfWeights w = HfWeights::open(locateHfModel(d), cfg_);
        QVERIFY2(w.warnings().empty(), w.warnings().empty() ? "" : w.warnings().front().c_str());
        checkBytes(w, f32_);
    }

    void bothHeadsDifferent() {
        QTemporaryDir dir;
        std::vector<uint8_t> other = byName(f32_, kEmbeddingName).bytes;
        other[12345] ^= 0x40;
        const std::string d = makeFolder(dir, withHead(true, true, &other));
        const HfWeights w = HfWeights::open(locateHfModel(d), cfg_);
        QCOMPARE(w.warnings().size(), size_t(1));
        QVERIFY(contains(w.warnings()[0], kLmHeadName) && contains(w.warnings()[0], kEmbeddingName));
        QCOMPARE(w.get(kEmbeddingName).info->name, std::string(kEmbeddingName));   // the embedding wins
        checkBytes(w, f32_);
    }

    void sharded() {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        cfg_.save(join(d, "config.json"));
        std::vector<TensorView> a, b;
        json weightMap = json::object();
        uint64_t total = 0;
        const auto all = withHead(false, true);
        for (size_t i = 0; i < all.size(); ++i) {
            const bool first = i % 3 != 0;
            (first ? a : b).push_back(all[i]);
            weightMap[all[i].name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
            total += all[i].nbytes;
        }
        writeSafetensors(join(d, "model-00001-of-00002.safetensors"), a);
        writeSafetensors(join(d, "model-00002-of-00002.safetensors"), b);
        const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weightMap}};
        spit(join(d, "model.safetensors.index.json"), index.dump(2));
        spit(join(d, "tokenizer.json"), "{}");

        const HfModelFiles files = locateHfModel(d);
        QCOMPARE(std::set<std::string>(files.weightFiles.begin(), files.weightFiles.end()),
                 (std::set<std::string>{join(d, "model-00001-of-00002.safetensors"),
                                        join(d, "model-00002-of-00002.safetensors")}));
        QCOMPARE(files.weightFiles.size(), size_t(2));
        QCOMPARE(files.tokenizerJsonPath, join(d, "tokenizer.json"));
        QVERIFY(files.hasTokenizer());
        const HfWeights w = HfWeights::open(files, cfg_);
        QVERIFY(w.warnings().empty());
        checkBytes(w, f32_);
        QCOMPARE(w.totalBytes(), total);

        // A tensor stored in both shards is refused, naming it.
        writeSafetensors(join(d, "model-00002-of-00002.safetensors"),
                         {b[0], TensorView{a[0].name, a[0].dtype, a[0].shape, a[0].data, a[0].nbytes}});
        const std::string msg = errorOf([&] { HfWeights::open(locateHfModel(d), cfg_); });
        QVERIFY2(contains(msg, a[0].name) && contains(msg, "twice"), msg.c_str());
    }

    void tokenizerFiles() {
        QTemporaryDir dir;
        const std::string d = makeFolder(dir, withHead(true, false));
        spit(join(d, "vocab.json"), "{}");
        HfModelFiles files = locateHfModel(d);
        QCOMPARE(files.vocabJsonPath, join(d, "vocab.json"));
        QVERIFY(files.mergesTxtPath.empty());
        QVERIFY(!files.hasTokenizer());   // vocab.json alone is not enough
        spit(join(d, "merges.txt"), "#version: 0.2\n");
        files = locateHfModel(d);
        QCOMPARE(files.mergesTxtPath, join(d, "merges.txt"));
        QVERIFY(files.hasTokenizer());
        QVERIFY(files.tokenizerJsonPath.empty());
    }

    void inventoryErrors() {
        QTemporaryDir dir;
        std::vector<TensorView> v = withHead(false, true);
        const std::string dropped = "transformer.h.0.mlp.experts.3.w2.weight";
        v.erase(std::remove_if(v.begin(), v.end(), [&](const TensorView& t) { return t.name == dropped; }), v.end());
        std::vector<uint8_t> wrong(17 * 4);
        for (TensorView& t : v)
            if (t.name == "transformer.ln_f.weight") t = {t.name, DType::F32, {17}, wrong.data(), wrong.size()};
        std::vector<uint8_t> extra(16 * 4);
        v.push_back({"transformer.h.0.attn.c_attn.bias", DType::F32, {16}, extra.data(), extra.size()});
        v.push_back({"transformer.h.1.ln_1.weight", DType::F32, {16}, extra.data(), extra.size()});
        const std::string d = makeFolder(dir, v);
        const std::string msg = errorOf([&] { HfWeights::open(locateHfModel(d), cfg_); });
        QVERIFY2(contains(msg, d), msg.c_str());
        QVERIFY2(contains(msg, "1 missing: " + dropped), msg.c_str());
        QVERIFY2(contains(msg, "transformer.ln_f.weight is [17], config needs [16]"), msg.c_str());
        QVERIFY2(contains(msg, "2 unexpected"), msg.c_str());
        QVERIFY2(contains(msg, "transformer.h.0.attn.c_attn.bias") && contains(msg, "transformer.h.1.ln_1.weight"),
                 msg.c_str());

        // No embedding under either name.
        QTemporaryDir dir2;
        const std::string d2 = makeFolder(dir2, withHead(false, false));
        const std::string msg2 = errorOf([&] { HfWeights::open(locateHfModel(d2), cfg_); });
        QVERIFY2(contains(msg2, "transformer.wte.weight (or lm_head.weight)"), msg2.c_str());

        // The same files against a config with another layer count: everything in layer 1 missing.
        ModelConfig two = cfg_;
        two.n_layer = 2;
        const std::string msg3 = errorOf([&] { HfWeights::open(locateHfModel(d2), two); });
        QVERIFY2(contains(msg3, "transformer.h.1.ln_1.weight") && contains(msg3, "more)"), msg3.c_str());

        // A wrong-shaped embedding stored as the head.
        QTemporaryDir dir3;
        std::vector<TensorView> v3 = withHead(false, true);
        std::vector<uint8_t> smallHead(100 * 16 * 4);
        for (TensorView& t : v3)
            if (t.name == kLmHeadName) t = {t.name, DType::F32, {100, 16}, smallHead.data(), smallHead.size()};
        const std::string d3 = makeFolder(dir3, v3);
        const std::string msg4 = errorOf([&] { HfWeights::open(locateHfModel(d3), cfg_); });
        QVERIFY2(contains(msg4, "transformer.wte.weight is [100, 16], config needs [50304, 16]"), msg4.c_str());
    }

    void missingFiles() {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        // No such folder.
        std::string msg = errorOf([&] { locateHfModel(join(d, "absent")); });
        QVERIFY2(contains(msg, join(d, "absent")), msg.c_str());
        // No config.json.
        writeSafetensors(join(d, "model.safetensors"), views(f32_));
        msg = errorOf([&] { locateHfModel(d); });
        QVERIFY2(contains(msg, d) && contains(msg, "config.json"), msg.c_str());
        // No weights.
        cfg_.save(join(d, "config.json"));
        QVERIFY(QFile::remove(QString::fromStdString(join(d, "model.safetensors"))));
        msg = errorOf([&] { locateHfModel(d); });
        QVERIFY2(contains(msg, d) && contains(msg, "model.safetensors"), msg.c_str());

        // An index naming a shard that is not there.
        const std::string indexPath = join(d, "model.safetensors.index.json");
        writeSafetensors(join(d, "shard-a.safetensors"), views(f32_));
        spit(indexPath, json{{"weight_map", {{"transformer.wte.weight", "shard-a.safetensors"},
                                             {"transformer.ln_f.weight", "shard-b.safetensors"}}}}
                            .dump());
        msg = errorOf([&] { locateHfModel(d); });
        QVERIFY2(contains(msg, indexPath) && contains(msg, "shard-b.safetensors") && contains(msg, "missing"),
                 msg.c_str());

        // Shards outside the folder are refused even when the file exists.
        QTemporaryDir outside;
        writeSafetensors(join(outside.path().toStdString(), "evil.safetensors"), views(f32_));
        for (const std::string& name : {std::string("../") + QFileInfo(outside.path()).fileName().toStdString() +
                                            "/evil.safetensors",
                                        join(outside.path().toStdString(), "evil.safetensors"), std::string(".."),
                                        std::string("")}) {
            spit(indexPath, json{{"weight_map", {{"transformer.wte.weight", name}}}}.dump());
            msg = errorOf([&] { locateHfModel(d); });
            QVERIFY2(contains(msg, indexPath) && contains(msg, "outside the folder"), (name + ": " + msg).c_str());
        }

        // Broken index files.
        for (const std::string& text : {std::string("not json"), std::string("[]"), std::string("{\"weight_map\": 3}"),
                                        std::string("{\"weight_map\": {}}"),
                                        std::string("{\"weight_map\": {\"a\": 5}}")}) {
            spit(indexPath, text);
            msg = errorOf([&] { locateHfModel(d); });
            QVERIFY2(contains(msg, indexPath), (text + ": " + msg).c_str());
        }

        // A damaged weight file: the safetensors error names it.
        spit(indexPath, json{{"weight_map", {{"transformer.wte.weight", "shard-a.safetensors"}}}}.dump());
        spit(join(d, "shard-a.safetensors"), std::string("\x10\0\0\0\0\0\0\0{}", 10));
        const HfModelFiles files = locateHfModel(d);
        msg = errorOf([&] { HfWeights::open(files, cfg_); });
        QVERIFY2(contains(msg, join(d, "shard-a.safetensors")), msg.c_str());
    }

    void saveAndReload_data() {
        QTest::addColumn<int>("dtype");
        QTest::newRow("F32") << int(DType::F32);
        QTest::newRow("BF16") << int(DType::BF16);
        QTest::newRow("F16") << int(DType::F16);
    }

    void saveAndReload() {
        QFETCH(int, dtype);
        const DType type = DType(dtype);
        const std::vector<TensorData> tensors = makeTensors(cfg_, type, 7 + uint32_t(dtype));
        QTemporaryDir dir;
        const std::string d = join(dir.path().toStdString(), "export/nested");   // created by saveHfModel
        saveHfModel(d, cfg_, tensors, nullptr);
        // Saving again over the folder replaces everything in place, and removes a stale index.
        spit(join(d, "model.safetensors.index.json"), "{}");
        saveHfModel(d, cfg_, tensors, nullptr);

        const HfModelFiles files = locateHfModel(d);
        QCOMPARE(files.weightFiles, std::vector<std::string>{join(d, "model.safetensors")});
        QVERIFY(files.tokenizerJsonPath.empty());   // no tokenizer given
        QVERIFY(!QFileInfo::exists(QString::fromStdString(join(d, "model.safetensors.index.json"))));
        ModelConfig expected = cfg_;
        expected.dtype = type;
        const ModelConfig loaded = ModelConfig::load(files.configPath);
        QCOMPARE(loaded, expected);
        const HfWeights w = HfWeights::open(files, loaded);
        QVERIFY(w.warnings().empty());
        checkBytes(w, tensors);
        QCOMPARE(w.storedDTypes(), std::vector<DType>{type});

        // Stored as published: the head under lm_head.weight, {"format": "pt"} metadata.
        SafetensorsReader r(join(d, "model.safetensors"));
        QVERIFY(r.find(kLmHeadName));
        QVERIFY(!r.find(kEmbeddingName));
        QCOMPARE(r.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
        QCOMPARE(r.tensors().size(), expectedTensors(cfg_).size());

        const json gen = json::parse(readTextFile(join(d, "generation_config.json")));
        QCOMPARE(gen.at("eos_token_id").get<int>(), 50256);
        QStringList names = QDir(QString::fromStdString(d)).entryList(QDir::Files | QDir::Hidden);
        names.sort();
        QCOMPARE(names, (QStringList{"config.json", "generation_config.json", "model.safetensors"}));   // no temporaries
    }

    void saveRefusesBadTensors() {
        QTemporaryDir dir;
        const std::string d = join(dir.path().toStdString(), "out");
        std::vector<TensorData> t = f32_;
        t.pop_back();
        std::string msg = errorOf([&] { saveHfModel(d, cfg_, t, nullptr); });
        QVERIFY2(contains(msg, d) && contains(msg, "transformer.ln_f.weight") && contains(msg, "missing"), msg.c_str());

        t = f32_;
        t[1].shape = {8, 2};
        msg = errorOf([&] { saveHfModel(d, cfg_, t, nullptr); });
        QVERIFY2(contains(msg, t[1].name) && contains(msg, "[8, 2]"), msg.c_str());

        t = f32_;
        t.push_back({"extra.weight", DType::F32, {1}, std::vector<uint8_t>(4)});
        msg = errorOf([&] { saveHfModel(d, cfg_, t, nullptr); });
        QVERIFY2(contains(msg, d) && contains(msg, "not in the config"), msg.c_str());

        t = f32_;
        t[2].bytes.resize(t[2].bytes.size() - 4);   // shape and size disagree
        msg = errorOf([&] { saveHfModel(d, cfg_, t, nullptr); });
        QVERIFY2(contains(msg, t[2].name), msg.c_str());
        QVERIFY(!QFileInfo::exists(QString::fromStdString(join(d, "model.safetensors"))));
    }

    void readFloatConverts() {
        // Values that exercise rounding, subnormals and specials in each storage type.
        const std::vector<float> values = {0.0f, -0.0f, 1.0f, -2.5f, 3.14159265f, 1e-3f, 65504.0f, 1e-6f,
                                           6.1e-5f, 5.96e-8f, std::numeric_limits<float>::infinity(),
                                           -std::numeric_limits<float>::infinity(), 1e30f, 0.1f, -1e-40f, 7.0f};
        // Every tensor converted to the storage type; ln_f (16 elements) holds `values`.
        for (DType type : {DType::F32, DType::BF16, DType::F16}) {
            std::vector<TensorData> ts;
            for (const ExpectedTensor& e : expectedTensors(cfg_)) {
                TensorData t = byName(f32_, e.name);
                if (type != DType::F32) {
                    std::vector<uint8_t> bytes(t.bytes.size() / 2);
                    for (size_t i = 0; i < t.bytes.size() / 4; ++i) {
                        float f;
                        std::memcpy(&f, &t.bytes[4 * i], 4);
                        uint16_t h = type == DType::BF16 ? floatToBf16(f) : floatToF16(f);
                        std::memcpy(&bytes[2 * i], &h, 2);
                    }
                    t.bytes = std::move(bytes);
                    t.dtype = type;
                }
                if (e.name == "transformer.ln_f.weight") {
                    t.bytes.assign(values.size() * dtypeSize(type), 0);
                    for (size_t i = 0; i < values.size(); ++i) {
                        if (type == DType::F32) {
                            std::memcpy(&t.bytes[4 * i], &values[i], 4);
                        } else {
                            uint16_t h = type == DType::BF16 ? floatToBf16(values[i]) : floatToF16(values[i]);
                            std::memcpy(&t.bytes[2 * i], &h, 2);
                        }
                    }
                }
                ts.push_back(std::move(t));
            }
            QTemporaryDir dir;
            const std::string d = dir.path().toStdString();
            saveHfModel(d, cfg_, ts, nullptr);
            const HfWeights w = HfWeights::open(locateHfModel(d), ModelConfig::load(join(d, "config.json")));
            const std::vector<float> got = w.readFloat("transformer.ln_f.weight");
            QCOMPARE(got.size(), values.size());
            for (size_t i = 0; i < values.size(); ++i) {
                float want = values[i];
                if (type == DType::BF16) want = bf16ToFloat(floatToBf16(values[i]));
                if (type == DType::F16) want = f16ToFloat(floatToF16(values[i]));
                QCOMPARE(floatBits(got[i]), floatBits(want));
            }
            // Exactly representable values come back unchanged in every type.
            QCOMPARE(got[2], 1.0f);
            QCOMPARE(got[3], -2.5f);
            QCOMPARE(got[15], 7.0f);
            QVERIFY(std::isinf(got[10]) && got[10] > 0);
            QCOMPARE(floatBits(got[1]), 0x80000000u);   // -0 keeps its sign
            if (type == DType::F16) {
                QCOMPARE(got[6], 65504.0f);
                QVERIFY(std::isinf(got[12]));              // 1e30 overflows half
                QCOMPARE(floatBits(got[14]), 0x80000000u);   // -1e-40 underflows to -0
            }
            if (type == DType::BF16) QCOMPARE(got[12], bf16ToFloat(floatToBf16(1e30f)));
            // A whole tensor: readFloat agrees with convertToFloat on the raw bytes.
            const HfWeights::Entry e = w.get("transformer.h.0.attn.c_attn.weight");
            std::vector<float> direct(size_t(e.info->numel()));
            convertToFloat(type, e.data(), direct.data(), direct.size());
            const std::vector<float> viaRead = w.readFloat("transformer.h.0.attn.c_attn.weight");
            QVERIFY(std::memcmp(direct.data(), viaRead.data(), direct.size() * 4) == 0);
        }
    }

    void bf16Conversions() {
        QCOMPARE(floatToBf16(1.0f), uint16_t(0x3f80));
        QCOMPARE(floatToBf16(-2.0f), uint16_t(0xc000));
        QCOMPARE(floatToBf16(0.0f), uint16_t(0x0000));
        QCOMPARE(floatToBf16(-0.0f), uint16_t(0x8000));
        // Round to nearest, ties to even.
        QCOMPARE(floatToBf16(bitsFloat(0x3f808000)), uint16_t(0x3f80));   // tie, lower is even: down
        QCOMPARE(floatToBf16(bitsFloat(0x3f818000)), uint16_t(0x3f82));   // tie, lower is odd: up
        QCOMPARE(floatToBf16(bitsFloat(0x3f808001)), uint16_t(0x3f81));   // above the tie: up
        QCOMPARE(floatToBf16(bitsFloat(0x3f807fff)), uint16_t(0x3f80));   // below the tie: down
        QCOMPARE(floatToBf16(3.14159265f), uint16_t(0x4049));
        // Overflow rounds to infinity; infinities and NaN survive (NaN stays quiet NaN).
        QCOMPARE(floatToBf16(std::numeric_limits<float>::max()), uint16_t(0x7f80));
        QCOMPARE(floatToBf16(std::numeric_limits<float>::infinity()), uint16_t(0x7f80));
        QCOMPARE(floatToBf16(-std::numeric_limits<float>::infinity()), uint16_t(0xff80));
        const uint16_t nan = floatToBf16(std::numeric_limits<float>::quiet_NaN());
        QVERIFY(std::isnan(bf16ToFloat(nan)));
        // A signalling NaN whose payload sits only in the low bits must not become infinity.
        QVERIFY(std::isnan(bf16ToFloat(floatToBf16(bitsFloat(0x7f800001)))));
        QVERIFY(std::isnan(bf16ToFloat(floatToBf16(bitsFloat(0xff800001)))));
        // Subnormals are kept (bf16 has float's exponent range).
        QCOMPARE(floatToBf16(bitsFloat(0x00010000)), uint16_t(0x0001));
        QCOMPARE(bf16ToFloat(0x0001), bitsFloat(0x00010000));
        // Every bf16 value converts to float and back unchanged.
        for (uint32_t h = 0; h < 0x10000; ++h) {
            const float f = bf16ToFloat(uint16_t(h));
            QCOMPARE(floatBits(f), h << 16);
            if (std::isnan(f)) {
                QVERIFY(std::isnan(bf16ToFloat(floatToBf16(f))));
            } else if (floatToBf16(f) != h) {
                QFAIL(("bf16 round trip fails for " + std::to_string(h)).c_str());
            }
        }
    }

    void f16Conversions() {
        QCOMPARE(floatToF16(1.0f), uint16_t(0x3c00));
        QCOMPARE(floatToF16(-2.0f), uint16_t(0xc000));
        QCOMPARE(floatToF16(0.5f), uint16_t(0x3800));
        QCOMPARE(floatToF16(-0.0f), uint16_t(0x8000));
        QCOMPARE(floatToF16(65504.0f), uint16_t(0x7bff));   // largest half
        QCOMPARE(floatToF16(65519.0f), uint16_t(0x7bff));   // below the midpoint to 65536
        QCOMPARE(floatToF16(65520.0f), uint16_t(0x7c00));   // the midpoint rounds (to even) to inf
        QCOMPARE(floatToF16(1e10f), uint16_t(0x7c00));
        QCOMPARE(floatToF16(-1e10f), uint16_t(0xfc00));
        QCOMPARE(floatToF16(std::numeric_limits<float>::infinity()), uint16_t(0x7c00));
        QVERIFY(std::isnan(f16ToFloat(floatToF16(std::numeric_limits<float>::quiet_NaN()))));
        QVERIFY(std::isnan(f16ToFloat(floatToF16(bitsFloat(0x7f800001)))));
        // Ties to even in the normal range: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
        QCOMPARE(floatToF16(1.0f + std::ldexp(1.0f, -11)), uint16_t(0x3c00));
        QCOMPARE(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), uint16_t(0x3c02));
        QCOMPARE(floatToF16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), uint16_t(0x3c01));
        // Subnormals: unit 2^-24, ties to even, underflow to signed zero.
        QCOMPARE(floatToF16(std::ldexp(1.0f, -14)), uint16_t(0x0400));   // smallest normal
        QCOMPARE(floatToF16(std::ldexp(1.0f, -24)), uint16_t(0x0001));   // smallest subnormal
        QCOMPARE(floatToF16(std::ldexp(1.0f, -25)), uint16_t(0x0000));   // tie with 0: even
        QCOMPARE(floatToF16(std::ldexp(1.0f, -25) * 1.0001f), uint16_t(0x0001));
        QCOMPARE(floatToF16(3 * std::ldexp(1.0f, -25)), uint16_t(0x0002));   // 1.5 units: tie, to even 2
        QCOMPARE(floatToF16(5 * std::ldexp(1.0f, -25)), uint16_t(0x0002));   // 2.5 units: tie, to even 2
        QCOMPARE(floatToF16(-std::ldexp(1.0f, -26)), uint16_t(0x8000));
        QCOMPARE(floatToF16(1023 * std::ldexp(1.0f, -24)), uint16_t(0x03ff));   // largest subnormal
        QCOMPARE(floatToF16(1023.5f * std::ldexp(1.0f, -24)), uint16_t(0x0400));   // rounds up into normals
        QCOMPARE(f16ToFloat(0x0001), std::ldexp(1.0f, -24));
        QCOMPARE(f16ToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
        QCOMPARE(f16ToFloat(0x7bff), 65504.0f);
        QVERIFY(std::isinf(f16ToFloat(0x7c00)) && f16ToFloat(0x7c00) > 0);
        QVERIFY(std::isinf(f16ToFloat(0xfc00)) && f16ToFloat(0xfc00) < 0);
        QVERIFY(std::isnan(f16ToFloat(0x7e00)));
        QVERIFY(std::isnan(f16ToFloat(0x7c01)));
        QCOMPARE(floatBits(f16ToFloat(0x8000)), 0x80000000u);
        // Every half value converts to float and back unchanged (NaNs stay NaN).
        for (uint32_t h = 0; h < 0x10000; ++h) {
            const float f = f16ToFloat(uint16_t(h));
            if (std::isnan(f)) {
                if ((h & 0x7c00) != 0x7c00 || (h & 0x3ff) == 0) QFAIL("NaN from a non-NaN half");
                QVERIFY(std::isnan(f16ToFloat(floatToF16(f))));
            } else if (floatToF16(f) != h) {
                QFAIL(("f16 round trip fails for " + std::to_string(h)).c_str());
            }
        }
        // Against a reference rounding on a sweep of floats: the nearest half, ties to even.
        std::mt19937 rng(99);
        for (int i = 0; i < 200000; ++i) {
            const float f = bitsFloat(uint32_t(rng()) & 0x47ffffffu);   // positive, below 2^16 * 2
            if (std::isnan(f) || f >= 65520.0f) continue;
            const uint16_t h = floatToF16(f);
            const double got = f16ToFloat(h);
            const double up = f16ToFloat(uint16_t(h + 1)), down = h ? f16ToFloat(uint16_t(h - 1)) : -got;
            const double err = std::fabs(got - double(f));
            if (err > std::fabs(up - double(f)) || err > std::fabs(down - double(f)))
                QFAIL(("not the nearest half for bits " + std::to_string(floatBits(f))).c_str());
            if (err == std::fabs(up - double(f)) && (h & 1)) QFAIL("tie not rounded to even");
            if (err == std::fabs(double(f) - down) && (h & 1) && h) QFAIL("tie not rounded to even");
        }
    }
};

QTEST_GUILESS_MAIN(TestHfFolder)
#include "test_hf_folder.moc"
