// Packing a corpus for pre-training (issue 20): the windows of an epoch use every training token
// exactly once, in stream order, with <|endoftext|> at every document boundary; labels are the
// ids with only the tail padding ignored; the validation windows hold exactly the held-out
// documents; the epoch order is a permutation that depends on (seed, epoch) alone; the
// fingerprint follows the tokens, the split and the context.
#include "training/packed_corpus.h"

#include "datasets/corpus_import.h"
#include "datasets/corpus_store.h"

#include "core/error.h"
#include "core/tokenizer.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <fstream>
#include <set>

using namespace swarm;
using swarm::test::errorOf;
using nlohmann::json;

namespace {

const Gpt2Tokenizer& tokenizer() {
    static const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    return tok;
}

// Document k's text: its number and a varying count of words (some longer than a window).
std::string documentText(int k) {
    std::string t = "Document " + std::to_string(k) + ":";
    const int words = (k * 37) % 61 + (k % 9 == 0 ? 150 : 0);
    for (int w = 0; w < words; ++w) t += " w" + std::to_string((k + w) % 97);
    return t;
}

// The stream of documents of one split, as the corpus holds them (each closed by EOS).
std::vector<int32_t> streamOf(const TextCorpus& c, bool validation) {
    std::vector<int32_t> s;
    for (uint64_t d = 0; d < c.documentCount(); ++d) {
        const CorpusDocument doc = c.document(d);
        if (doc.validation != validation) continue;
        s.insert(s.end(), c.tokens() + doc.firstToken, c.tokens() + doc.firstToken + doc.tokenCount);
    }
    return s;
}

} // namespace

