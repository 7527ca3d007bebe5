// The CPU engine against the LibTorch reference model (model/eve_model) on random `tiny` and
// `eve-272m` models: F32 logits within 1e-4 of the logit range for a whole prompt and token by
// token through the KV cache, identical greedy generations, scalar and SIMD paths. Then BF16, F16
// and Q8_0 against F32 over a fixed prompt set: max / mean logit error and top-1 agreement,
// printed and bounded from measurement.
#include "engine/engine.h"

#include "model/eve_model.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "core/tokenizer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>

using namespace swarm;

namespace {

const char* kPrompts[] = {
    "User: Write a SQL query that lists the ten largest customers by revenue.\nAssistant:",
    "User: Summarise the meeting: Anna will ship the release on Friday, Bob fixes the login bug.\nAssistant:",
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
    "User: {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\nAssistant:",
    "diff --git a/app.py b/app.py\n-    return x\n+    return x + 1\n",
    "User: My card was charged twice for the same order, what can I do?\nAssistant:",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
    "User: Mask the personal data: John Smith, born 1984-02-11, lives at 12 Baker Street.\nAssistant:",
};

struct Stats {
    std::vector<double> rowRel;   // per row: max|a - b| / range(b)
    double maxRel = 0;     // max over rows of max|a - b| / range(b)
    double meanAbs = 0;    // mean |a - b| over every logit
    double maxAbs = 0;
    long top1Same = 0, rows = 0;
};

void accumulate(Stats& s, const float* a, const float* b, size_t n, size_t limit) {
    double maxDiff = 0, sum = 0, lo = 1e300, hi = -1e300;
    size_t ia = 0, ib = 0;
    for (size_t i = 0; i < n; ++i) {
        const double d = std::fabs(double(a[i]) - double(b[i]));
        maxDiff = std::max(maxDiff, d);
        sum += d;
        lo = std::min(lo, double(b[i]));
        hi = std::max(hi, double(b[i]));
        if (i < limit) {
            if (a[i] > a[ia]) ia = i;
            if (b[i] > b[ib]) ib = i;
        }
    }
    s.maxRel = std::max(s.maxRel, maxDiff / (hi - lo));
    s.rowRel.push_back(maxDiff / (hi - lo));
    s.maxAbs = std::max(s.maxAbs, maxDiff);
    s.meanAbs = (s.meanAbs * double(s.rows) + sum / double(n)) / double(s.rows + 1);
    s.top1Same += ia == ib;
    s.rows += 1;
}

struct TorchRun {
    EveModel model{nullptr};
    ModelConfig config;
};

} // namespace

