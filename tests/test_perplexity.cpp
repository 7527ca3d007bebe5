// Perplexity on raw text (issue 20), torch-free: the sliding windows score every token exactly
// once; a fixed small random model's perplexity equals exp(mean NLL) computed independently
// (Hugging Face's sliding-window loop written out here, over the naive double-precision reference
// forward pass of test_engine_util.h); files and corpus validation slices as the text; results
// stored, reused and shown by compare as a column; bad inputs refused.
#include "test_engine_util.h"

#include "eval/compare.h"
#include "eval/harness.h"
#include "eval/perplexity.h"
#include "test_util.h"

#include "datasets/corpus_import.h"
#include "datasets/corpus_store.h"
#include "datasets/dataset_store.h"
#include "datasets/prompt_template.h"
#include "datasets/text_corpus.h"
#include "engine/engine.h"

#include "core/error.h"
#include "core/tokenizer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;
namespace fs = std::filesystem;

namespace {

const char* kKnownText =
    "The quick brown fox jumps over the lazy dog. It's a sentence that holds every letter, "
    "and it has been used to test typewriters since 1885.\n\nPerplexity measures how surprised a "
    "model is by text it reads: lower is better.";

ModelConfig pplConfig() {
    ModelConfig c = enginetest::smallConfig();
    c.block_size = 48;
    return c;
}

double negativeLogProb(const std::vector<double>& logits, int32_t target) {
    double mx = logits[0];
    for (double v : logits) mx = std::max(mx, v);
    double sum = 0;
    for (double v : logits) sum += std::exp(v - mx);
    return std::log(sum) - (logits[size_t(target)] - mx);
}

// Hugging Face's "Perplexity of fixed-length models" loop over seq = [EOS] + ids, with the
// reference forward pass: the total NLL and the number of scored tokens. Its max_length counts
// the window's last target too (whose logits go unused), so it is the engine's context + 1.
std::pair<double, int64_t> referenceNll(const ModelConfig& c, const enginetest::Weights& w, const std::vector<int32_t>& ids,
                                        int maxLength, int stride) {
    std::vector<int32_t> seq = {50256};
    seq.insert(seq.end(), ids.begin(), ids.end());
    const int64_t seqLen = int64_t(seq.size());
    double nll = 0;
    int64_t counted = 0, prevEnd = 0;
    for (int64_t begin = 0; begin < seqLen; begin += stride) {
        const int64_t end = std::min<int64_t>(begin + maxLength, seqLen);
        const int64_t trgLen = end - prevEnd;   // may differ from stride on the last loop
        const std::vector<int32_t> input(seq.begin() + begin, seq.begin() + end);
        const std::vector<std::vector<double>> logits = enginetest::referenceForward(c, w, input);
        // labels[:-trgLen] = -100, then the model shifts: position t predicts input[t + 1].
        const int64_t n = end - begin;
        for (int64_t t = std::max<int64_t>(0, n - trgLen - 1); t + 1 < n; ++t) {
            nll += negativeLogProb(logits[size_t(t)], input[size_t(t + 1)]);
            ++counted;
        }
        prevEnd = end;
        if (end == seqLen) break;
    }
    return {nll, counted};
}

} // namespace

