// BatchDecoder: generations started on several threads decode together (Model::decodeBatch) and
// give the tokens each gives alone; sequences of different models, early stops, a throwing
// callback and bad input each stay with their own request.
#include "test_engine_util.h"

#include "engine/batch_decoder.h"

#include "core/error.h"

#include <QTemporaryDir>
#include <QtTest>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

using namespace swarm;
using namespace swarm::engine;

namespace {

// Lets n threads through once all n have arrived.
class Barrier {
public:
    explicit Barrier(int n) : left_(n) {}
    void arrive() {
        std::unique_lock<std::mutex> l(m_);
        if (--left_ <= 0) cv_.notify_all();
        else cv_.wait(l, [&] { return left_ <= 0; });
    }
private:
    std::mutex m_;
    std::condition_variable cv_;
    int left_;
};

struct Outcome {
    GenerateResult result;
    std::string streamed;
    std::string error;
};

struct Request {
    std::shared_ptr<const Model> model;
    std::vector<int32_t> prompt;
    int maxTokens = 0;
    std::function<bool(const TokenEvent&)> onToken;   // optional: may stop (false) or throw
};

// Runs the requests on one thread each; none reaches the decoder before all have prefilled (their
// first token comes from the prefill on their own thread), so they decode together.
std::vector<Outcome> runTogether(BatchDecoder& decoder, const std::vector<Request>& requests) {
    Barrier ready(int(requests.size()));
    std::vector<Outcome> out(requests.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < requests.size(); ++i)
        threads.emplace_back([&, i] {
            const Request& r = requests[i];
            Outcome& o = out[i];
            SamplingOptions so;
            so.maxTokens = r.maxTokens;
            try {
                o.result = decoder.generate(r.model, r.prompt, so, [&](const TokenEvent& e) {
                    if (e.index == 0) ready.arrive();
                    o.streamed += e.text;
                    return r.onToken ? r.onToken(e) : true;
                });
            } catch (const std::exception& e) {
                o.error = e.what();
            }
        });
    for (std::thread& t : threads) t.join();
    return out;
}

} // namespace

