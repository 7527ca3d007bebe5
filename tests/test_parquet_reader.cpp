// The Parquet reader against fixtures from an independent writer (tools/gen-parquet-fixtures.js:
// parquet-wasm, i.e. Apache Arrow's Rust parquet crate): every encoding and codec gives the same
// records, row by row, as the same data in JSONL; refusals and corrupt files name the column and
// the feature; an import keeps each row's number in the validation report.
#include "datasets/dataset_import.h"
#include "datasets/dataset_reader.h"
#include "datasets/dataset_store.h"
#include "datasets/parquet_column.h"
#include "test_util.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstring>
#include <fstream>
#include <sstream>

using namespace swarm;
using swarm::test::errorOf;
using swarm::test::writeFile;
using nlohmann::json;

namespace {

const std::string kParquet = std::string(SWARM_TEST_DATA_DIR) + "/parquet/";

std::string readFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<SourceRecord> readAll(const std::string& path) {
    std::unique_ptr<RecordReader> r = RecordReader::open(path);
    std::vector<SourceRecord> out;
    SourceRecord rec;
    while (r->next(rec)) out.push_back(rec);
    return out;
}

const Gpt2Tokenizer& tokenizer() {
    static const Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
    return tok;
}

} // namespace

class TestParquetReader : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::string path(const std::string& name) { return dir_.filePath(QString::fromStdString(name)).toStdString(); }

    void compareWithJsonl(const std::string& parquet, const std::string& jsonl) {
        const std::vector<SourceRecord> got = readAll(kParquet + parquet);
        const std::vector<SourceRecord> want = readAll(kParquet + jsonl);
        QVERIFY2(got.size() == want.size(), (parquet + ": " + std::to_string(got.size()) + " rows, JSONL " + std::to_string(want.size())).c_str());
        for (size_t i = 0; i < got.size(); ++i) {
            const std::string where = parquet + " row " + std::to_string(i + 1) + ":\n  parquet " + got[i].value.dump() +
                                      "\n  jsonl   " + want[i].value.dump();
            QVERIFY2(got[i].issue == RecordIssue::None, (where + " " + got[i].detail).c_str());
            QCOMPARE(got[i].number, int64_t(i + 1));
            QCOMPARE(got[i].line, int64_t(i + 1));
            QVERIFY2(got[i].value == want[i].value, where.c_str());
        }
    }