class TestPerplexity : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string dir_, model_, textFile_;
    enginetest::Weights weights_;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        eval::registerEvaluationSchema();
        registerCorpusSchema();
        weights_ = enginetest::randomWeights(pplConfig(), 11, 0.3);
        model_ = dir_ + "/model";
        enginetest::saveModel(model_, pplConfig(), weights_, DType::F32, true);
        textFile_ = dir_ + "/known.txt";
        writeFile(textFile_, kKnownText);
    }

    // Every target exactly once, windows no longer than the context, each after the first with
    // context - stride tokens before its first scored one.
    void windowsScoreEachTokenOnce() {
        for (int64_t targets : {1, 2, 7, 48, 49, 100, 1000})
            for (int context : {1, 4, 16, 48})
                for (int stride : {1, 3, context / 2, context}) {
                    if (stride < 1 || stride > context) continue;
                    const auto windows = eval::perplexityWindows(targets, context, stride);
                    int64_t next = 0;
                    for (size_t k = 0; k < windows.size(); ++k) {
                        const eval::PerplexityWindow& w = windows[k];
                        QCOMPARE(w.scoredFrom, next);
                        QVERIFY(w.end > w.scoredFrom && w.end <= targets);
                        QVERIFY(w.end - w.begin <= context);
                        QVERIFY(w.begin <= w.scoredFrom);
                        if (k > 0) QCOMPARE(w.scoredFrom - w.begin, int64_t(context - stride));
                        next = w.end;
                    }
                    QCOMPARE(next, targets);
                }
        QVERIFY(errorOf([] { eval::perplexityWindows(10, 4, 5); }).find("stride must be between 1 and the context") != std::string::npos);
        QVERIFY(errorOf([] { eval::perplexityWindows(10, 4, 0); }).find("stride") != std::string::npos);
    }

    // The engine's perplexity equals exp(mean NLL) of the reference computation, for overlapping
    // windows and for non-overlapping ones (stride = context).
    void matchesAnIndependentComputation() {
        const std::vector<int32_t> ids = Gpt2Tokenizer::bundled().encode(kKnownText, false);
        QVERIFY(ids.size() > 40);
        engine::LoadOptions lo;
        lo.threads = 1;
        const engine::Model model = engine::Model::load(model_, lo);
        const eval::PerplexityText text = eval::PerplexityText::fromTokens(ids, int64_t(std::strlen(kKnownText)));
        for (auto [context, stride] : {std::pair<int, int>{16, 8}, {24, 5}, {16, 16}, {48, 24}}) {
            eval::PerplexitySettings s;
            s.context = context;
            s.stride = stride;
            const eval::PerplexityResult r = eval::computePerplexity(model, text, s);
            const auto [nll, counted] = referenceNll(pplConfig(), weights_, ids, context + 1, stride);
            QCOMPARE(counted, int64_t(ids.size()));
            QCOMPARE(r.tokens, int64_t(ids.size()));
            QVERIFY2(std::abs(r.nll - nll) <= 1e-4 * nll,
                     (std::to_string(r.nll) + " vs " + std::to_string(nll) + " at context " + std::to_string(context)).c_str());
            QVERIFY(std::abs(r.perplexity - std::exp(nll / double(counted))) <= 1e-4 * r.perplexity);
            QVERIFY(std::abs(r.bitsPerByte - nll / std::log(2.0) / double(std::strlen(kKnownText))) < 1e-4);
            QVERIFY(r.perplexity > 1);
        }
    }

    // A file is read as UTF-8 text and tokenised whole; results are stored and reused; compare
    // shows them as a column (lower is better).
    void fileStoredReusedAndCompared() {
        ProjectStore project = ProjectStore::create(dir_ + "/p.swarm");
        eval::PerplexitySettings s;
        s.context = 32;
        s.stride = 16;
        s.threads = 1;
        const eval::PerplexitySource src = eval::perplexityFile(textFile_);
        QCOMPARE(src.name, std::string("known.txt"));
        const eval::PerplexityResult a = eval::evaluatePerplexity(&project, model_, src, s);
        QVERIFY(a.id > 0 && !a.reused);
        QCOMPARE(a.bytes, int64_t(std::strlen(kKnownText)));
        QCOMPARE(a.tokens, int64_t(Gpt2Tokenizer::bundled().encode(kKnownText, false).size()));
        const eval::PerplexityResult b = eval::evaluatePerplexity(&project, model_, src, s);
        QVERIFY(b.reused);
        QCOMPARE(b.id, a.id);
        QCOMPARE(b.perplexity, a.perplexity);
        QCOMPARE(int(eval::storedPerplexities(project, eval::resolveModel(model_).fingerprint).size()), 1);
        s.stride = 32;
        const eval::PerplexityResult c = eval::evaluatePerplexity(&project, model_, src, s);
        QVERIFY(!c.reused && c.id != a.id);

        // A tiny dataset evaluated with the same model: compare carries the perplexity column.
        NewDataset nd;
        nd.name = "tiny";
        nd.mapping = nlohmann::json{{"chat_format", ChatFormat::kDefault}};
        DatasetWriter w = DatasetStore(project).beginDataset(nd);
        const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        for (int i = 0; i < 2; ++i) {
            std::vector<int32_t> ids = tok.encode(ChatFormat().promptText("say " + std::to_string(i)));
            const int32_t promptLen = int32_t(ids.size());
            for (int32_t id : tok.encode(" " + std::to_string(i))) ids.push_back(id);
            ids.push_back(50256);
            w.addExample(i + 1, Split::Test, "say " + std::to_string(i), std::to_string(i), ids, promptLen, 0, uint64_t(i));
        }
        DatasetCounts counts;
        counts.rowsRead = counts.rowsImported = counts.nTest = 2;
        w.commit(counts, nlohmann::json::object());
        eval::EvalSettings es;
        es.metrics = "exact";
        es.maxNewTokens = 2;
        es.threads = 1;
        const eval::EvalRunInfo run = eval::evaluate(project, model_, "tiny", es);
        const eval::Comparison cmp = eval::compareRuns(project, {run.id});
        const auto v = cmp.models[0].values.find("ppl:known.txt");
        QVERIFY(v != cmp.models[0].values.end());
        QCOMPARE(v->second, c.perplexity);   // the newest result on that text
        QVERIFY(std::find(cmp.metricNames.begin(), cmp.metricNames.end(), "ppl:known.txt") != cmp.metricNames.end());
        QVERIFY(!metrics::higherIsBetter("ppl:known.txt"));
        QVERIFY(eval::renderMarkdown(cmp).find("ppl:known.txt") != std::string::npos);
    }

    // A corpus's validation slice: its documents in order (each EOS scored), bytes of their text.
    void corpusValidationSlice() {
        ProjectStore project = ProjectStore::create(dir_ + "/c.swarm");
        std::ofstream f(dir_ + "/docs.jsonl", std::ios::binary);
        int64_t totalText = 0;
        std::vector<std::string> texts;
        for (int i = 0; i < 12; ++i) {
            texts.push_back("Document number " + std::to_string(i) + " says hello to the model.");
            totalText += int64_t(texts.back().size());
            f << nlohmann::json{{"text", texts.back()}}.dump() << "\n";
        }
        f.close();
        CorpusImportOptions o;
        o.name = "docs";
        o.inputs = {dir_ + "/docs.jsonl"};
        o.validationFraction = 0.25;
        o.threads = 1;
        const CorpusImportResult imported = importCorpus(project, Gpt2Tokenizer::bundled(), o);
        const TextCorpus corpus = TextCorpus::open(imported.folder);
        int64_t validationBytes = 0;
        for (uint64_t d = 0; d < corpus.documentCount(); ++d)
            if (corpus.document(d).validation) validationBytes += int64_t(texts[d].size());
        eval::PerplexitySettings s;
        s.context = 32;
        s.stride = 16;
        s.threads = 1;
        const eval::PerplexityResult r = eval::evaluatePerplexity(&project, model_, eval::perplexityCorpus(project, "docs"), s);
        QCOMPARE(r.tokens, int64_t(corpus.validationTokens()));
        QCOMPARE(r.bytes, validationBytes);
        QCOMPARE(r.source.kind, std::string("corpus"));
        // The same tokens given directly score the same.
        std::vector<int32_t> ids;
        for (uint64_t d = 0; d < corpus.documentCount(); ++d) {
            const CorpusDocument doc = corpus.document(d);
            if (doc.validation) ids.insert(ids.end(), corpus.tokens() + doc.firstToken, corpus.tokens() + doc.firstToken + doc.tokenCount);
        }
        engine::LoadOptions lo;
        lo.threads = 1;
        const engine::Model model = engine::Model::load(model_, lo);
        const eval::PerplexityResult direct = eval::computePerplexity(model, eval::PerplexityText::fromTokens(ids, validationBytes), s);
        QVERIFY(std::abs(direct.nll - r.nll) <= 1e-9 * r.nll);
        QVERIFY(eval::perplexityValues(project, eval::resolveModel(model_).fingerprint).count("ppl:corpus:docs"));

        o.name = "noval";
        o.validationFraction = 0;
        importCorpus(project, Gpt2Tokenizer::bundled(), o);
        const std::string e = errorOf([&] { eval::perplexityCorpus(project, "noval"); });
        QVERIFY2(e.find("holds no validation documents") != std::string::npos, e.c_str());
    }

    void badInputs() {
        engine::LoadOptions lo;
        lo.threads = 1;
        const engine::Model model = engine::Model::load(model_, lo);
        const eval::PerplexityText text = eval::PerplexityText::fromTokens({1, 2, 3}, 3);
        eval::PerplexitySettings s;
        s.context = 64;
        QVERIFY(errorOf([&] { eval::computePerplexity(model, text, s); }).find("longer than the model's block_size 48") != std::string::npos);
        QVERIFY(errorOf([&] { eval::perplexityFile(dir_ + "/none.txt"); }).find("does not exist") != std::string::npos);
        writeFile(dir_ + "/empty.txt", "");
        writeFile(dir_ + "/binary.txt", std::string("ab\0cd", 5));
        writeFile(dir_ + "/latin1.txt", "caf\xe9");
        const Gpt2Tokenizer& tok = model.tokenizer();
        auto load = [&](const std::string& name) {
            return errorOf([&] { eval::PerplexityText::load(eval::perplexityFile(dir_ + "/" + name), tok); });
        };
        QVERIFY(load("empty.txt").find("is empty") != std::string::npos);
        QVERIFY(load("binary.txt").find("binary (a NUL byte at offset 2)") != std::string::npos);
        QVERIFY(load("latin1.txt").find("not UTF-8 text (an invalid byte at offset 3)") != std::string::npos);
        std::atomic<bool> cancel{true};
        eval::PerplexityCallbacks cb;
        cb.cancel = &cancel;
        s.context = 16;
        bool cancelled = false;
        try {
            eval::computePerplexity(model, text, s, cb);
        } catch (const eval::PerplexityCancelled&) {
            cancelled = true;
        }
        QVERIFY(cancelled);
    }
};

QTEST_GUILESS_MAIN(TestPerplexity)
#include "test_perplexity.moc"
