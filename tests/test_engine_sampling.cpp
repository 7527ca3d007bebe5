// Sampling (greedy, temperature / top-k / top-p determinism by seed, repetition penalty, padding
// ids never chosen), stop-string and streaming helpers, and generate() end to end on small models:
// EOS, stop strings, max tokens, full context, prompt truncation, callback stop, bad options.
#include "engine/engine.h"

#include "core/error.h"

#include "test_engine_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <map>
#include <set>

using namespace swarm;
using namespace swarm::engine;

namespace {

constexpr int kVocab = 50304;

std::vector<float> logitsWith(std::initializer_list<std::pair<int, float>> set, float rest = -10.0f) {
    std::vector<float> l(kVocab, rest);
    for (auto [id, v] : set) l[size_t(id)] = v;
    return l;
}

SamplingOptions sampling(float temperature, int topK = 0, float topP = 1.0f, uint64_t seed = 1) {
    SamplingOptions o;
    o.temperature = temperature;
    o.topK = topK;
    o.topP = topP;
    o.seed = seed;
    return o;
}

} // namespace

class TestEngineSampling : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    std::string randomDir_, eosDir_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        ModelConfig c = enginetest::smallConfig();
        c.block_size = 128;
        randomDir_ = tmp_.filePath("random").toStdString();
        enginetest::saveModel(randomDir_, c, enginetest::randomWeights(c, 21, 0.5), DType::F32);
        // A model that always predicts EOS: every block's output projections are zero, so the final
        // state is the token's embedding u; the EOS row is 2u, every other row u.
        enginetest::Weights w = enginetest::randomWeights(c, 22);
        for (auto& [name, v] : w)
            if (name.find("c_proj") != std::string::npos) std::fill(v.begin(), v.end(), 0.0f);
        std::vector<float>& wte = w["transformer.wte.weight"];
        for (int64_t id = 0; id < c.vocab_size; ++id)
            for (int64_t e = 0; e < c.n_embd; ++e)
                wte[size_t(id * c.n_embd + e)] = (id == 50256 ? 2.0f : 1.0f) * (0.5f + 0.01f * float(e));
        for (const char* n : {"transformer.ln_f.weight"}) std::fill(w[n].begin(), w[n].end(), 1.0f);
        eosDir_ = tmp_.filePath("eos").toStdString();
        enginetest::saveModel(eosDir_, c, w, DType::F32);
    }

    void greedyAndPadding() {
        std::vector<float> l = logitsWith({{7, 3.0f}, {50300, 100.0f}, {50257, 50.0f}});
        Sampler s(sampling(0.0f), kVocab);
        QCOMPARE(s.sample(l.data(), nullptr, 0), 7);          // padding rows are never chosen
        Sampler t(sampling(5.0f), kVocab);
        for (int i = 0; i < 200; ++i) QVERIFY(t.sample(l.data(), nullptr, 0) < kTokenizerVocab);
        // Ties go to the lowest id.
        std::vector<float> tie = logitsWith({{9, 1.0f}, {4, 1.0f}});
        QCOMPARE(s.sample(tie.data(), nullptr, 0), 4);
    }

    void seedDeterminism() {
        enginetest::Rand r(3);
        std::vector<float> l(kVocab);
        for (float& v : l) v = float(r.normal() * 2);
        for (auto [k, p] : {std::pair<int, float>{0, 1.0f}, {40, 1.0f}, {0, 0.9f}, {50, 0.5f}}) {
            std::vector<int32_t> a, b, d;
            Sampler sa(sampling(0.8f, k, p, 42), kVocab), sb(sampling(0.8f, k, p, 42), kVocab), sd(sampling(0.8f, k, p, 43), kVocab);
            for (int i = 0; i < 50; ++i) {
                a.push_back(sa.sample(l.data(), nullptr, 0));
                b.push_back(sb.sample(l.data(), nullptr, 0));
                d.push_back(sd.sample(l.data(), nullptr, 0));
            }
            QCOMPARE(a, b);
            QVERIFY(a != d);
        }
    }

    void topKAndTopP() {
        // Probabilities at temperature 1: ids 10, 11, 12, 13 with logits 3, 2, 1, 0 (others ~ -inf).
        std::vector<float> l = logitsWith({{10, 3.0f}, {11, 2.0f}, {12, 1.0f}, {13, 0.0f}}, -1e4f);
        std::map<int, int> counts;
        Sampler k2(sampling(1.0f, 2, 1.0f, 5), kVocab);
        for (int i = 0; i < 2000; ++i) counts[k2.sample(l.data(), nullptr, 0)]++;
        QCOMPARE(counts.size(), size_t(2));
        QVERIFY(counts[10] > counts[11]);
        // e^3 / (e^3 + e^2) = 0.731: within a few percent over 2000 draws.
        QVERIFY(std::abs(counts[10] / 2000.0 - 0.731) < 0.04);
        // top_p 0.9: p = .644 .237 .087 .032 -> the nucleus is {10, 11, 12} (cum .968 >= .9).
        counts.clear();
        Sampler p9(sampling(1.0f, 0, 0.9f, 6), kVocab);
        for (int i = 0; i < 3000; ++i) counts[p9.sample(l.data(), nullptr, 0)]++;
        QCOMPARE(counts.size(), size_t(3));
        QVERIFY(counts.count(13) == 0);
        // top_p 0.5 keeps only the top token; top_k 1 is greedy.
        Sampler p5(sampling(1.0f, 0, 0.5f, 7), kVocab), k1(sampling(2.0f, 1, 1.0f, 8), kVocab);
        for (int i = 0; i < 100; ++i) {
            QCOMPARE(p5.sample(l.data(), nullptr, 0), 10);
            QCOMPARE(k1.sample(l.data(), nullptr, 0), 10);
        }
        // Temperature sharpens: at 0.1 the top token takes almost every draw.
        Sampler cold(sampling(0.1f, 0, 1.0f, 9), kVocab);
        int top = 0;
        for (int i = 0; i < 500; ++i) top += cold.sample(l.data(), nullptr, 0) == 10;
        QVERIFY(top >= 498);
    }

    void repetitionPenalty() {
        std::vector<float> l = logitsWith({{100, 2.0f}, {200, 1.5f}, {300, -1.0f}, {400, -1.2f}});
        SamplingOptions o = sampling(0.0f);
        o.repetitionPenalty = 1.5f;
        Sampler s(o, kVocab);
        const int32_t hist[] = {100, 100, 100};       // repeated ids are penalised once
        QCOMPARE(s.sample(l.data(), hist, 3), 200);   // 2.0 / 1.5 = 1.33 < 1.5
        QCOMPARE(s.sample(l.data(), nullptr, 0), 100);
        // Negative logits are multiplied: -1.0 * 1.5 = -1.5 falls below -1.2.
        std::vector<float> n = logitsWith({{300, -1.0f}, {400, -1.2f}}, -50.0f);
        const int32_t h2[] = {300, 99999, -4};        // out-of-range ids in the history are ignored
        QCOMPARE(s.sample(n.data(), h2, 3), 400);
        SamplingOptions mild = sampling(0.0f);
        mild.repetitionPenalty = 1.2f;
        Sampler m(mild, kVocab);
        QCOMPARE(m.sample(l.data(), hist, 3), 100);   // 2.0 / 1.2 = 1.67 > 1.5
    }

    void badOptions() {
        for (auto bad : {sampling(-1.0f), sampling(std::nanf("")), sampling(1.0f, -1), sampling(1.0f, 0, 0.0f),
                         sampling(1.0f, 0, 1.5f)})
            QVERIFY_THROWS_EXCEPTION(Error, validateSamplingOptions(bad));
        SamplingOptions o;
        o.maxTokens = 0;
        QVERIFY_THROWS_EXCEPTION(Error, validateSamplingOptions(o));
        o.maxTokens = -3;
        QVERIFY_THROWS_EXCEPTION(Error, validateSamplingOptions(o));
        o.maxTokens = 1;
        o.repetitionPenalty = 0.0f;
        QVERIFY_THROWS_EXCEPTION(Error, validateSamplingOptions(o));
        o.repetitionPenalty = 1.0f;
        o.stop = {""};
        QVERIFY_THROWS_EXCEPTION(Error, validateSamplingOptions(o));
    }

    void stopHelpers() {
        const std::vector<std::string> stops = {"\nUser:", "###"};
        QCOMPARE(findStop("abc\nUser: x", stops, 0), size_t(3));
        QCOMPARE(findStop("abc\nUse", stops, 0), std::string::npos);
        QCOMPARE(findStop("ab##", stops, 3), std::string::npos);
        QCOMPARE(findStop("ab###", stops, 4), size_t(2));      // found though it began before searchFrom
        QCOMPARE(holdBackBytes("hello\nUs", stops), size_t(3));
        QCOMPARE(holdBackBytes("hello#", stops), size_t(1));
        QCOMPARE(holdBackBytes("hello", stops), size_t(0));
        QCOMPARE(holdBackBytes("caf\xc3", {}), size_t(1));         // incomplete UTF-8
        QCOMPARE(holdBackBytes("caf\xc3\xa9", {}), size_t(0));
        QCOMPARE(holdBackBytes("\xe2\x80", {}), size_t(2));
        QCOMPARE(holdBackBytes("\xf0\x9f\x98", {}), size_t(3));
    }

    // ---------------------------------------------------------------------------------------------
    void generateStopsAtEos() {
        Model m = Model::load(eosDir_);
        Session s(m);
        std::vector<int32_t> seen;
        std::string streamed;
        bool expertsOk = true;
        GenerateResult r = generate(s, {15496, 11}, SamplingOptions{}, [&](const TokenEvent& e) {
            seen.push_back(e.token);
            streamed += e.text;
            expertsOk = expertsOk && e.experts && e.nLayer == 2 && e.topK == 2;
            for (int i = 0; expertsOk && i < e.nLayer * e.topK; ++i) expertsOk = e.experts[i] >= 0 && e.experts[i] < 4;
            return true;
        });
        QVERIFY(expertsOk);
        QCOMPARE(int(r.finish), int(FinishReason::Eos));
        QCOMPARE(r.tokens, std::vector<int32_t>{kEndOfText});
        QCOMPARE(seen, std::vector<int32_t>{kEndOfText});
        QVERIFY(r.text.empty() && streamed.empty());
        QCOMPARE(r.promptTokens, 2);
    }

    void generateStopStringsAndStreaming() {
        Model m = Model::load(randomDir_);
        Session s(m, SessionOptions{64, 16});
        const std::vector<int32_t> prompt = m.tokenizer().encode("User: Say something long\nAssistant:");
        SamplingOptions o;
        o.maxTokens = 24;
        GenerateResult full = generate(s, prompt, o);
        QCOMPARE(int(full.finish), int(FinishReason::MaxTokens));
        QCOMPARE(full.tokens.size(), size_t(24));
        QVERIFY(full.text.size() > 10);
        // Same settings, same text (greedy).
        QCOMPARE(generate(s, prompt, o).text, full.text);

        // A stop string from the middle of that text: generation ends right before it.
        const std::string stop = full.text.substr(full.text.size() / 2, 3);
        const size_t at = full.text.find(stop);
        o.stop = {stop};
        std::string streamed;
        int events = 0;
        bool indexOk = true;
        GenerateResult cut = generate(s, prompt, o, [&](const TokenEvent& e) {
            streamed += e.text;
            indexOk = indexOk && e.index == events;
            ++events;
            return true;
        });
        QVERIFY(indexOk);
        QCOMPARE(int(cut.finish), int(FinishReason::Stop));
        QCOMPARE(cut.text, full.text.substr(0, at));
        QCOMPARE(streamed, cut.text);                  // the pieces never show part of the stop string
        QCOMPARE(size_t(events), cut.tokens.size());

        // Sampled generation is reproducible by seed.
        SamplingOptions t = sampling(0.9f, 40, 0.95f, 77);
        t.maxTokens = 12;
        QCOMPARE(generate(s, prompt, t).tokens, generate(s, prompt, t).tokens);

        // The callback stops generation; what was streamed is the result.
        std::string shown;
        o.stop.clear();
        GenerateResult stopped = generate(s, prompt, o, [&](const TokenEvent& e) {
            shown += e.text;
            return e.index < 2;
        });
        QCOMPARE(int(stopped.finish), int(FinishReason::Callback));
        QCOMPARE(stopped.tokens.size(), size_t(3));
        QCOMPARE(stopped.text, shown);
    }

    void generateContextAndTruncation() {
        Model m = Model::load(randomDir_);
        Session s(m, SessionOptions{8, 4});
        SamplingOptions o;
        o.maxTokens = 10;
        std::vector<int32_t> p5 = {1, 2, 3, 4, 5};
        GenerateResult r = generate(s, p5, o);
        // 5 prompt positions; tokens 1..3 are fed back (positions 6..8); the 4th fills nothing.
        QCOMPARE(int(r.finish), int(FinishReason::ContextFull));
        QCOMPARE(r.tokens.size(), size_t(4));

        std::vector<int32_t> p20(20, 318);
        QVERIFY_THROWS_EXCEPTION(Error, generate(s, p20, o));           // longer than the context
        o.truncatePrompt = true;
        o.maxTokens = 3;
        GenerateResult t = generate(s, p20, o);
        QCOMPARE(t.promptTokens, 6);                                    // 8 - (3 - 1)
        QCOMPARE(t.truncatedTokens, 14);
        QCOMPARE(t.tokens.size(), size_t(3));
        o.maxTokens = 50;                                               // more than the context: keep 1
        GenerateResult one = generate(s, p20, o);
        QCOMPARE(one.promptTokens, 1);

        o.maxTokens = 0;
        QVERIFY_THROWS_EXCEPTION(Error, generate(s, p5, o));
        o.maxTokens = -1;
        QVERIFY_THROWS_EXCEPTION(Error, generate(s, p5, o));
        o.maxTokens = 4;
        QVERIFY_THROWS_EXCEPTION(Error, generate(s, {}, o));
        QCOMPARE(std::string(finishReasonName(FinishReason::ContextFull)), std::string("context_full"));
    }
};

QTEST_GUILESS_MAIN(TestEngineSampling)
#include "test_engine_sampling.moc"