class TestEngineBatch : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::shared_ptr<const Model> a_, b_;
    std::vector<std::vector<int32_t>> prompts_;

    SamplingOptions sampling(int maxTokens) const {
        SamplingOptions o;
        o.maxTokens = maxTokens;
        return o;
    }

    GenerateResult alone(const Model& m, const std::vector<int32_t>& prompt, int maxTokens) const {
        Session s(m, SessionOptions{64, 32});
        return generate(s, prompt, sampling(maxTokens));
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        const ModelConfig c = enginetest::smallConfig();
        const std::string da = tmp_.filePath("a").toStdString(), db = tmp_.filePath("b").toStdString();
        enginetest::saveModel(da, c, enginetest::randomWeights(c, 5, 0.5), DType::F32);
        enginetest::saveModel(db, c, enginetest::randomWeights(c, 6, 0.5), DType::F32);
        LoadOptions lo;
        lo.threads = 2;
        a_ = std::make_shared<const Model>(Model::load(da, lo));
        b_ = std::make_shared<const Model>(Model::load(db, lo));
        for (const char* p : {"User: count the orders\nAssistant:", "hello", "Mask: Alice lives in Paris",
                              "SELECT", "a much longer prompt than the others, so that positions differ"})
            prompts_.push_back(a_->tokenizer().encode(p, false));
    }

    // Five concurrent requests on one model: decoded together, each with the tokens it gets alone.
    void concurrentGenerationsDecodeTogether() {
        const int n = int(prompts_.size()), maxTokens = 24;
        std::vector<GenerateResult> expected;
        for (const auto& p : prompts_) expected.push_back(alone(*a_, p, maxTokens));

        BatchDecoder decoder(8);
        std::vector<Request> requests;
        for (const auto& p : prompts_) requests.push_back({a_, p, maxTokens, {}});
        const std::vector<Outcome> out = runTogether(decoder, requests);
        for (int i = 0; i < n; ++i) {
            const Outcome& o = out[size_t(i)];
            QVERIFY2(o.error.empty(), o.error.c_str());
            QCOMPARE(o.result.tokens, expected[size_t(i)].tokens);
            QCOMPARE(o.result.text, expected[size_t(i)].text);
            QCOMPARE(o.streamed, o.result.text);
            QCOMPARE(int(o.result.finish), int(expected[size_t(i)].finish));
            QCOMPARE(o.result.promptTokens, int(prompts_[size_t(i)].size()));
        }
        const BatchDecoder::Stats st = decoder.stats();
        long long generated = 0;
        for (const Outcome& o : out) generated += (long long)o.result.tokens.size() - 1;   // the first comes from prefill
        QCOMPARE(st.tokens, generated);
        QVERIFY2(st.widest >= 2, qPrintable(QString("widest batch %1").arg(st.widest)));
        QVERIFY(st.steps < st.tokens);
    }

    // Sequences of two models in the decoder at once: one pass per model, never mixed.
    void twoModelsAtOnce() {
        const int maxTokens = 16;
        BatchDecoder decoder;
        std::vector<Request> requests;
        for (int i = 0; i < 4; ++i) requests.push_back({i % 2 ? b_ : a_, prompts_[size_t(i)], maxTokens, {}});
        const std::vector<Outcome> out = runTogether(decoder, requests);
        for (int i = 0; i < 4; ++i) {
            QVERIFY2(out[size_t(i)].error.empty(), out[size_t(i)].error.c_str());
            QCOMPARE(out[size_t(i)].result.tokens, alone(i % 2 ? *b_ : *a_, prompts_[size_t(i)], maxTokens).tokens);
        }
        QVERIFY(decoder.stats().widest <= 2);   // two sequences per model at most
    }

    // One request stops early, another's callback throws: the others finish untouched.
    void stopsAndErrorsStayWithTheirRequest() {
        const int maxTokens = 20;
        BatchDecoder decoder;
        std::vector<Request> requests;
        for (int i = 0; i < 3; ++i) requests.push_back({a_, prompts_[size_t(i)], maxTokens, {}});
        requests[1].onToken = [](const TokenEvent& e) {
            if (e.index == 4) throw Error("callback failed at token 4");
            return true;
        };
        requests[2].onToken = [](const TokenEvent& e) { return e.index != 2; };
        const std::vector<Outcome> out = runTogether(decoder, requests);
        QVERIFY2(out[0].error.empty(), out[0].error.c_str());
        QCOMPARE(out[0].result.tokens, alone(*a_, prompts_[0], maxTokens).tokens);
        QCOMPARE(out[1].error, std::string("callback failed at token 4"));
        QVERIFY(out[2].error.empty());
        QCOMPARE(int(out[2].result.finish), int(FinishReason::Callback));
        QCOMPARE(out[2].result.tokens.size(), size_t(3));
        // The decoder still works afterwards.
        QCOMPARE(decoder.generate(a_, prompts_[3], sampling(5)).tokens, alone(*a_, prompts_[3], 5).tokens);
    }

    // Bad input is refused on the caller's thread; a one-token answer never reaches the decoder.
    void badInputAndShortAnswers() {
        BatchDecoder decoder;
        QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(a_, {}, sampling(4)));
        QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(a_, {999999}, sampling(4)));
        QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(nullptr, prompts_[0], sampling(4)));
        SamplingOptions bad = sampling(4);
        bad.topP = 0;
        QVERIFY_THROWS_EXCEPTION(Error, decoder.generate(a_, prompts_[0], bad));
        const GenerateResult one = decoder.generate(a_, prompts_[0], sampling(1));
        QCOMPARE(one.tokens.size(), size_t(1));
        QCOMPARE(decoder.stats().steps, 0LL);
        QCOMPARE(decoder.generate(a_, prompts_[1], sampling(6)).tokens, alone(*a_, prompts_[1], 6).tokens);
        QCOMPARE(decoder.stats().steps, 5LL);
    }
};

QTEST_GUILESS_MAIN(TestEngineBatch)
#include "test_engine_batch.moc"
