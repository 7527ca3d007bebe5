// The engine's forward pass without LibTorch: against a naive double-precision reference written
// from the architecture doc, prefill vs token-by-token decode, chunked prefill, batched decode,
// thread counts, scalar vs SIMD, memory-mapped vs converted weights, and bad input.
#include "engine/engine.h"

#include "core/error.h"

#include "test_engine_util.h"

#include <QTemporaryDir>
#include <QtTest>

using namespace swarm;
using namespace swarm::engine;
using enginetest::relativeError;

namespace {

const std::vector<int32_t> kPrompt = {50256, 15496, 11, 995, 0, 318, 257, 1332, 13, 383, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13};

LoadOptions opts(Isa isa, int threads = 2, std::optional<WType> dtype = std::nullopt, bool q8acts = true) {
    LoadOptions o;
    o.isa = isa;
    o.threads = threads;
    o.dtype = dtype;
    o.quantizeActivations = q8acts;
    return o;
}

// Every instruction set this CPU runs (the scalar fallback always).
std::vector<Isa> isas() {
    std::vector<Isa> out;
    for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon})
        if (isaSupported(i)) out.push_back(i);
    return out;
}

} // namespace

class TestEngineForward : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    ModelConfig config_ = enginetest::smallConfig();
    enginetest::Weights weights_;
    QString f32Dir_, bf16Dir_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        weights_ = enginetest::randomWeights(config_, 7);
        f32Dir_ = tmp_.filePath("f32");
        bf16Dir_ = tmp_.filePath("bf16");
        enginetest::saveModel(f32Dir_.toStdString(), config_, weights_, DType::F32);
        enginetest::saveModel(bf16Dir_.toStdString(), config_, weights_, DType::BF16);
    }

    // Every position's logits of a whole prompt, scalar and SIMD, against the naive reference.
    void matchesNaiveReference() {
        const auto ref = enginetest::referenceForward(config_, weights_, kPrompt);
        for (Isa isa : isas()) {
            Model m = Model::load(f32Dir_.toStdString(), opts(isa));
            QCOMPARE(int(m.isa()), int(isa));
            Session s(m);
            s.prefill(kPrompt, /*allLogits=*/true);
            const size_t V = size_t(config_.vocab_size);
            double worst = 0;
            for (size_t t = 0; t < kPrompt.size(); ++t)
                worst = std::max(worst, relativeError(s.allLogits().data() + t * V, ref[t].data(), V));
            qInfo("%s: max relative logit error vs the double reference %.3g", isaName(isa), worst);
            QVERIFY(worst < 1e-5);
            QCOMPARE(s.position(), int(kPrompt.size()));
        }
    }

    void decodeMatchesPrefill() {
        Model m = Model::load(f32Dir_.toStdString(), opts(Isa::Auto));
        Session whole(m), steps(m), chunked(m, SessionOptions{0, 3});
        whole.prefill(kPrompt, true);
        chunked.prefill(kPrompt, true);
        const size_t V = size_t(config_.vocab_size);
        for (size_t t = 0; t < kPrompt.size(); ++t) {
            steps.decode(kPrompt[t]);
            QVERIFY(relativeError(steps.logits(), whole.allLogits().data() + t * V, V) < 1e-5);
            QVERIFY(relativeError(chunked.allLogits().data() + t * V, whole.allLogits().data() + t * V, V) < 1e-5);
        }
        // The last position's routing is reported per layer, weights renormalised.
        for (int64_t l = 0; l < config_.n_layer; ++l) {
            float sum = 0;
            for (int64_t j = 0; j < config_.top_k; ++j) {
                const int32_t e = steps.chosenExperts()[l * config_.top_k + j];
                QVERIFY(e >= 0 && e < config_.num_experts);
                sum += steps.expertWeights()[l * config_.top_k + j];
            }
            QVERIFY(std::fabs(sum - 1.0f) < 1e-5f);
        }
        // truncate() re-uses a prefix: decoding the tail again gives the same logits.
        steps.truncate(5);
        for (size_t t = 5; t < kPrompt.size(); ++t) steps.decode(kPrompt[t]);
        QVERIFY(relativeError(steps.logits(), whole.logits(), V) < 1e-6);
    }

    // Rows are split between threads, never a row's sum: any thread count gives the same bits.
    void threadCountsAreBitIdentical() {
        std::vector<float> first;
        for (int threads : {1, 2, 3}) {
            Model m = Model::load(f32Dir_.toStdString(), opts(Isa::Auto, threads));
            QCOMPARE(m.threads(), threads);
            Session s(m);
            s.prefill(kPrompt);
            std::vector<float> l(s.logits(), s.logits() + config_.vocab_size);
            if (first.empty()) first = l;
            else QVERIFY(l == first);
        }
    }

    void batchedDecodeMatchesSingle() {
        for (WType t : {WType::F32, WType::Q8_0}) {
            Model m = Model::load(f32Dir_.toStdString(), opts(Isa::Auto, 2, t));
            const int nSeq = 5;
            std::vector<Session> batch, single;
            for (int i = 0; i < nSeq; ++i) {
                batch.emplace_back(m, SessionOptions{32, 8});
                single.emplace_back(m, SessionOptions{32, 8});
                // Prompts of different lengths: the sequences sit at different positions.
                std::vector<int32_t> p(kPrompt.begin(), kPrompt.begin() + 3 + i);
                batch.back().prefill(p);
                single.back().prefill(p);
            }
            std::vector<Session*> ptrs;
            for (Session& s : batch) ptrs.push_back(&s);
            for (int step = 0; step < 3; ++step) {
                std::vector<int32_t> toks;
                for (int i = 0; i < nSeq; ++i) toks.push_back(int32_t(1000 + 37 * i + step));
                m.decodeBatch(ptrs.data(), toks.data(), nSeq);
                for (int i = 0; i < nSeq; ++i) {
                    single[size_t(i)].decode(toks[size_t(i)]);
                    QVERIFY2(relativeError(batch[size_t(i)].logits(), single[size_t(i)].logits(), size_t(config_.vocab_size)) < 1e-5,
                             wtypeName(t));
                    QCOMPARE(batch[size_t(i)].position(), single[size_t(i)].position());
                }
            }
            // Misuse: the same session twice, more sequences than maxBatch.
            Session* twice[2] = {ptrs[0], ptrs[0]};
            int32_t toks2[2] = {1, 2};
            QVERIFY_THROWS_EXCEPTION(Error, m.decodeBatch(twice, toks2, 2));
        }
    }

    // BF16 file used as BF16 is mapped in place; the same values as F32 give (nearly) the same logits.
    void weightTypesAndMapping() {
        enginetest::Weights rounded = weights_;
        enginetest::roundWeights(rounded, DType::BF16);
        const auto ref = enginetest::referenceForward(config_, rounded, kPrompt);
        const size_t V = size_t(config_.vocab_size);

        Model asStored = Model::load(bf16Dir_.toStdString(), opts(Isa::Auto));
        QCOMPARE(int(asStored.weightType()), int(WType::BF16));
        QVERIFY(asStored.stats().mappedBytes > 0);
        QCOMPARE(asStored.stats().format, std::string("safetensors"));
        Model widened = Model::load(bf16Dir_.toStdString(), opts(Isa::Auto, 2, WType::F32));
        QCOMPARE(int(widened.weightType()), int(WType::F32));
        QCOMPARE(widened.stats().mappedBytes, uint64_t(0));
        for (Model* m : {&asStored, &widened}) {
            Session s(*m);
            s.prefill(kPrompt);
            QVERIFY(relativeError(s.logits(), ref.back().data(), V) < 1e-5);
        }
        Model f32 = Model::load(f32Dir_.toStdString(), opts(Isa::Auto));
        QVERIFY(f32.stats().mappedBytes > 0);
        QCOMPARE(f32.stats().ownedBytes, uint64_t(config_.n_embd * (2 * config_.n_layer + 1) + config_.n_layer * config_.num_experts * config_.n_embd) * 4);

        // F16 and Q8_0 conversions on load: close to F32 (the bound is loose; the vs-torch test measures).
        for (WType t : {WType::F16, WType::Q8_0}) {
            for (bool q8acts : {true, false}) {
                if (t != WType::Q8_0 && !q8acts) continue;
                Model m = Model::load(f32Dir_.toStdString(), opts(Isa::Auto, 2, t, q8acts));
                QCOMPARE(m.quantizedActivations(), t == WType::Q8_0 && q8acts);
                Session s(m);
                s.prefill(kPrompt);
                const double err = relativeError(s.logits(), enginetest::referenceForward(config_, weights_, kPrompt).back().data(), V);
                qInfo("%s%s: relative logit error vs f32 reference %.3g", wtypeName(t), t == WType::Q8_0 && q8acts ? " x q8" : "", err);
                QVERIFY(err < (t == WType::F16 ? 1e-3 : 3e-2));
            }
        }
        // Scalar Q8_0 x Q8 agrees with SIMD Q8_0 x Q8 (same integer sums, different float order).
        Model qs = Model::load(f32Dir_.toStdString(), opts(Isa::Scalar, 2, WType::Q8_0));
        Model qv = Model::load(f32Dir_.toStdString(), opts(Isa::Auto, 2, WType::Q8_0));
        Session a(qs), b(qv);
        a.prefill(kPrompt);
        b.prefill(kPrompt);
        QVERIFY(relativeError(a.logits(), b.logits(), V) < 1e-4);
    }

    // The KV cache in f16 or q8_0 (LoadOptions::kvType) against the f32 cache, with float weights
    // and activations so that the cache is the only difference: logits within the bounds below
    // (measured: f16 7e-5, q8_0 1.3e-3 relative) and the same greedy tokens. Decode through a
    // rounded cache still equals prefill, and the unset type resolves as engine.h says.
    void kvCacheTypes() {
        ModelConfig c = config_;
        c.n_head = 2;
        c.head_dim = 32;                        // q8_0 rows are whole blocks of 32
        const std::string dir = tmp_.filePath("kv").toStdString();
        enginetest::saveModel(dir, c, enginetest::randomWeights(c, 21), DType::F32);
        const size_t V = size_t(c.vocab_size);
        LoadOptions exact = opts(Isa::Auto, 2, std::nullopt, false);
        exact.kvType = WType::F32;
        Model ref = Model::load(dir, exact);
        Session rs(ref);
        rs.prefill(kPrompt, true);
        SamplingOptions greedy;
        greedy.maxTokens = 24;
        const std::vector<int32_t> refTokens = generate(rs, kPrompt, greedy).tokens;
        for (auto [t, bound] : {std::pair<WType, double>{WType::F16, 5e-4}, {WType::Q8_0, 1e-2}}) {
            for (Isa isa : isas()) {
                LoadOptions o = opts(isa, 2, std::nullopt, false);
                o.kvType = t;
                Model m = Model::load(dir, o);
                QCOMPARE(int(m.kvType()), int(t));
                Session whole(m), steps(m);
                whole.prefill(kPrompt, true);
                double worst = 0;
                for (size_t p = 0; p < kPrompt.size(); ++p) {
                    worst = std::max(worst, relativeError(whole.allLogits().data() + p * V, rs.allLogits().data() + p * V, V));
                    steps.decode(kPrompt[p]);
                    QVERIFY(relativeError(steps.logits(), whole.allLogits().data() + p * V, V) < 1e-5);
                }
                qInfo("kv %s (%s): max relative logit error vs the f32 cache %.3g", wtypeName(t), isaName(isa), worst);
                QVERIFY2(worst < bound, wtypeName(t));
                QVERIFY(worst > 0);           // the cache really is rounded
                QVERIFY(generate(whole, kPrompt, greedy).tokens == refTokens);
            }
        }
        // Unset: f32 for float activations, q8_0 for quantised ones, f16 where head_dim % 32 != 0.
        QCOMPARE(int(Model::load(dir, opts(Isa::Auto, 1)).kvType()), int(WType::F32));
        QCOMPARE(int(Model::load(dir, opts(Isa::Auto, 1, WType::Q8_0, false)).kvType()), int(WType::F32));
        QCOMPARE(int(Model::load(dir, opts(Isa::Auto, 1, WType::Q8_0)).kvType()), int(WType::Q8_0));
        QCOMPARE(int(Model::load(f32Dir_.toStdString(), opts(Isa::Auto, 1, WType::Q8_0)).kvType()), int(WType::F16));
        // Types that cannot hold a cache, and q8_0 over rows of 16: errors that say why.
        for (auto [path, t, why] : {std::tuple<std::string, WType, const char*>{dir, WType::Q4_K, "cannot hold the KV cache"},
                                    {dir, WType::BF16, "cannot hold the KV cache"},
                                    {f32Dir_.toStdString(), WType::Q8_0, "multiple of 32"}}) {
            LoadOptions o = opts(Isa::Auto, 1);
            o.kvType = t;
            try {
                Model::load(path, o);
                QFAIL("a KV cache type the engine cannot use was accepted");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find(why) != std::string::npos, e.what());
            }
        }
    }

    void badInput() {
        Model m = Model::load(f32Dir_.toStdString(), opts(Isa::Auto));
        Session s(m, SessionOptions{8, 4});
        QVERIFY_THROWS_EXCEPTION(Error, s.prefill(std::vector<int32_t>{}));
        QVERIFY_THROWS_EXCEPTION(Error, s.prefill(std::vector<int32_t>{1, -1}));
        QVERIFY_THROWS_EXCEPTION(Error, s.prefill(std::vector<int32_t>{int32_t(config_.vocab_size)}));
        QVERIFY_THROWS_EXCEPTION(Error, s.prefill(std::vector<int32_t>(9, 1)));      // longer than the context
        QCOMPARE(s.position(), 0);                                                    // nothing changed
        s.prefill(std::vector<int32_t>(8, 1));
        QVERIFY_THROWS_EXCEPTION(Error, s.decode(1));                                 // full
        QVERIFY_THROWS_EXCEPTION(Error, s.truncate(9));
        QVERIFY_THROWS_EXCEPTION(Error, Session(m, SessionOptions{int(config_.block_size) + 1, 4}));
        QVERIFY_THROWS_EXCEPTION(Error, Session(m, SessionOptions{0, 0}));
        QVERIFY_THROWS_EXCEPTION(Error, Model::load(tmp_.filePath("missing").toStdString()));

        // A config that disagrees with the tensors: a clear error naming the tensor.
        QString bad = tmp_.filePath("bad");
        ModelConfig c2 = config_;
        enginetest::saveModel(bad.toStdString(), config_, weights_, DType::F32);
        c2.expert_intermediate_size = 128;
        c2.save((bad + "/config.json").toStdString());
        try {
            Model::load(bad.toStdString());
            QFAIL("a mismatched config loaded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("experts.0.w1.weight") != std::string::npos, e.what());
        }
        // Q8_0 needs rows that are a multiple of 32.
        QString odd = tmp_.filePath("odd");
        ModelConfig c3 = config_;
        c3.expert_intermediate_size = 48;
        enginetest::saveModel(odd.toStdString(), c3, enginetest::randomWeights(c3, 3), DType::F32);
        QVERIFY_THROWS_EXCEPTION(Error, Model::load(odd.toStdString(), opts(Isa::Auto, 1, WType::Q8_0)));
        Model oddF32 = Model::load(odd.toStdString(), opts(Isa::Auto, 1));
        Session so(oddF32);
        so.prefill(kPrompt);
        QVERIFY(std::isfinite(so.logits()[0]));
    }
};

QTEST_GUILESS_MAIN(TestEngineForward)
#include "test_engine_forward.moc"
