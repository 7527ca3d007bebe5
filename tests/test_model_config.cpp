// ModelConfig: presets and parameter counts, every published config.json variant, round trips,
// error messages for each bad field, and a mutation fuzz of the config text.
#include "core/error.h"
#include "core/model_config.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

using namespace swarm;
using nlohmann::json;

namespace {

// As published for the 272M model, older layout.
const char* kOldStyle = R"({
  "architecture": "Eve-2-MoE",
  "vocab_size": 50304,
  "n_layer": 12,
  "n_embd": 512,
  "n_head": 8,
  "head_dim": 64,
  "block_size": 2048,
  "num_experts": 8,
  "top_k": 2,
  "expert_intermediate_size": 1408,
  "shared_expert_intermediate_size": 1408,
  "rope_theta": 10000.0
})";

// Newer layout, as on the specialists' hub pages.
const char* kNewStyle = R"({
  "architectures": ["DeepSeekMoE"],
  "model_type": "eve_moe",
  "auto_map": {"AutoConfig": "configuration_eve.EveConfig", "AutoModelForCausalLM": "modeling_eve.EveForCausalLM"},
  "vocab_size": 50304,
  "n_layer": 12,
  "n_embd": 512,
  "n_head": 8,
  "head_dim": 64,
  "block_size": 2048,
  "num_experts": 8,
  "top_k": 2,
  "expert_intermediate_size": 1408,
  "shared_expert_intermediate_size": 1408,
  "rope_theta": 10000.0,
  "router_aux_loss_coef": 0.02,
  "dtype": "bfloat16",
  "transformers_version": "4.57.1",
  "use_cache": true,
  "tie_word_embeddings": true
})";

const char* kRequired[] = {"vocab_size", "n_layer", "n_embd", "n_head", "block_size", "num_experts",
                           "top_k", "expert_intermediate_size", "shared_expert_intermediate_size"};

std::string errorOf(const std::string& text, const std::string& source = "config.json") {
    try {
        ModelConfig::fromJsonText(text, source);
        return "<no error>";
    } catch (const Error& e) {
        return e.what();
    }
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void spit(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
}

} // namespace

