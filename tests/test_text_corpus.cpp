// The corpus import (issue 20): plain text tokenised in pieces equals the whole file's tokens,
// folders walked in order with every unusable file skipped and named, JSONL/Parquet text fields,
// the seeded validation slice of whole documents, the files' layout, and all-or-nothing imports
// (nothing usable, cancel, a write that fails, names taken).
#include "datasets/corpus_import.h"
#include "datasets/corpus_store.h"
#include "datasets/text_corpus.h"

#include "core/error.h"
#include "core/tokenizer.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>

using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const Gpt2Tokenizer& tokenizer() {
    static const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    return tok;
}

std::string readAll(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// Text with what the pre-tokeniser is sensitive to: runs of spaces and newlines, tabs, CRLF,
// contractions, digits, punctuation and non-ASCII letters; plus the licences on this machine.
std::string trickyText() {
    std::string t;
    for (const char* name : {"GPL-3", "Apache-2.0", "MPL-2.0", "Artistic"}) t += readAll(std::string("/usr/share/common-licenses/") + name);
    const char* extra[] = {"  two  spaces\t\ttabs\r\nCRLF line\r\n\r\n",  "it's we're they've I'm you'll he'd ",
                           "numbers 12345 67.89 -0.5e10\n\n\n\n",        "naïve café Größe данные 東京 🎉 \n",
                           "<|endoftext|> is plain text here\n   \n",      "trailing   \n \t \n"};
    for (int i = 0; i < 40; ++i) t += extra[i % 6];
    return t;
}

std::vector<int32_t> withEos(std::vector<int32_t> ids) {
    ids.push_back(Gpt2Tokenizer::kEndOfText);
    return ids;
}

// Where two token lists first differ (for the failure message), or "" when they are equal.
std::string firstDifference(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
    if (got == want) return "";
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    auto around = [&](const std::vector<int32_t>& v) {
        std::string s;
        for (size_t k = i >= 3 ? i - 3 : 0; k < v.size() && k < i + 4; ++k) s += std::to_string(v[k]) + " ";
        return s;
    };
    return "token " + std::to_string(i) + " of " + std::to_string(got.size()) + "/" + std::to_string(want.size()) +
           ": got " + around(got) + "want " + around(want);
}

std::vector<int32_t> documentTokens(const TextCorpus& c, uint64_t d) {
    const CorpusDocument doc = c.document(d);
    return std::vector<int32_t>(c.tokens() + doc.firstToken, c.tokens() + doc.firstToken + doc.tokenCount);
}

} // namespace

class TestTextCorpus : public QObject {
    Q_OBJECT

    QTemporaryDir tmp_;
    std::string dir_;
    int projects_ = 0;

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    ProjectStore newProject() { return ProjectStore::create(path("p" + std::to_string(++projects_) + ".swarm")); }

    CorpusImportOptions options(const std::string& name, std::vector<std::string> inputs) const {
        CorpusImportOptions o;
        o.name = name;
        o.inputs = std::move(inputs);
        o.threads = 2;
        return o;
    }

    // Nothing of an import named `name` is left: no row, no folder, no temporary folder.
    void checkNothingLeft(ProjectStore& project, const std::string& name) {
        QVERIFY(!CorpusStore(project).find(name));
        const std::string corpora = corporaFolderOf(project.path());
        std::error_code ec;
        if (!fs::exists(corpora, ec)) return;
        for (const auto& e : fs::directory_iterator(corpora)) {
            const std::string entry = e.path().filename().string();
            QVERIFY2(entry.find(name) == std::string::npos, ("left behind: " + entry).c_str());
        }
    }

private slots:
    void initTestCase() {
        QVERIFY(tmp_.isValid());
        dir_ = tmp_.path().toStdString();
        registerCorpusSchema();
    }