class TestEngineVsTorch : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    Gpt2Tokenizer tok_ = Gpt2Tokenizer::bundled();

    // Logits [T][V] of the LibTorch model for one sequence.
    std::vector<float> torchLogits(EveModel& model, const std::vector<int32_t>& ids) {
        torch::NoGradGuard g;
        torch::Tensor idx = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64).unsqueeze(0);
        torch::Tensor logits = model->forward(idx).logits.contiguous();
        return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    }

    void compareF32(const std::string& preset, uint64_t seed, int greedyTokens) {
        applyThreadCount(0);
        ModelConfig c = ModelConfig::preset(preset);
        EveModel model(c);
        model->initWeights(seed);
        model->eval();
        const std::string dir = tmp_.filePath(QString::fromStdString(preset)).toStdString();
        saveEveModel(dir, model, DType::F32, &tok_);
        const size_t V = size_t(c.vocab_size);
        const std::vector<int32_t> prompt = tok_.encode(kPrompts[0]);
        const std::vector<float> ref = torchLogits(model, prompt);

        std::vector<engine::Isa> isas{engine::Isa::Scalar};
        if (engine::detectIsa() != engine::Isa::Scalar) isas.push_back(engine::detectIsa());
        for (engine::Isa isa : isas) {
            engine::LoadOptions o;
            o.isa = isa;
            engine::Model m = engine::Model::load(dir, o);
            QCOMPARE(int(m.weightType()), int(engine::WType::F32));
            engine::Session whole(m), steps(m);
            whole.prefill(prompt, /*allLogits=*/true);
            double worstWhole = 0, worstSteps = 0;
            for (size_t t = 0; t < prompt.size(); ++t) {
                Stats s1, s2;
                accumulate(s1, whole.allLogits().data() + t * V, ref.data() + t * V, V, V);
                steps.decode(prompt[t]);
                accumulate(s2, steps.logits(), ref.data() + t * V, V, V);
                worstWhole = std::max(worstWhole, s1.maxRel);
                worstSteps = std::max(worstSteps, s2.maxRel);
            }
            qInfo("%s %s f32 vs LibTorch, %zu positions: whole prompt %.3g, token by token %.3g (max |diff| / logit range)",
                  preset.c_str(), engine::isaName(isa), prompt.size(), worstWhole, worstSteps);
            QVERIFY(worstWhole < 1e-4);
            QVERIFY(worstSteps < 1e-4);

            // Greedy generation: the same ids as the reference path (no KV cache there).
            std::vector<int64_t> torchIds = greedyGenerate(model, std::vector<int64_t>(prompt.begin(), prompt.end()),
                                                           greedyTokens, torch::kCPU);
            engine::SamplingOptions so;
            so.maxTokens = greedyTokens;
            engine::GenerateResult r = engine::generate(whole, prompt, so);
            QCOMPARE(std::vector<int64_t>(r.tokens.begin(), r.tokens.end()), torchIds);
        }
    }

    // Lower-precision weights against the engine's F32 over the prompt set, every position.
    struct Bound {
        double maxRel, medianRel, minTop1;
    };
    // Bounds for bf16, f16, q8_0 x q8, q8_0 x f32, in that order.
    void measureTypes(const std::string& preset, uint64_t seed, const Bound (&bounds)[4]) {
        ModelConfig c = ModelConfig::preset(preset);
        const std::string dir = tmp_.filePath(QString::fromStdString(preset)).toStdString();
        if (!QFile::exists(QString::fromStdString(dir + "/config.json"))) {
            applyThreadCount(0);
            EveModel model(c);
            model->initWeights(seed);
            saveEveModel(dir, model, DType::F32, &tok_);
        }
        const size_t V = size_t(c.vocab_size);
        engine::Model f32 = engine::Model::load(dir);
        std::vector<std::vector<int32_t>> prompts;
        std::vector<std::vector<float>> refs;
        for (const char* p : kPrompts) {
            prompts.push_back(tok_.encode(p));
            engine::Session s(f32);
            s.prefill(prompts.back(), true);
            refs.push_back(s.allLogits());
        }
        struct Variant {
            const char* name;
            engine::WType type;
            bool q8acts;
        };
        std::vector<std::pair<const char*, Stats>> results;
        for (Variant v : {Variant{"bf16", engine::WType::BF16, true}, Variant{"f16", engine::WType::F16, true},
                          Variant{"q8_0 x q8 activations", engine::WType::Q8_0, true},
                          Variant{"q8_0 x f32 activations", engine::WType::Q8_0, false}}) {
            engine::LoadOptions o;
            o.dtype = v.type;
            o.quantizeActivations = v.q8acts;
            engine::Model m = engine::Model::load(dir, o);
            Stats st;
            for (size_t p = 0; p < prompts.size(); ++p) {
                engine::Session s(m);
                s.prefill(prompts[p], true);
                for (size_t t = 0; t < prompts[p].size(); ++t)
                    accumulate(st, s.allLogits().data() + t * V, refs[p].data() + t * V, V, engine::kTokenizerVocab);
            }
            std::sort(st.rowRel.begin(), st.rowRel.end());
            qInfo("%s %-22s vs f32 over %ld positions: max |diff| / range %.4f (median %.4f, 95th pct %.4f), "
                  "max |diff| %.4f, mean |diff| %.5f, top-1 agreement %.1f%%",
                  preset.c_str(), v.name, st.rows, st.maxRel, st.rowRel[st.rowRel.size() / 2],
                  st.rowRel[st.rowRel.size() * 95 / 100], st.maxAbs, st.meanAbs,
                  100.0 * double(st.top1Same) / double(st.rows));
            results.emplace_back(v.name, st);
        }
        for (size_t i = 0; i < results.size(); ++i) {
            const Stats& st = results[i].second;
            QVERIFY2(st.maxRel < bounds[i].maxRel, results[i].first);
            QVERIFY2(st.rowRel[st.rowRel.size() / 2] < bounds[i].medianRel, results[i].first);
            QVERIFY2(double(st.top1Same) / double(st.rows) >= bounds[i].minTop1, results[i].first);
        }
    }

private slots:
    void initTestCase() { QVERIFY(tmp_.isValid()); }

    void tinyF32MatchesTorch() { compareF32("tiny", 1, 24); }
    void eve272mF32MatchesTorch() { compareF32("eve-272m", 2, 12); }

    // Bounds set from measurement with margin (AVX-512 and scalar, this machine):
    //   tiny      max rel: bf16 .026  f16 .0003  q8xq8 .038  q8xf32 .039; top-1 100% for all
    //   eve-272m  max rel: bf16 .112  f16 .112   q8xq8 .164  q8xf32 .143
    //             median:  bf16 .0036 f16 .0004  q8xq8 .021  q8xf32 .011
    //             top-1:   bf16 98.4% f16 100%   q8xq8 90.7% q8xf32 92.9%
    //   q8xq8 with its default q8_0 KV cache (LoadOptions::kvType): eve-272m max rel .160, median
    //             .017, top-1 87.9%; tiny max rel .040, top-1 100%
    // The max is set by a few positions where a router near-tie flips an expert choice (f16 and
    // bf16 share the same worst position); random weights also make the logits nearly flat, so
    // top-1 is a harsh test here: a trained model's margins are far larger.
    void tinyLowerPrecision() {
        measureTypes("tiny", 1, {{0.08, 0.01, 0.97}, {0.01, 0.001, 0.97}, {0.12, 0.02, 0.97}, {0.12, 0.02, 0.97}});
    }
    void eve272mLowerPrecision() {
        measureTypes("eve-272m", 2, {{0.25, 0.01, 0.95}, {0.25, 0.002, 0.97}, {0.30, 0.05, 0.85}, {0.30, 0.03, 0.87}});
    }
};

QTEST_GUILESS_MAIN(TestEngineVsTorch)
#include "test_engine_vs_torch.moc"
