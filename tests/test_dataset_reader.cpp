// Streaming record readers: every format, BOM, CRLF, embedded newlines, JSON wrappers, record and
// line numbers, malformed records (reported one by one) and unreadable files (one clear error).
#include "datasets/dataset_reader.h"
#include "core/error.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;
using nlohmann::json;

namespace {

const std::string kData = std::string(SWARM_TEST_DATA_DIR) + "/datasets/";

struct Read {
    std::vector<SourceRecord> records;
    std::unique_ptr<RecordReader> reader;
};

Read readAll(const std::string& path, ReaderOptions o = {}) {
    Read r;
    r.reader = RecordReader::open(path, o);
    SourceRecord rec;
    while (r.reader->next(rec)) r.records.push_back(rec);
    return r;
}

QString q(const std::string& s) { return QString::fromStdString(s); }

} // namespace

class TestDatasetReader : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const char* name) { return tmp_.filePath(name).toStdString(); }

private slots:
    void jsonlBadRowsAreReportedOneByOne() {
        Read r = readAll(kData + "bad_rows.jsonl");
        QCOMPARE(r.reader->format(), SourceFormat::Jsonl);
        QCOMPARE(int(r.records.size()), 12);   // 13 lines, one blank
        struct Want {
            int64_t number, line;
            RecordIssue issue;
        };
        const std::vector<Want> want = {
            {1, 1, RecordIssue::None},         {2, 2, RecordIssue::MalformedJson}, {3, 3, RecordIssue::InvalidUtf8},
            {4, 4, RecordIssue::None},         {5, 5, RecordIssue::None},          {6, 6, RecordIssue::None},
            {7, 7, RecordIssue::None},         {8, 8, RecordIssue::None},          {9, 9, RecordIssue::NotAnObject},
            {10, 11, RecordIssue::None},       {11, 12, RecordIssue::None},        {12, 13, RecordIssue::None}};
        for (size_t i = 0; i < want.size(); ++i) {
            QCOMPARE(r.records[i].number, want[i].number);
            QCOMPARE(r.records[i].line, want[i].line);
            QCOMPARE(int(r.records[i].issue), int(want[i].issue));
        }
        QVERIFY2(r.records[1].detail.find("malformed JSON") != std::string::npos, r.records[1].detail.c_str());
        QVERIFY2(r.records[2].detail.find("invalid UTF-8 at byte 18") != std::string::npos, r.records[2].detail.c_str());
        QCOMPARE(q(r.records[8].detail), QString("the line is an array, not a JSON object"));
        QCOMPARE(q(r.records[0].value["answer"].get<std::string>()), QString("SELECT COUNT(*) FROM head"));
        QCOMPARE(r.reader->columns(), (std::vector<std::string>{"answer", "question"}));
        QCOMPARE(r.reader->bytesConsumed(), r.reader->fileSize());
    }

    void csvRfc4180AndBadRows() {
        Read r = readAll(kData + "bad_rows.csv");
        QCOMPARE(r.reader->format(), SourceFormat::Csv);
        QCOMPARE(r.reader->columns(), (std::vector<std::string>{"question", "answer"}));
        QCOMPARE(int(r.records.size()), 10);
        // record 2 spans lines 3-4 (an embedded newline in a quoted field)
        QCOMPARE(r.records[1].line, int64_t(3));
        QCOMPARE(q(r.records[1].value["question"].get<std::string>()), QString("Which heads were born\nin Alabama?"));
        QCOMPARE(q(r.records[1].value["answer"].get<std::string>()),
                 QString("SELECT name FROM head WHERE born_state = 'Alabama'"));
        QCOMPARE(int(r.records[2].issue), int(RecordIssue::MalformedCsv));
        QCOMPARE(r.records[2].line, int64_t(5));
        QCOMPARE(q(r.records[2].detail), QString("malformed CSV: the row has 3 fields, the header has 2"));
        QCOMPARE(int(r.records[3].issue), int(RecordIssue::MalformedCsv));
        QVERIFY2(r.records[3].detail.find("a quote inside an unquoted field on line 6") != std::string::npos,
                 r.records[3].detail.c_str());
        QCOMPARE(int(r.records[4].issue), int(RecordIssue::MalformedCsv));
        QVERIFY2(r.records[4].detail.find("unexpected 'x' after a closing quote on line 7") != std::string::npos,
                 r.records[4].detail.c_str());
        QCOMPARE(int(r.records[5].issue), int(RecordIssue::InvalidUtf8));
        QCOMPARE(q(r.records[5].detail), QString("invalid UTF-8 in column 'question' at byte 4"));
        QCOMPARE(q(r.records[6].value["answer"].get<std::string>()), QString(""));
        QCOMPARE(q(r.records[7].value["question"].get<std::string>()), QString(""));
        QCOMPARE(q(r.records[8].value["question"].get<std::string>()), QString("He said \"hi\""));
        QCOMPARE(int(r.records[9].issue), int(RecordIssue::MalformedCsv));
        QCOMPARE(r.records[9].line, int64_t(12));
        QVERIFY2(r.records[9].detail.find("unterminated quoted field (the quote opens on line 12)") != std::string::npos,
                 r.records[9].detail.c_str());
    }

    void csvWithBomAndCrlf() {
        Read r = readAll(kData + "bom_crlf.csv");
        QVERIFY(r.reader->hadBom());
        QCOMPARE(r.reader->columns(), (std::vector<std::string>{"question", "answer"}));   // no BOM in the name
        QCOMPARE(int(r.records.size()), 2);
        QCOMPARE(q(r.records[0].value["question"].get<std::string>()), QString("Multi\r\nline question"));
        QCOMPARE(q(r.records[0].value["answer"].get<std::string>()), QString("SELECT 1"));   // no stray \r
        QCOMPARE(r.records[1].line, int64_t(4));
        QCOMPARE(q(r.records[1].value["answer"].get<std::string>()), QString("SELECT 2"));
    }

    void tsvQuotesAndNoFinalNewline() {
        Read r = readAll(kData + "simple.tsv");
        QCOMPARE(r.reader->format(), SourceFormat::Tsv);
        QCOMPARE(int(r.records.size()), 3);
        for (const SourceRecord& rec : r.records) QCOMPARE(int(rec.issue), int(RecordIssue::None));
        QCOMPARE(q(r.records[0].value["question"].get<std::string>()), QString("He said \"hi\""));   // lenient in TSV
        QCOMPARE(q(r.records[1].value["question"].get<std::string>()), QString("Tab\there"));
        QCOMPARE(q(r.records[2].value["answer"].get<std::string>()), QString("SELECT 3"));
    }

    void jsonArrayWithBadElements() {
        Read r = readAll(kData + "bad_rows.json");
        QCOMPARE(r.reader->format(), SourceFormat::Json);
        QCOMPARE(int(r.records.size()), 6);
        QCOMPARE(int(r.records[0].issue), int(RecordIssue::None));
        QCOMPARE(int(r.records[1].issue), int(RecordIssue::MalformedJson));
        QCOMPARE(r.records[1].line, int64_t(3));
        QCOMPARE(int(r.records[2].issue), int(RecordIssue::NotAnObject));
        QCOMPARE(q(r.records[2].detail), QString("the record is a string, not a JSON object"));
        QCOMPARE(int(r.records[3].issue), int(RecordIssue::InvalidUtf8));
        QCOMPARE(int(r.records[4].issue), int(RecordIssue::None));
        QCOMPARE(r.records[4].line, int64_t(6));
        QCOMPARE(q(r.records[4].value["answer"].get<std::string>()), QString("SELECT 3"));
        QVERIFY(r.records[5].value["question"].is_null());
    }

    void jsonWrapperObject() {
        Read r = readAll(kData + "wrapped.json");
        QCOMPARE(r.reader->format(), SourceFormat::Json);
        QVERIFY(r.reader->hadBom());
        QCOMPARE(q(r.reader->wrapperKey()), QString("data"));   // "tags" is an array too, but not of objects
        QCOMPARE(int(r.records.size()), 3);
        QCOMPARE(q(r.records[2].value["intent"].get<std::string>()), QString("recover_password"));

        ReaderOptions o;
        o.jsonKey = "nope";
        QVERIFY(errorOf([&] { readAll(kData + "wrapped.json", o); }).find("no key 'nope'") != std::string::npos);
        const std::string noArray = path("noarray.json");
        writeFile(noArray, "{\n  \"a\": 1,\n  \"b\": {\"c\": [1]}\n}\n");
        const std::string e = errorOf([&] { readAll(noArray); });
        QVERIFY2(e.find("holds no array of records") != std::string::npos && e.find("a, b") != std::string::npos, e.c_str());
        // A minified one-line wrapper is JSON, not a one-record JSONL file.
        const std::string mini = path("mini.json");
        writeFile(mini, R"({"rows":[{"q":"a","r":"b"},{"q":"c","r":"d"}]})");
        Read m = readAll(mini);
        QCOMPARE(m.reader->format(), SourceFormat::Json);
        QCOMPARE(int(m.records.size()), 2);
        // JSONL content in a .json file (common for exported datasets).
        const std::string lines = path("lines.json");
        writeFile(lines, "{\"q\": \"a\", \"r\": \"b\"}\n{\"q\": \"c\", \"r\": \"d\"}\n");
        QCOMPARE(readAll(lines).reader->format(), SourceFormat::Jsonl);
    }

    void nestedRecordsKeepTheirStructure() {
        Read r = readAll(kData + "nested.jsonl");
        QCOMPARE(int(r.records.size()), 3);
        QCOMPARE(q(r.records[1].value["chat"][1]["content"].get<std::string>()), QString("Bonjour ! Comment puis-je aider ?"));
    }

    void jsonArrayIsStreamed() {
        // 30 MB of records: reading the first one touches only the first buffer.
        const std::string big = path("big.json");
        {
            std::ofstream f(big, std::ios::binary);
            f << "[\n";
            const std::string filler(280, 'x');
            for (int i = 0; i < 100000; ++i)
                f << (i ? ",\n" : "") << "{\"question\": \"q" << i << "\", \"answer\": \"" << filler << "\"}";
            f << "\n]\n";
        }
        std::unique_ptr<RecordReader> r = RecordReader::open(big);
        QCOMPARE(r->format(), SourceFormat::Json);
        SourceRecord rec;
        QVERIFY(r->next(rec));
        QCOMPARE(q(rec.value["question"].get<std::string>()), QString("q0"));
        QVERIFY(r->fileSize() > 25u << 20);
        QVERIFY(r->bytesConsumed() <= 2u << 20);
        int64_t n = 1;
        while (r->next(rec)) ++n;
        QCOMPARE(n, int64_t(100000));
        QCOMPARE(rec.line, int64_t(100001));
    }

    void recordsOverTheSizeLimit() {
        const std::string file = path("huge_field.jsonl");
        writeFile(file, "{\"q\": \"small\", \"r\": \"ok\"}\n{\"q\": \"" + std::string(10 << 20, 'a') +
                            "\", \"r\": \"x\"}\n{\"q\": \"after\", \"r\": \"ok\"}\n");
        Read r = readAll(file);
        QCOMPARE(int(r.records.size()), 3);
        QCOMPARE(int(r.records[1].issue), int(RecordIssue::TooLarge));
        QVERIFY2(r.records[1].detail.find("10485779 bytes, over the limit of 4.0 MiB") != std::string::npos,
                 r.records[1].detail.c_str());
        QCOMPARE(q(r.records[2].value["q"].get<std::string>()), QString("after"));

        // The same in CSV and in a JSON array.
        const std::string csv = path("huge.csv");
        writeFile(csv, "q,r\nsmall,ok\n\"" + std::string(5 << 20, 'b') + "\",x\nafter,ok\n");
        Read c = readAll(csv);
        QCOMPARE(int(c.records.size()), 3);
        QCOMPARE(int(c.records[1].issue), int(RecordIssue::TooLarge));
        QCOMPARE(c.records[2].line, int64_t(4));
        const std::string arr = path("huge.json");
        writeFile(arr, "[{\"q\": \"small\"}, {\"q\": \"" + std::string(5 << 20, 'c') + "\"}, {\"q\": \"after\"}]");
        Read a = readAll(arr);
        QCOMPARE(int(a.records.size()), 3);
        QCOMPARE(int(a.records[1].issue), int(RecordIssue::TooLarge));
        QCOMPARE(q(a.records[2].value["q"].get<std::string>()), QString("after"));
    }

    void unreadableFilesFailAsAWhole() {
        const std::string empty = path("empty.jsonl");
        writeFile(empty, "");
        std::string e = errorOf([&] { RecordReader::open(empty); });
        QVERIFY2(e.find("empty.jsonl is empty (0 bytes)") != std::string::npos, e.c_str());
        QVERIFY(errorOf([&] { RecordReader::open(path("absent.csv")); }).find("does not exist") != std::string::npos);

        std::string bin;
        for (int i = 0; i < 4096; ++i) bin += char((i * 7919 + 13) & 0xff);
        const std::string binary = path("blob.jsonl");
        writeFile(binary, bin);
        e = errorOf([&] { RecordReader::open(binary); });
        QVERIFY2(e.find("looks like a binary file") != std::string::npos, e.c_str());
        const std::string noNul = path("latin.csv");
        std::string latin = "q,r\n";
        for (int i = 0; i < 200; ++i) latin += "caf\xe9" " cr\xe8me br\xfbl\xe9" "e,\xe0 la carte\n";
        writeFile(noNul, latin);
        e = errorOf([&] { RecordReader::open(noNul); });
        QVERIFY2(e.find("is not UTF-8 text") != std::string::npos, e.c_str());

        const std::string gz = path("data.jsonl.gz");
        writeFile(gz, std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8) + "xxxx");
        QVERIFY(errorOf([&] { RecordReader::open(gz); }).find("gzip-compressed") != std::string::npos);
        const std::string pq = path("data.parquet");
        writeFile(pq, "PAR1" + std::string(100, 'x'));
        QVERIFY(errorOf([&] { RecordReader::open(pq); }).find("Parquet") != std::string::npos);
        const std::string u16 = path("utf16.csv");
        writeFile(u16, std::string("\xff\xfeq\0,\0r\0\n\0", 10));
        QVERIFY(errorOf([&] { RecordReader::open(u16); }).find("UTF-16") != std::string::npos);

        // A JSON file that is one giant string: refused before reading it.
        const std::string giant = path("giant.json");
        writeFile(giant, "\"" + std::string(12 << 20, 'z') + "\"");
        e = errorOf([&] { readAll(giant); });
        QVERIFY2(e.find("giant.json: the file is one JSON string, not records") != std::string::npos, e.c_str());
        const std::string number = path("number.json");
        writeFile(number, "42\n");
        QVERIFY(errorOf([&] { readAll(number); }).find("starts with '4'") != std::string::npos);

        // A JSON array whose structure breaks: the records before it were read, then a clear error.
        const std::string broken = path("broken.json");
        writeFile(broken, "[{\"a\": \"b\"},\n {\"a\": \"c\"} {\"a\": \"d\"}]");
        std::unique_ptr<RecordReader> r = RecordReader::open(broken);
        SourceRecord rec;
        QVERIFY(r->next(rec));
        QVERIFY(r->next(rec));
        e = errorOf([&] { r->next(rec); });
        QVERIFY2(e.find("broken.json: malformed JSON at line 2: expected ',' or ']' after record 2") != std::string::npos,
                 e.c_str());
        const std::string truncated = path("truncated.json");
        writeFile(truncated, "[{\"a\": \"b\"}, {\"a\": \"c");
        e = errorOf([&] { readAll(truncated); });
        QVERIFY2(e.find("ends inside record 2") != std::string::npos, e.c_str());
        const std::string trailing = path("trailing.json");
        writeFile(trailing, "[{\"a\": \"b\"}] extra");
        QVERIFY(errorOf([&] { readAll(trailing); }).find("after the end of the array") != std::string::npos);

        // CSV header problems.
        const std::string dup = path("dup.csv");
        writeFile(dup, "a,b,a\n1,2,3\n");
        QVERIFY(errorOf([&] { RecordReader::open(dup); }).find("names column 'a' twice") != std::string::npos);
        const std::string blankHeader = path("blank.csv");
        writeFile(blankHeader, "\n\n");
        QVERIFY(errorOf([&] { RecordReader::open(blankHeader); }).find("no header row") != std::string::npos);
    }

    void formatDetection() {
        const std::string noExt = path("data_no_ext");
        writeFile(noExt, "a\tb\n1\t2\n");
        QCOMPARE(detectSourceFormat(noExt), SourceFormat::Tsv);
        writeFile(noExt, "a,b\n1,2\n");
        QCOMPARE(detectSourceFormat(noExt), SourceFormat::Csv);
        writeFile(noExt, "[{\"a\": 1}]");
        QCOMPARE(detectSourceFormat(noExt), SourceFormat::Json);
        writeFile(noExt, "{\"a\": 1}\n{\"a\": 2}\n");
        QCOMPARE(detectSourceFormat(noExt), SourceFormat::Jsonl);
        writeFile(noExt, "{\n  \"data\": [{\"a\": 1}]\n}\n");
        QCOMPARE(detectSourceFormat(noExt), SourceFormat::Json);
        QCOMPARE(parseSourceFormat("NDJSON"), SourceFormat::Jsonl);
        QVERIFY(!errorOf([] { parseSourceFormat("xlsx"); }).empty());
        // An explicit format wins over the extension.
        ReaderOptions o;
        o.format = SourceFormat::Tsv;
        QCOMPARE(RecordReader::open(kData + "bad_rows.csv", o)->format(), SourceFormat::Tsv);
    }

    void sampledColumns() {
        QCOMPARE(sampleColumns(kData + "nested.jsonl"), (std::vector<std::string>{"chat", "id", "meta"}));
        QCOMPARE(sampleColumns(kData + "bad_rows.csv"), (std::vector<std::string>{"question", "answer"}));
    }

    void utf8Validation() {
        size_t bad = 99;
        QVERIFY(isValidUtf8("plain ascii, long enough for the fast path"));
        QVERIFY(isValidUtf8("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
        QVERIFY(!isValidUtf8("abc\xc3", &bad));
        QCOMPARE(bad, size_t(3));
        QVERIFY(!isValidUtf8("\xc0\xaf"));               // overlong
        QVERIFY(!isValidUtf8("\xed\xa0\x80"));           // surrogate
        QVERIFY(!isValidUtf8("\xf4\x90\x80\x80"));       // past U+10FFFF
        QVERIFY(!isValidUtf8("12345678\x80", &bad));
        QCOMPARE(bad, size_t(8));
    }
};

QTEST_GUILESS_MAIN(TestDatasetReader)
#include "test_dataset_reader.moc"