    // A plain text file cut into small pieces gives exactly the tokens of the whole file, + EOS.
    void piecesTokeniseAsTheWholeFile() {
        const std::string text = trickyText();
        writeFile(path("tricky.txt"), text);
        ProjectStore project = newProject();
        for (size_t piece : {size_t(128), size_t(997), size_t(1) << 20}) {
            CorpusImportOptions o = options("tricky" + std::to_string(piece), {path("tricky.txt")});
            o.pieceBytes = piece;
            o.validationFraction = 0;
            const CorpusImportResult r = importCorpus(project, tokenizer(), o);
            const TextCorpus c = TextCorpus::open(r.folder);
            QCOMPARE(c.documentCount(), uint64_t(1));
            const std::vector<int32_t> want = withEos(tokenizer().encode(text, false));
            const std::string diff = firstDifference(documentTokens(c, 0), want);
            QVERIFY2(diff.empty(), ("pieces of " + std::to_string(piece) + " bytes: " + diff).c_str());
            QCOMPARE(r.textBytes, int64_t(text.size()));
            QVERIFY2(r.warnings.empty(), r.warnings.empty() ? "" : r.warnings[0].c_str());
            c.verify();
        }
    }

    // With no whitespace to cut at, the piece ends inside a word, and the import says so.
    void cutInsideAWordIsReported() {
        writeFile(path("nospace.txt"), std::string(5000, 'x') + " end\n");
        ProjectStore project = newProject();
        CorpusImportOptions o = options("nospace", {path("nospace.txt")});
        o.pieceBytes = 1000;
        const CorpusImportResult r = importCorpus(project, tokenizer(), o);
        QVERIFY(!r.warnings.empty());
        QVERIFY2(r.warnings[0].find("cut inside a word") != std::string::npos, r.warnings[0].c_str());
        QVERIFY(r.manifest["warnings"].size() >= 1);
    }

    // A folder: its files recursively in sorted order, one document each; every unusable file
    // is skipped with its reason, hidden entries are left out.
    void folderWithUnusableFiles() {
        const std::string root = path("tree");
        fs::create_directories(root + "/sub/deeper");
        fs::create_directories(root + "/.git");
        writeFile(root + "/b.txt", "second file, top level\n");
        writeFile(root + "/a.txt", "first file\n");
        writeFile(root + "/sub/c.md", "# third\n\nin a sub-folder\n");
        writeFile(root + "/sub/deeper/d.txt", "fourth, deeper");
        writeFile(root + "/.git/config", "[core]\n");
        writeFile(root + "/.hidden.txt", "hidden\n");
        writeFile(root + "/binary.bin", std::string("ELF\0\0\x01\x02", 7));
        writeFile(root + "/latin1.txt", "caf\xe9 au lait\n");
        writeFile(root + "/utf16.txt", std::string("\xff\xfe" "a\0b\0", 6));
        writeFile(root + "/empty.txt", "");
        writeFile(root + "/archive.gz", std::string("\x1f\x8b\x08\x00", 4));
        ProjectStore project = newProject();
        CorpusImportOptions o = options("tree", {root});
        o.validationFraction = 0;
        const CorpusImportResult r = importCorpus(project, tokenizer(), o);
        const TextCorpus c = TextCorpus::open(r.folder);
        const std::vector<std::string> texts = {"first file\n", "second file, top level\n", "# third\n\nin a sub-folder\n",
                                                "fourth, deeper"};
        QCOMPARE(c.documentCount(), uint64_t(texts.size()));
        for (size_t i = 0; i < texts.size(); ++i) QCOMPARE(documentTokens(c, i), withEos(tokenizer().encode(texts[i], false)));
        QCOMPARE(r.manifest["sources"].size(), texts.size());
        QCOMPARE(r.manifest["sources"][0]["path"].get<std::string>(), root + "/a.txt");
        QCOMPARE(r.manifest["counts"]["hidden_entries_left_out"].get<int>(), 2);
        std::map<std::string, std::string> skipped;
        for (const SkippedSource& s : r.skippedFiles) skipped[fs::path(s.path).filename().string()] = s.reason;
        QCOMPARE(int(skipped.size()), 5);
        QVERIFY2(skipped["binary.bin"].find("binary (a NUL byte at offset 3)") != std::string::npos, skipped["binary.bin"].c_str());
        QVERIFY2(skipped["latin1.txt"].find("not UTF-8 text (an invalid byte at offset 3)") != std::string::npos, skipped["latin1.txt"].c_str());
        QVERIFY2(skipped["utf16.txt"].find("UTF-16") != std::string::npos, skipped["utf16.txt"].c_str());
        QVERIFY2(skipped["empty.txt"].find("empty") != std::string::npos, skipped["empty.txt"].c_str());
        QVERIFY2(skipped["archive.gz"].find("gzip") != std::string::npos, skipped["archive.gz"].c_str());
        QCOMPARE(r.manifest["skipped_files"].size(), size_t(5));
        const CorpusInfo row = CorpusStore(project).corpus("tree");
        QCOMPARE(row.documents, int64_t(4));
        QCOMPARE(row.skippedFiles, int64_t(5));
        QCOMPARE(CorpusStore(project).folderOf(row), r.folder);
    }