private slots:
    void flatColumnsEveryEncodingAndCodec() {
        for (const char* f : {"flat_plain_none_v1.parquet", "flat_dict_snappy_v1.parquet", "flat_dict_zstd_v2.parquet",
                              "flat_plain_gzip_v2.parquet"})
            compareWithJsonl(f, "flat.jsonl");
        std::unique_ptr<RecordReader> r = RecordReader::open(kParquet + "flat_dict_snappy_v1.parquet");
        QCOMPARE(r->format(), SourceFormat::Parquet);
        QCOMPARE(r->columns(), (std::vector<std::string>{"id", "question", "answer", "label", "score", "ratio", "ok", "small",
                                                        "count", "big", "note", "flag"}));
        QCOMPARE(sampleColumns(kParquet + "flat_dict_snappy_v1.parquet"), r->columns());
        QCOMPARE(detectSourceFormat(kParquet + "flat_plain_gzip_v2.parquet"), SourceFormat::Parquet);
        QCOMPARE(parseSourceFormat("parquet"), SourceFormat::Parquet);
        SourceRecord rec;
        while (r->next(rec)) {
        }
        QCOMPARE(r->bytesConsumed(), r->fileSize());
    }

    void chatMessagesListsOfStructs() {
        compareWithJsonl("chat_dict_snappy_v1.parquet", "chat.jsonl");
        compareWithJsonl("chat_plain_zstd_v2.parquet", "chat.jsonl");
        const std::vector<SourceRecord> rows = readAll(kParquet + "chat_dict_snappy_v1.parquet");
        // Row 5 (i = 4) has a null list, row 7 (i = 6) an empty one, row 4 (i = 3) a null content.
        QVERIFY(rows[4].value["messages"].is_null());
        QVERIFY(rows[6].value["messages"].is_array() && rows[6].value["messages"].empty());
        QVERIFY(rows[3].value["messages"][1]["content"].is_null());
        QCOMPARE(QString::fromStdString(rows[0].value["messages"][0]["role"].get<std::string>()), QString("user"));
    }

    void unsupportedFeaturesNameTheColumn() {
        std::string e = errorOf([] { readAll(kParquet + "refuse_delta.parquet"); });
        QVERIFY2(e.find("column 'id'") != std::string::npos && e.find("DELTA_BINARY_PACKED") != std::string::npos &&
                     e.find("page at offset") != std::string::npos,
                 e.c_str());
        e = errorOf([] { RecordReader::open(kParquet + "refuse_timestamp.parquet"); });
        QVERIFY2(e.find("column 'created'") != std::string::npos && e.find("TIMESTAMP") != std::string::npos, e.c_str());
        e = errorOf([] { readAll(kParquet + "refuse_lz4.parquet"); });
        QVERIFY2(e.find("column '") != std::string::npos && e.find("LZ4_RAW") != std::string::npos, e.c_str());

        const std::vector<SourceRecord> rows = readAll(kParquet + "binary_not_utf8.parquet");
        QCOMPARE(int(rows.size()), 5);
        QCOMPARE(rows[3].issue, RecordIssue::InvalidUtf8);
        QVERIFY2(rows[3].detail.find("column 'payload'") != std::string::npos && rows[3].detail.find("byte 2") != std::string::npos,
                 rows[3].detail.c_str());
        QCOMPARE(QString::fromStdString(rows[4].value["payload"].get<std::string>()), QString("last"));
    }

    void corruptAndTruncatedFiles() {
        const std::string good = readFile(kParquet + "chat_dict_snappy_v1.parquet");
        // Cut short: no footer magic.
        const std::string cut = path("cut.parquet");
        writeFile(cut, good.substr(0, good.size() - 100));
        std::string e = errorOf([&] { RecordReader::open(cut); });
        QVERIFY2(e.find(cut) != std::string::npos && e.find("does not end with the magic bytes PAR1") != std::string::npos, e.c_str());
        // The column data cut in half, the footer kept: the chunks lie outside the file.
        uint32_t footerLen;
        std::memcpy(&footerLen, good.data() + good.size() - 8, 4);
        const std::string footer = good.substr(good.size() - 8 - footerLen);
        const std::string half = path("half.parquet");
        writeFile(half, good.substr(0, (good.size() - footer.size()) / 2) + footer);
        e = errorOf([&] { readAll(half); });
        QVERIFY2(e.find("column '") != std::string::npos && e.find("row group") != std::string::npos, e.c_str());
        // A footer length past the file.
        std::string badLen = good;
        const uint32_t huge = 1u << 30;
        std::memcpy(badLen.data() + badLen.size() - 8, &huge, 4);
        writeFile(path("len.parquet"), badLen);
        e = errorOf([&] { RecordReader::open(path("len.parquet")); });
        QVERIFY2(e.find("footer length") != std::string::npos, e.c_str());
        // Garbage in the footer's Thrift: named with the offset.
        std::string badFooter = good;
        for (size_t i = 0; i < 16; ++i) badFooter[good.size() - 8 - footerLen + 2 + i] = char(0xff);
        writeFile(path("thrift.parquet"), badFooter);
        e = errorOf([&] { RecordReader::open(path("thrift.parquet")); });
        QVERIFY2(e.find("footer") != std::string::npos && e.find("offset") != std::string::npos, e.c_str());
        // The existing sniff test's file: PAR1 and then garbage.
        writeFile(path("fake.parquet"), "PAR1" + std::string(100, 'x'));
        e = errorOf([&] { RecordReader::open(path("fake.parquet")); });
        QVERIFY2(e.find("Parquet") != std::string::npos, e.c_str());
    }

    void hybridDecoderEdgeCases() {
        // RLE run of 5 x 3 (bit width 2), then one bit-packed group of 8 values 0..7 at width 3.
        const uint8_t data[] = {0x0A, 0x03, 0x03, 0x88, 0xC6, 0xFA};
        std::vector<uint32_t> out;
        bool ok = false;
        parquet::decodeHybrid(data, 2, 2, 5, out, &ok);
        QVERIFY(ok);
        QCOMPARE(out, (std::vector<uint32_t>{3, 3, 3, 3, 3}));
        parquet::decodeHybrid(data + 2, 4, 3, 8, out, &ok);
        QVERIFY(ok);
        QCOMPARE(out, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
        parquet::decodeHybrid(data + 2, 3, 3, 8, out, &ok);   // one byte short
        QVERIFY(!ok);
        QCOMPARE(parquet::bitWidthFor(0), 0);
        QCOMPARE(parquet::bitWidthFor(1), 1);
        QCOMPARE(parquet::bitWidthFor(3), 2);
    }

    // The import keeps each Parquet row's number: the same rejections as the JSONL import.
    void importKeepsRowNumbers() {
        ImportOptions o;
        o.promptTemplate = "{messages[0].content}";
        o.responseTemplate = "{messages[1].content}";
        o.split = SplitSpec::parse("1,0,0");
        ProjectStore store = ProjectStore::create(path("p.swarm"));
        std::vector<std::vector<RejectedRow>> rejected;
        std::vector<int64_t> imported;
        for (const char* f : {"chat_dict_snappy_v1.parquet", "chat.jsonl"}) {
            o.name = f;
            o.sourcePath = kParquet + f;
            const ImportResult r = importDataset(store, tokenizer(), o);
            imported.push_back(r.counts.rowsImported);
            rejected.push_back(DatasetStore(store).rejectedRows(r.datasetId));
            QCOMPARE(QString::fromStdString(DatasetStore(store).dataset(f).sourceFormat),
                     QString(std::string(f).find(".parquet") != std::string::npos ? "parquet" : "jsonl"));
        }
        QCOMPARE(imported[0], imported[1]);
        QVERIFY(!rejected[0].empty());
        QCOMPARE(rejected[0].size(), rejected[1].size());
        for (size_t i = 0; i < rejected[0].size(); ++i) {
            QCOMPARE(rejected[0][i].recordNumber, rejected[1][i].recordNumber);
            QCOMPARE(rejected[0][i].line, rejected[1][i].recordNumber);   // a row's line is its number
            QCOMPARE(QString::fromStdString(rejected[0][i].reason), QString::fromStdString(rejected[1][i].reason));
        }
    }
};

QTEST_GUILESS_MAIN(TestParquetReader)
#include "test_parquet_reader.moc"