class TestPackedCorpus : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    std::string folder_, folderOtherSeed_;
    int documents_ = 120;

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        const std::string dir = tmp_.path().toStdString();
        registerCorpusSchema();
        std::ofstream f(dir + "/docs.jsonl", std::ios::binary);
        for (int k = 0; k < documents_; ++k) f << json{{"text", documentText(k)}}.dump() << "\n";
        f.close();
        ProjectStore project = ProjectStore::create(dir + "/p.swarm");
        CorpusImportOptions o;
        o.name = "docs";
        o.inputs = {dir + "/docs.jsonl"};
        o.validationFraction = 0.15;
        o.seed = 3;
        o.threads = 2;
        folder_ = importCorpus(project, tokenizer(), o).folder;
        o.name = "docs-seed4";
        o.seed = 4;
        folderOtherSeed_ = importCorpus(project, tokenizer(), o).folder;
    }

    // Every training token once per epoch, in order; EOS at the boundaries; padding only at the end.
    void windowsUseEveryTokenOnce() {
        for (int context : {2, 37, 64, 1000, 100000}) {
            const PackedCorpus p = PackedCorpus::open(folder_, context);
            const std::vector<int32_t> stream = streamOf(p.corpus(), false);
            QCOMPARE(uint64_t(stream.size()), p.trainTokens());
            QCOMPARE(p.count(), int64_t((stream.size() + size_t(context) - 1) / size_t(context)));
            std::vector<int32_t> seen, ids(static_cast<size_t>(context)), labels(static_cast<size_t>(context));
            int64_t real = 0;
            for (int64_t i = 0; i < p.count(); ++i) {
                p.window(i, ids.data(), labels.data());
                const int64_t n = p.windowTokens(i);
                QVERIFY(n == context || i == p.count() - 1);
                real += n;
                for (int64_t t = 0; t < context; ++t) {
                    if (t < n) {
                        QCOMPARE(labels[size_t(t)], ids[size_t(t)]);
                        seen.push_back(ids[size_t(t)]);
                    } else {
                        QCOMPARE(ids[size_t(t)], int32_t(Gpt2Tokenizer::kEndOfText));
                        QCOMPARE(labels[size_t(t)], PackedCorpus::kIgnoreLabel);
                    }
                }
            }
            QCOMPARE(real, int64_t(p.trainTokens()));
            QVERIFY(seen == stream);
        }
    }

    // Between two EOS of the stream lies exactly one training document's text, in corpus order.
    void boundariesAreMarkedByEos() {
        const PackedCorpus p = PackedCorpus::open(folder_, 50);
        std::vector<int32_t> all, ids(50), labels(50);
        for (int64_t i = 0; i < p.count(); ++i) {
            p.window(i, ids.data(), labels.data());
            all.insert(all.end(), ids.begin(), ids.begin() + p.windowTokens(i));
        }
        QCOMPARE(all.back(), int32_t(Gpt2Tokenizer::kEndOfText));
        std::vector<int> expected;
        for (uint64_t d = 0; d < p.corpus().documentCount(); ++d)
            if (!p.corpus().document(d).validation) expected.push_back(int(p.corpus().document(d).record) - 1);
        size_t start = 0, doc = 0;
        for (size_t t = 0; t < all.size(); ++t) {
            if (all[t] != Gpt2Tokenizer::kEndOfText) continue;
            QVERIFY(doc < expected.size());
            const std::vector<int32_t> piece(all.begin() + std::ptrdiff_t(start), all.begin() + std::ptrdiff_t(t));
            QCOMPARE(tokenizer().decode(piece), documentText(expected[doc]));
            ++doc;
            start = t + 1;
        }
        QCOMPARE(doc, expected.size());
        QCOMPARE(uint64_t(doc), p.corpus().trainDocuments());
    }

    void validationWindowsHoldTheHeldOutDocuments() {
        const PackedCorpus p = PackedCorpus::open(folder_, 64);
        QVERIFY(p.corpus().validationDocuments() > 5);
        const std::vector<int32_t> stream = streamOf(p.corpus(), true);
        QCOMPARE(uint64_t(stream.size()), p.validationTokens());
        std::vector<int32_t> seen, ids(64), labels(64);
        for (int64_t i = 0; i < p.validationCount(); ++i) {
            p.validationWindow(i, ids.data(), labels.data());
            seen.insert(seen.end(), ids.begin(), ids.begin() + p.validationWindowTokens(i));
        }
        QVERIFY(seen == stream);
        QVERIFY(errorOf([&] { p.validationWindow(p.validationCount(), ids.data(), labels.data()); }).find("out of range") != std::string::npos);
        QVERIFY(errorOf([&] { p.window(-1, ids.data(), labels.data()); }).find("out of range") != std::string::npos);
    }

    void epochOrderIsASeededPermutation() {
        const PackedCorpus p = PackedCorpus::open(folder_, 16);
        QVERIFY(p.count() > 50);
        const std::vector<int64_t> a = p.epochOrder(1, 0), b = p.epochOrder(1, 0), c = p.epochOrder(1, 1), d = p.epochOrder(2, 0);
        std::vector<int64_t> sorted = a;
        std::sort(sorted.begin(), sorted.end());
        for (int64_t i = 0; i < p.count(); ++i) QCOMPARE(sorted[size_t(i)], i);
        QVERIFY(a == b);
        QVERIFY(a != c);
        QVERIFY(a != d);
        QVERIFY(c != d);
        std::vector<int64_t> identity(a.size());
        for (size_t i = 0; i < identity.size(); ++i) identity[i] = int64_t(i);
        QVERIFY(a != identity);
        // Fixed numbers: the order must not change between builds (a resumed run relies on it).
        const PackedCorpus small = PackedCorpus::open(folder_, 1000);
        QCOMPARE(small.count(), int64_t(11));
        QCOMPARE(small.epochOrder(42, 3), (std::vector<int64_t>{0, 10, 6, 8, 1, 7, 2, 4, 9, 5, 3}));
    }

    void fingerprintFollowsTokensSplitAndContext() {
        const PackedCorpus a = PackedCorpus::open(folder_, 64), again = PackedCorpus::open(folder_, 64);
        QCOMPARE(a.fingerprint(), again.fingerprint());
        QVERIFY(a.fingerprint() != PackedCorpus::open(folder_, 65).fingerprint());
        QVERIFY(a.fingerprint() != PackedCorpus::open(folderOtherSeed_, 64).fingerprint());
        QVERIFY(errorOf([&] { PackedCorpus::open(folder_, 1); }).find("at least 2") != std::string::npos);
    }
};

QTEST_GUILESS_MAIN(TestPackedCorpus)
#include "test_packed_corpus.moc"