    // A file that turns out not to be text after megabytes of good text (so that its tokens were
    // already written out) is dropped again; the documents around it are intact.
    void fileBadLateIsDroppedWhole() {
        const std::string root = path("late");
        fs::create_directories(root);
        std::string big;
        while (big.size() < (size_t(9) << 19)) big += trickyText();   // > 4 MiB: past the writer's buffer
        writeFile(root + "/1-good.txt", "before\n");
        writeFile(root + "/2-bad.txt", big + "\xff tail\n");
        writeFile(root + "/3-good.txt", "after\n");
        ProjectStore project = newProject();
        CorpusImportOptions o = options("late", {root});
        o.validationFraction = 0;
        const CorpusImportResult r = importCorpus(project, tokenizer(), o);
        QCOMPARE(int(r.skippedFiles.size()), 1);
        QVERIFY2(r.skippedFiles[0].reason == "not UTF-8 text (an invalid byte at offset " + std::to_string(big.size()) + ")",
                 r.skippedFiles[0].reason.c_str());
        const TextCorpus c = TextCorpus::open(r.folder);
        QCOMPARE(c.documentCount(), uint64_t(2));
        QCOMPARE(documentTokens(c, 0), withEos(tokenizer().encode("before\n", false)));
        QCOMPARE(documentTokens(c, 1), withEos(tokenizer().encode("after\n", false)));
        QCOMPARE(fs::file_size(r.folder + "/tokens.bin"), uintmax_t(c.tokenCount() * 2));
        c.verify();
    }

    // JSONL with a text field: one document per good record; bad records skipped with reasons;
    // the index keeps each document's record number.
    void jsonlTextField() {
        std::ofstream f(path("docs.jsonl"), std::ios::binary);
        f << json{{"meta", {{"body", "first record"}}}}.dump() << "\n"
          << "{not json\n"
          << json{{"other", 1}}.dump() << "\n"
          << json{{"meta", {{"body", 42}}}}.dump() << "\n"
          << json{{"meta", {{"body", "   "}}}}.dump() << "\n"
          << json{{"meta", {{"body", "sixth <|endoftext|> record"}}}}.dump() << "\n";
        f.close();
        ProjectStore project = newProject();
        CorpusImportOptions o = options("records", {path("docs.jsonl")});
        o.textField = "meta.body";
        o.validationFraction = 0;
        const CorpusImportResult r = importCorpus(project, tokenizer(), o);
        const TextCorpus c = TextCorpus::open(r.folder);
        QCOMPARE(c.documentCount(), uint64_t(2));
        QCOMPARE(c.document(0).record, uint64_t(1));
        QCOMPARE(c.document(1).record, uint64_t(6));
        QCOMPARE(documentTokens(c, 1), withEos(tokenizer().encode("sixth <|endoftext|> record", false)));
        QCOMPARE(r.skippedRecords, int64_t(4));
        const json& sr = r.manifest["skipped_records"];
        QCOMPARE(sr.size(), size_t(4));
        QCOMPARE(sr[0]["reason"].get<std::string>(), std::string("malformed_json"));
        QCOMPARE(sr[1]["reason"].get<std::string>(), std::string("missing_field"));
        QCOMPARE(sr[2]["reason"].get<std::string>(), std::string("not_a_string"));
        QCOMPARE(sr[3]["reason"].get<std::string>(), std::string("empty_text"));
        QCOMPARE(sr[3]["line"].get<int>(), 5);
        c.verify();   // the literal "<|endoftext|>" is ordinary text: no EOS inside a document
    }