class TestModelConfig : public QObject {
    Q_OBJECT

private slots:
    void presets() {
        QCOMPARE(ModelConfig::presetNames(), (std::vector<std::string>{"eve-272m", "tiny"}));
        const ModelConfig eve = ModelConfig::preset("eve-272m");
        QCOMPARE(eve, ModelConfig());
        QCOMPARE(eve.totalParameters(), int64_t(271970816));
        QCOMPARE(eve.activeParametersPerToken(), int64_t(116257280));
        QCOMPARE(eve.parametersPerExpert(), int64_t(3 * 1408 * 512));
        eve.validate();
        const ModelConfig tiny = ModelConfig::preset("tiny");
        tiny.validate("tiny");
        QVERIFY(tiny != eve);
        // 50304*128 embedding + 4 layers * 951552 + 128 (the preset's comment says ~7M; it is ~10.2M).
        QCOMPARE(tiny.totalParameters(), int64_t(10245248));
        QCOMPARE(tiny.n_head * tiny.head_dim, tiny.n_embd);
        try {
            ModelConfig::preset("eve-7b");
            QFAIL("unknown preset accepted");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), "eve-7b") && contains(e.what(), "eve-272m"), e.what());
        }
    }

    void parsesOldStyle() {
        const ModelConfig c = ModelConfig::fromJsonText(kOldStyle, "old/config.json");
        QCOMPARE(c, ModelConfig::preset("eve-272m"));
        QCOMPARE(c.router_aux_loss_coef, 0.01);   // absent in older files
        QCOMPARE(c.dtype, DType::F32);
    }

    void parsesNewStyle() {
        ModelConfig c = ModelConfig::fromJsonText(kNewStyle, "new/config.json");
        QCOMPARE(c.router_aux_loss_coef, 0.02);
        QCOMPARE(c.dtype, DType::BF16);
        QCOMPARE(c.n_layer, int64_t(12));
        QCOMPARE(c.totalParameters(), int64_t(271970816));

        json j = json::parse(kNewStyle);
        j["model_type"] = "eve-moe";
        j.erase("dtype");
        j["torch_dtype"] = "float16";
        c = ModelConfig::fromJson(j, "hyphen");
        QCOMPARE(c.dtype, DType::F16);
        j["torch_dtype"] = "float32";
        QCOMPARE(ModelConfig::fromJson(j, "x").dtype, DType::F32);
        j["torch_dtype"] = nullptr;
        QCOMPARE(ModelConfig::fromJson(j, "x").dtype, DType::F32);
        j["dtype"] = "BF16";   // safetensors spelling is accepted too
        QCOMPARE(ModelConfig::fromJson(j, "x").dtype, DType::BF16);

        // head_dim may be left out: implied by n_embd / n_head.
        j.erase("head_dim");
        QCOMPARE(ModelConfig::fromJson(j, "x").head_dim, int64_t(64));
        // Unknown fields of any type are ignored; rope_theta written as an integer is fine.
        j["some_future_field"] = {{"nested", {1, 2, 3}}};
        j["rope_theta"] = 500000;
        j["n_layer"] = 4.0;   // an integral float is accepted as an integer
        c = ModelConfig::fromJson(j, "x");
        QCOMPARE(c.rope_theta, 500000.0);
        QCOMPARE(c.n_layer, int64_t(4));
        // Optional numbers set to null fall back to the defaults.
        j["rope_theta"] = nullptr;
        j["router_aux_loss_coef"] = nullptr;
        c = ModelConfig::fromJson(j, "x");
        QCOMPARE(c.rope_theta, 10000.0);
        QCOMPARE(c.router_aux_loss_coef, 0.01);
    }

    void roundTrip() {
        ModelConfig c = ModelConfig::preset("tiny");
        c.rope_theta = 500000.5;
        c.router_aux_loss_coef = 0.0;
        c.dtype = DType::F16;
        c.block_size = 4096;
        for (const ModelConfig& cfg : {ModelConfig::preset("eve-272m"), ModelConfig::preset("tiny"), c}) {
            const json j = cfg.toJson();
            QCOMPARE(j.at("architectures"), json::array({"DeepSeekMoE"}));
            QCOMPARE(j.at("model_type"), json("eve_moe"));
            QCOMPARE(ModelConfig::fromJson(j, "rt"), cfg);
            QCOMPARE(ModelConfig::fromJsonText(j.dump(2), "rt"), cfg);
        }
        QCOMPARE(c.toJson().at("dtype"), json("float16"));

        QTemporaryDir dir;
        const std::string p = QDir(dir.path()).filePath("config.json").toStdString();
        c.save(p);
        QCOMPARE(ModelConfig::load(p), c);
        c.n_layer = 7;
        c.save(p);   // replaces
        QCOMPARE(ModelConfig::load(p).n_layer, int64_t(7));
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"config.json"});
    }

    void missingRequiredFields() {
        QTemporaryDir dir;
        const std::string p = QDir(dir.path()).filePath("config.json").toStdString();
        for (const char* field : kRequired) {
            json j = json::parse(kNewStyle);
            j.erase(field);
            spit(p, j.dump(2));
            try {
                ModelConfig::load(p);
                QFAIL((std::string("accepted a config without ") + field).c_str());
            } catch (const Error& e) {
                QVERIFY2(contains(e.what(), p), e.what());
                QVERIFY2(contains(e.what(), std::string("'") + field + "'"), e.what());
                QVERIFY2(contains(e.what(), "missing"), e.what());
            }
        }
    }

    void inconsistentSizes() {
        json j = json::parse(kNewStyle);
        j["head_dim"] = 32;   // 8 * 32 != 512
        std::string msg = errorOf(j.dump(), "cfg/config.json");
        QVERIFY2(contains(msg, "cfg/config.json") && contains(msg, "'head_dim'") && contains(msg, "512"), msg.c_str());

        j = json::parse(kNewStyle);
        j.erase("head_dim");
        j["n_head"] = 7;   // 512 / 7 does not divide: the implied head_dim is inconsistent
        msg = errorOf(j.dump());
        QVERIFY2(contains(msg, "'head_dim'"), msg.c_str());

        struct Case {
            const char* field;
            json value;
            const char* expect;
        };
        const std::vector<Case> cases = {
            {"top_k", 9, "'top_k'"},
            {"vocab_size", 50000, "'vocab_size'"},
            {"n_layer", 0, "'n_layer'"},
            {"n_layer", -3, "'n_layer'"},
            {"num_experts", 100000, "'num_experts'"},
            {"rope_theta", 0.5, "'rope_theta'"},
            {"router_aux_loss_coef", -0.1, "'router_aux_loss_coef'"},
            {"block_size", 0, "'block_size'"},
            {"expert_intermediate_size", int64_t(1) << 40, "'expert_intermediate_size'"},
        };
        for (const Case& c : cases) {
            j = json::parse(kNewStyle);
            j[c.field] = c.value;
            msg = errorOf(j.dump());
            QVERIFY2(contains(msg, "config.json") && contains(msg, c.expect), msg.c_str());
        }
        // An odd head size cannot carry rotary pairs.
        j = json::parse(kNewStyle);
        j["n_embd"] = 72;
        j["n_head"] = 8;
        j["head_dim"] = 9;
        msg = errorOf(j.dump());
        QVERIFY2(contains(msg, "'head_dim'") && contains(msg, "even"), msg.c_str());
    }

    void wrongTypes() {
        struct Case {
            const char* field;
            json value;
        };
        const std::vector<Case> cases = {
            {"n_layer", "12"},
            {"n_embd", 512.5},
            {"n_head", true},
            {"vocab_size", json::array({50304})},
            {"block_size", json::object()},
            {"top_k", nullptr},
            {"head_dim", "64"},
            {"rope_theta", "10000"},
            {"router_aux_loss_coef", false},
            {"dtype", 16},
            {"torch_dtype", json::array()},
            {"n_layer", 1e300},
            {"vocab_size", 18446744073709551615ull},   // would wrap to -1 if read as int64
        };
        for (const Case& c : cases) {
            json j = json::parse(kOldStyle);
            j[c.field] = c.value;
            const std::string msg = errorOf(j.dump(), "typed.json");
            QVERIFY2(contains(msg, "typed.json") && contains(msg, std::string("'") + c.field + "'"),
                     (std::string(c.field) + ": " + msg).c_str());
        }
        json j = json::parse(kOldStyle);
        j["vocab_size"] = 18446744073709551615ull;
        QVERIFY2(contains(errorOf(j.dump()), "18446744073709551615"), errorOf(j.dump()).c_str());

        j = json::parse(kOldStyle);
        j["dtype"] = "int8";
        std::string msg = errorOf(j.dump());
        QVERIFY2(contains(msg, "'dtype'") && contains(msg, "int8"), msg.c_str());
        j = json::parse(kNewStyle);
        j["model_type"] = "llama";
        msg = errorOf(j.dump());
        QVERIFY2(contains(msg, "llama"), msg.c_str());
    }

    void notJson() {
        for (const std::string& text : {std::string(""), std::string("{"), std::string("vocab_size = 50304"),
                                        std::string("{\"n_layer\": 12,}"), std::string("{\"a\": \"\xff\"}")}) {
            const std::string msg = errorOf(text, "broken/config.json");
            QVERIFY2(contains(msg, "broken/config.json") && contains(msg, "not valid JSON"), msg.c_str());
        }
        for (const std::string& text : {std::string("[]"), std::string("42"), std::string("\"config\""), std::string("null")}) {
            const std::string msg = errorOf(text, "cfg");
            QVERIFY2(contains(msg, "cfg") && contains(msg, "object"), msg.c_str());
        }
        QVERIFY_THROWS_EXCEPTION(Error, ModelConfig::fromJson(json::array(), "x"));

        // A hostile value nested a few hundred thousand levels deep must give an error, not a
        // stack overflow while the message is built.
        const std::string deep = std::string(300000, '[') + std::string(300000, ']');
        const std::string msg = errorOf("{\"vocab_size\": " + deep + "}", "deep.json");
        QVERIFY2(contains(msg, "'vocab_size'") && contains(msg, "array"), msg.c_str());

        QTemporaryDir dir;
        const std::string missing = QDir(dir.path()).filePath("nope/config.json").toStdString();
        try {
            ModelConfig::load(missing);
            QFAIL("loading a missing file succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), missing), e.what());
        }
        const std::string big = QDir(dir.path()).filePath("config.json").toStdString();
        spit(big, std::string(2 << 20, ' '));   // config files are small; 2 MiB is refused
        try {
            ModelConfig::load(big);
            QFAIL("loading a 2 MiB config succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), big) && contains(e.what(), "too large"), e.what());
        }
    }

    void mutationFuzz() {
        const std::vector<std::string> seeds = {kOldStyle, kNewStyle, ModelConfig::preset("tiny").toJson().dump(2),
                                                ModelConfig::preset("eve-272m").toJson().dump()};
        const std::vector<std::string> inserts = {"{", "}", "[", "]", ",", ":", "\"", "null", "true", "-", "0",
                                                  "1e999", "-1", "18446744073709551616", "9223372036854775807",
                                                  "\"n_layer\": 3,", "\"head_dim\": 7,", "\"dtype\": \"bfloat16\",",
                                                  "\"model_type\": \"gpt2\",", "\xff", "\xe2\x82", "\\u0000",
                                                  "\\ud800", "0.5", "1e15", "4.0"};
        std::mt19937_64 rng(20240611);
        auto rnd = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
        int parsed = 0, rejected = 0;
        const int iterations = 3000;
        for (int iter = 0; iter < iterations; ++iter) {
            std::string text = seeds[rnd(seeds.size())];
            const int edits = 1 + int(rnd(3));
            for (int e = 0; e < edits && !text.empty(); ++e) {
                const size_t pos = rnd(text.size());
                switch (rnd(7)) {
                case 0: {   // replace a digit
                    size_t d = text.find_first_of("0123456789", pos);
                    if (d != std::string::npos) text[d] = char('0' + rnd(10));
                    break;
                }
                case 1: {   // replace a whole number
                    size_t d = text.find_first_of("0123456789", pos);
                    if (d == std::string::npos) break;
                    size_t end = text.find_first_not_of("0123456789.", d);
                    static const char* nums[] = {"0", "-1", "1", "2", "7", "64", "1e400", "-0", "3.5", "1e15",
                                                 "99999999999999999999", "9223372036854775808", "50257"};
                    text.replace(d, end - d, nums[rnd(13)]);
                    break;
                }
                case 2: {   // remove a structural character
                    size_t d = text.find_first_of("{}[]:,\"", pos);
                    if (d != std::string::npos) text.erase(d, 1);
                    break;
                }
                case 3: {   // duplicate a "key": value line
                    size_t q = text.find('"', pos);
                    if (q == std::string::npos) break;
                    size_t end = text.find_first_of(",}", q);
                    if (end == std::string::npos) break;
                    text.insert(end, "," + text.substr(q, end - q));
                    break;
                }
                case 4:
                    text.insert(pos, inserts[rnd(inserts.size())]);
                    break;
                case 5:
                    text[pos] = char(rnd(256));
                    break;
                default:
                    text.resize(pos);
                    break;
                }
            }
            try {
                const ModelConfig c = ModelConfig::fromJsonText(text, "fuzz.json");
                ++parsed;
                c.validate("again");   // what parsed is valid
                QCOMPARE(ModelConfig::fromJson(c.toJson(), "rt"), c);
                QVERIFY(c.totalParameters() > 0);
                QVERIFY(c.activeParametersPerToken() > 0);
            } catch (const Error& e) {
                ++rejected;
                QVERIFY2(contains(e.what(), "fuzz.json") || contains(e.what(), "again"), e.what());
            } catch (const std::exception& e) {
                QFAIL(("iteration " + std::to_string(iter) + ": unexpected exception: " + e.what() + "\n" + text).c_str());
            } catch (...) {
                QFAIL(("iteration " + std::to_string(iter) + ": unexpected non-std exception\n" + text).c_str());
            }
        }
        qInfo("config fuzz: %d texts, %d parsed, %d rejected", iterations, parsed, rejected);
        QVERIFY(parsed > 100);
        QVERIFY(rejected > 500);
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