    // A JSONL file without the text field: a clear error naming the fields; nothing written.
    void jsonlWithoutTheField() {
        writeFile(path("pairs.jsonl"), json{{"prompt", "p"}, {"response", "r"}}.dump() + "\n");
        ProjectStore project = newProject();
        const std::string e = errorOf([&] { importCorpus(project, tokenizer(), options("pairs", {path("pairs.jsonl")})); });
        QVERIFY2(e.find("nothing to import") != std::string::npos, e.c_str());
        QVERIFY2(e.find("no field 'text' in its records (fields: prompt, response; choose one with --text-field)") != std::string::npos, e.c_str());
        checkNothingLeft(project, "pairs");
    }

    // Parquet through the dataset reader layer: the same tokens as the same rows in JSONL.
    void parquetEqualsJsonl() {
        const std::string data = std::string(SWARM_TEST_DATA_DIR) + "/parquet/";
        ProjectStore project = newProject();
        CorpusImportOptions pq = options("pq", {data + "flat_dict_snappy_v1.parquet"});
        pq.textField = "question";
        CorpusImportOptions jl = options("jl", {data + "flat.jsonl"});
        jl.textField = "question";
        const CorpusImportResult a = importCorpus(project, tokenizer(), pq);
        const CorpusImportResult b = importCorpus(project, tokenizer(), jl);
        QCOMPARE(a.info.documents, b.info.documents);
        QVERIFY(a.info.documents >= 250);
        QVERIFY(readAll(a.folder + "/tokens.bin") == readAll(b.folder + "/tokens.bin"));
        QCOMPARE(a.info.validationDocuments, b.info.validationDocuments);
        QCOMPARE(a.manifest["sources"][0]["format"].get<std::string>(), std::string("parquet"));
    }

    // The validation slice: whole documents, the requested share of the tokens (the last one
    // taken crosses it), the same for the same seed, another for another seed.
    void validationSliceIsSeededWholeDocuments() {
        std::ofstream f(path("many.jsonl"), std::ios::binary);
        for (int i = 0; i < 300; ++i) {
            std::string text = "document " + std::to_string(i);
            for (int k = 0; k < (i * 7) % 23; ++k) text += " word" + std::to_string(k);
            f << json{{"text", text}}.dump() << "\n";
        }
        f.close();
        ProjectStore project = newProject();
        auto flags = [](const TextCorpus& c) {
            std::vector<bool> v;
            for (uint64_t d = 0; d < c.documentCount(); ++d) v.push_back(c.document(d).validation);
            return v;
        };
        CorpusImportOptions o = options("s1", {path("many.jsonl")});
        o.validationFraction = 0.1;
        o.seed = 7;
        const TextCorpus a = TextCorpus::open(importCorpus(project, tokenizer(), o).folder);
        o.name = "s2";
        const TextCorpus b = TextCorpus::open(importCorpus(project, tokenizer(), o).folder);
        o.name = "s3";
        o.seed = 8;
        const TextCorpus c = TextCorpus::open(importCorpus(project, tokenizer(), o).folder);
        QVERIFY(flags(a) == flags(b));
        QVERIFY(flags(a) != flags(c));
        const uint64_t target = uint64_t(std::llround(0.1 * double(a.tokenCount())));
        QVERIFY(a.validationTokens() >= target);
        uint64_t valTokens = 0, valDocs = 0, largest = 0;
        for (uint64_t d = 0; d < a.documentCount(); ++d)
            if (a.document(d).validation) {
                valTokens += a.document(d).tokenCount;
                ++valDocs;
                largest = std::max(largest, a.document(d).tokenCount);
            }
        QCOMPARE(valTokens, a.validationTokens());
        QCOMPARE(valDocs, a.validationDocuments());
        QVERIFY(a.validationTokens() - target < largest);   // no more documents than needed
        QVERIFY(valDocs > 10 && valDocs < 60);
        // An explicit token count; and a count over the whole corpus keeps one training document.
        o.name = "t1";
        o.validationTokens = 100;
        const TextCorpus t = TextCorpus::open(importCorpus(project, tokenizer(), o).folder);
        QVERIFY(t.validationTokens() >= 100);
        o.name = "t2";
        o.validationTokens = 1000000;
        const TextCorpus all = TextCorpus::open(importCorpus(project, tokenizer(), o).folder);
        QCOMPARE(all.trainDocuments(), uint64_t(1));
        QCOMPARE(all.validationDocuments(), uint64_t(299));
    }

    void badInputs() {
        ProjectStore project = newProject();
        std::string e = errorOf([&] { importCorpus(project, tokenizer(), options("x", {path("missing.txt")})); });
        QVERIFY2(e.find("corpus input " + path("missing.txt") + " does not exist") != std::string::npos, e.c_str());
        fs::create_directories(path("empty-folder/.only-hidden"));
        e = errorOf([&] { importCorpus(project, tokenizer(), options("x", {path("empty-folder")})); });
        QVERIFY2(e.find("is a folder with no files in it") != std::string::npos, e.c_str());
        QVERIFY2(e.find("1 hidden entries left out") != std::string::npos, e.c_str());
        fs::create_directories(path("only-binary"));
        writeFile(path("only-binary/x.bin"), std::string("\0\0\0", 3));
        e = errorOf([&] { importCorpus(project, tokenizer(), options("x", {path("only-binary")})); });
        QVERIFY2(e.find("nothing to import") != std::string::npos && e.find("x.bin: binary") != std::string::npos, e.c_str());
        e = errorOf([&] { importCorpus(project, tokenizer(), options("bad/name", {path("tricky.txt")})); });
        QVERIFY2(e.find("has the character '/'") != std::string::npos, e.c_str());
        CorpusImportOptions o = options("x", {path("tricky.txt")});
        o.validationFraction = 0.9;
        e = errorOf([&] { importCorpus(project, tokenizer(), o); });
        QVERIFY2(e.find("between 0 and 0.5") != std::string::npos, e.c_str());
        checkNothingLeft(project, "x");
        importCorpus(project, tokenizer(), options("taken", {path("tricky.txt")}));
        e = errorOf([&] { importCorpus(project, tokenizer(), options("taken", {path("tricky.txt")})); });
        QVERIFY2(e.find("already has a corpus named 'taken'") != std::string::npos, e.c_str());
        // A folder without its row (an import interrupted between the rename and the commit).
        fs::create_directories(corporaFolderOf(project.path()) + "/orphan");
        e = errorOf([&] { importCorpus(project, tokenizer(), options("orphan", {path("tricky.txt")})); });
        QVERIFY2(e.find("exists, but the project has no corpus 'orphan'") != std::string::npos, e.c_str());
    }

    // Cancel mid-import: nothing is written.
    void cancelLeavesNothing() {
        std::string big;
        while (big.size() < (size_t(3) << 20)) big += trickyText();
        writeFile(path("big.txt"), big);
        ProjectStore project = newProject();
        std::atomic<bool> cancel{false};
        CorpusImportOptions o = options("cancelled", {path("big.txt")});
        o.pieceBytes = 4096;
        o.cancel = &cancel;
        int calls = 0;
        o.progress = [&](const CorpusImportProgress&) {
            if (++calls == 1) cancel = true;
        };
        bool thrown = false;
        try {
            importCorpus(project, tokenizer(), o);
        } catch (const CorpusImportCancelled&) {
            thrown = true;
        }
        QVERIFY(thrown);
        checkNothingLeft(project, "cancelled");
    }

    // A write that fails (the file size limit stands in for a full disk): one error naming the
    // token file, nothing left behind.
    void failedWriteLeavesNothing() {
        ProjectStore project = newProject();
        std::signal(SIGXFSZ, SIG_IGN);
        rlimit old{};
        getrlimit(RLIMIT_FSIZE, &old);
        rlimit small = old;
        small.rlim_cur = 512 * 1024;
        QCOMPARE(setrlimit(RLIMIT_FSIZE, &small), 0);
        const std::string e = errorOf([&] { importCorpus(project, tokenizer(), options("full", {path("big.txt")})); });
        setrlimit(RLIMIT_FSIZE, &old);
        QVERIFY2(e.find("cannot write") != std::string::npos && e.find("tokens.bin") != std::string::npos, e.c_str());
        QVERIFY2(e.find("file too large") != std::string::npos, e.c_str());
        checkNothingLeft(project, "full");
    }

    // The files as documented: header, entries, manifest; damage is found.
    void layoutAndDamage() {
        ProjectStore project = newProject();
        const CorpusImportResult r = importCorpus(project, tokenizer(), options("layout", {path("tricky.txt"), path("docs.jsonl")}));
        const std::string idx = readAll(r.folder + "/docs.idx");
        QCOMPARE(idx.substr(0, 8), std::string("SWDOCIX1"));
        uint64_t documents = 0, tokens = 0;
        std::memcpy(&documents, idx.data() + 16, 8);
        std::memcpy(&tokens, idx.data() + 24, 8);
        QCOMPARE(idx.size(), size_t(64 + 32 * documents));
        QCOMPARE(fs::file_size(r.folder + "/tokens.bin"), uintmax_t(2 * tokens));
        QCOMPARE(r.manifest["token_file"]["tokens"].get<uint64_t>(), tokens);
        QCOMPARE(r.manifest["tokenizer"]["fingerprint"].get<std::string>(), tokenizerFingerprint(tokenizer()));
        QCOMPARE(r.manifest["tokenizer"]["eos_id"].get<int>(), 50256);
        QCOMPARE(readCorpusManifest(r.folder)["name"].get<std::string>(), std::string("layout"));
        // A changed token is found by verify(); a short index by open().
        const std::string copy = path("damaged");
        fs::copy(r.folder, copy);
        {
            std::fstream t(copy + "/tokens.bin", std::ios::in | std::ios::out | std::ios::binary);
            t.seekp(10);
            t.put('\x07');
        }
        const std::string e = errorOf([&] { TextCorpus::open(copy).verify(); });
        QVERIFY2(e.find("checksum") != std::string::npos, e.c_str());
        fs::resize_file(copy + "/docs.idx", idx.size() - 32);
        const std::string e2 = errorOf([&] { TextCorpus::open(copy); });
        QVERIFY2(e2.find(copy + "/docs.idx is") != std::string::npos, e2.c_str());
        QVERIFY(errorOf([&] { TextCorpus::open(path("tree")); }).find("not a corpus folder") != std::string::npos);
    }

    void deleteRemovesRowAndFolder() {
        ProjectStore project = newProject();
        const CorpusImportResult r = importCorpus(project, tokenizer(), options("gone", {path("tricky.txt")}));
        QVERIFY(fs::exists(r.folder));
        deleteCorpus(project, "gone");
        QVERIFY(!fs::exists(r.folder));
        checkNothingLeft(project, "gone");
        const std::string e = errorOf([&] { deleteCorpus(project, "gone"); });
        QVERIFY2(e.find("has no corpus 'gone'") != std::string::npos, e.c_str());
    }
};

QTEST_GUILESS_MAIN(TestTextCorpus)
#include "test_text_corpus.moc"
