// The project file: creation and opening, WAL and foreign keys, migrations (older files migrate,
// newer files are refused), transactions, and the dataset/example API the trainer uses.
#include "core/error.h"
#include "core/project_store.h"
#include "datasets/dataset_store.h"
#include "test_util.h"

#include <sqlite3.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdio>
#include <fstream>

using namespace swarm;
using swarm::test::errorOf;

namespace {

int64_t scalar(sqlite3* db, const std::string& sql) {
    SqlStatement st(db, sql);
    return st.step() ? st.columnInt(0) : -1;
}

bool tableExists(sqlite3* db, const std::string& name) {
    SqlStatement st(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?");
    st.bind(1, name);
    return st.step() && st.columnInt(0) == 1;
}

// A dataset with `n` examples: ids 0..k, prompt_len 2.
int64_t addDataset(ProjectStore& store, const std::string& name, int n) {
    NewDataset nd;
    nd.name = name;
    nd.sourcePath = "/data/" + name + ".jsonl";
    nd.sourceFormat = "jsonl";
    nd.preset = "sql";
    nd.mapping = {{"prompt_template", "{question}"}};
    nd.split = {{"mode", "ratio"}};
    nd.seed = 7;
    DatasetWriter w = DatasetStore(store).beginDataset(nd);
    DatasetCounts c;
    for (int i = 0; i < n; ++i) {
        std::vector<int32_t> ids{10 + i, 20 + i, 30 + i, 50256};
        const Split s = i % 4 == 3 ? Split::Validation : Split::Train;
        w.addExample(i + 1, s, "prompt " + std::to_string(i), "response", ids, 2, 0, uint64_t(i) * 0x9E3779B97F4A7C15ull);
        (s == Split::Train ? c.nTrain : c.nValidation)++;
        c.nTokens += 4;
    }
    w.addRejected(RejectedRow{int64_t(n) + 1, int64_t(n) + 1, "malformed_json", "malformed JSON: test"});
    c.rowsRead = n + 1;
    c.rowsImported = n;
    c.rowsRejected = 1;
    const int64_t id = w.datasetId();
    w.commit(c, nlohmann::json{{"counts", {{"imported", n}}}});
    return id;
}

} // namespace

class TestProjectStore : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::string path(const char* name) { return tmp_.filePath(name).toStdString(); }

private slots:
    // Opening a second connection must not drop the first one's locks (a header check through a
    // second open() and close() of the file did): another process closing its connection would
    // take itself for the last one and delete the WAL under this one ("disk I/O error").
    void anotherConnectionKeepsTheFirstOnesLocks() {
        const std::string p = path("locks.swarm");
        ProjectStore first = ProjectStore::create(p);
        sqlExec(first.handle(), "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
        { ProjectStore second = ProjectStore::open(p); }
        QProcess other;   // this test program, as the other process (main below)
        other.start(QCoreApplication::applicationFilePath(), {"--open-and-close-project", QString::fromStdString(p)});
        QVERIFY(other.waitForFinished(60000));
        QCOMPARE(other.exitCode(), 0);
        QVERIFY2(QFile::exists(QString::fromStdString(p + "-wal")), "the other process deleted the WAL of an open connection");
        SqlStatement count(first.handle(), "SELECT count(*) FROM t");
        QVERIFY(count.step());
        QCOMPARE(count.columnInt(0), int64_t(1));
        sqlExec(first.handle(), "INSERT INTO t VALUES (2)");
    }

    void createOpenAndPragmas() {
        const std::string p = path("a.swarm");
        {
            ProjectStore s = ProjectStore::create(p);
            QCOMPARE(s.schemaVersion(), ProjectStore::latestVersion());
            QVERIFY(ProjectStore::latestVersion() >= 2);
            SqlStatement mode(s.handle(), "PRAGMA journal_mode");
            QVERIFY(mode.step());
            QCOMPARE(QString::fromStdString(mode.columnText(0)), QString("wal"));
            QCOMPARE(scalar(s.handle(), "PRAGMA foreign_keys"), int64_t(1));
            QVERIFY(!s.metaValue("created_at").empty());
            QVERIFY(tableExists(s.handle(), "datasets") && tableExists(s.handle(), "examples") &&
                    tableExists(s.handle(), "rejected_rows") && tableExists(s.handle(), "validation_reports") &&
                    tableExists(s.handle(), "dataset_presets"));
        }
        ProjectStore again = ProjectStore::open(p);
        QCOMPARE(scalar(again.handle(), "PRAGMA foreign_keys"), int64_t(1));
        QCOMPARE(again.schemaVersion(), ProjectStore::latestVersion());
        QVERIFY(DatasetStore(again).datasets().empty());

        // Move-only: moving transfers the connection.
        ProjectStore moved = std::move(again);
        QVERIFY(moved.handle() != nullptr);
        QCOMPARE(QString::fromStdString(moved.path()), QString::fromStdString(p));
    }

    void createAndOpenErrorsNameTheFile() {
        const std::string p = path("exists.swarm");
        ProjectStore::create(p);
        QVERIFY(errorOf([&] { ProjectStore::create(p); }).find("already exists") != std::string::npos);
        std::string e = errorOf([&] { ProjectStore::open(path("missing.swarm")); });
        QVERIFY2(e.find("missing.swarm") != std::string::npos && e.find("does not exist") != std::string::npos, e.c_str());
        e = errorOf([&] { ProjectStore::create(path("no/such/dir/x.swarm")); });
        QVERIFY2(e.find("does not exist") != std::string::npos, e.c_str());

        const std::string text = path("text.swarm");
        std::ofstream(text) << "this is not a database, just some text that is long enough";
        e = errorOf([&] { ProjectStore::open(text); });
        QVERIFY2(e.find("text.swarm") != std::string::npos && e.find("not an SQLite database") != std::string::npos, e.c_str());
        const std::string empty = path("empty.swarm");
        std::ofstream(empty).close();
        e = errorOf([&] { ProjectStore::open(empty); });
        QVERIFY2(e.find("empty.swarm") != std::string::npos && e.find("0 bytes") != std::string::npos, e.c_str());

        // An SQLite database of another application.
        const std::string other = path("other.db");
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(other.c_str(), &db), SQLITE_OK);
        sqlExec(db, "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
        sqlite3_close(db);
        e = errorOf([&] { ProjectStore::open(other); });
        QVERIFY2(e.find("other.db") != std::string::npos && e.find("another application") != std::string::npos, e.c_str());
        e = errorOf([&] { ProjectStore::open(tmp_.path().toStdString()); });
        QVERIFY2(e.find("is a directory") != std::string::npos, e.c_str());
    }

    void olderFileIsMigrated() {
        const std::string p = path("v1.swarm");
        {
            ProjectStore v1 = ProjectStore::createAtVersion(p, 1);
            QCOMPARE(v1.schemaVersion(), 1);
            QVERIFY(!tableExists(v1.handle(), "dataset_presets"));
            addDataset(v1, "old", 5);   // data written by the older schema survives the migration
        }
        ProjectStore now = ProjectStore::open(p);
        QCOMPARE(now.schemaVersion(), ProjectStore::latestVersion());
        QVERIFY(tableExists(now.handle(), "dataset_presets"));
        QCOMPARE(DatasetStore(now).exampleCount(DatasetStore(now).dataset("old").id), int64_t(5));
        std::vector<nlohmann::json> applied = now.appliedMigrations();
        QCOMPARE(int(applied.size()), ProjectStore::latestVersion());
        QCOMPARE(applied[1]["version"].get<int>(), 2);
        DatasetStore(now).savePreset("mine", {{"name", "mine"}});
        QCOMPARE(int(DatasetStore(now).savedPresets().size()), 1);
    }

    void modulesRegisterTheirOwnMigrations() {
        const std::string p = path("modules.swarm");
        ProjectStore::create(p);   // before the module exists
        ProjectStore::registerMigration("testmod", 1, "widgets table",
                                        "CREATE TABLE test_widgets (id INTEGER PRIMARY KEY, "
                                        "dataset_id INTEGER REFERENCES datasets(id) ON DELETE CASCADE, w TEXT)");
        ProjectStore::registerMigration("testmod", 2, "widget colour", [](sqlite3* db) {
            sqlExec(db, "ALTER TABLE test_widgets ADD COLUMN colour TEXT NOT NULL DEFAULT 'blue'");
        });
        // Registering the same migration again is harmless; a different one under a taken version is not.
        ProjectStore::registerMigration("testmod", 1, "widgets table", "SELECT 1");
        QVERIFY(errorOf([] { ProjectStore::registerMigration("testmod", 1, "something else", "SELECT 1"); })
                    .find("already") != std::string::npos);
        QVERIFY(!errorOf([] { ProjectStore::registerMigration("core", 99, "sneaky", "SELECT 1"); }).empty());
        QCOMPARE(ProjectStore::latestVersion("testmod"), 2);

        ProjectStore s = ProjectStore::open(p);
        QCOMPARE(s.schemaVersion("testmod"), 2);
        const int64_t ds = addDataset(s, "d", 1);
        sqlExec(s.handle(), "INSERT INTO test_widgets (dataset_id, w) VALUES (" + std::to_string(ds) + ", 'x')");
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM test_widgets WHERE colour = 'blue'"), int64_t(1));
        // Foreign keys are enforced: deleting the dataset cascades to the module's rows.
        DatasetStore(s).deleteDataset(ds);
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM test_widgets"), int64_t(0));
        QVERIFY(!errorOf([&] { sqlExec(s.handle(), "INSERT INTO examples (dataset_id, record_number, split, prompt, "
                                                   "response, ids, prompt_len, n_tokens, content_hash) VALUES "
                                                   "(999, 1, 'train', 'p', 'r', x'00000000', 0, 1, 0)"); })
                     .empty());
    }

    void newerFileIsRefused() {
        const std::string p = path("newer.swarm");
        {
            ProjectStore s = ProjectStore::create(p);
            sqlExec(s.handle(), "INSERT INTO schema_version (module, version, name, applied_at) VALUES "
                                "('core', 999, 'from the future', '2099-01-01T00:00:00Z')");
        }
        const std::string e = errorOf([&] { ProjectStore::open(p); });
        QVERIFY2(e.find("newer.swarm") != std::string::npos && e.find("newer Swarm Workbench") != std::string::npos &&
                     e.find("999") != std::string::npos,
                 e.c_str());

        // A module this build does not have is left alone.
        const std::string q = path("foreign-module.swarm");
        {
            ProjectStore s = ProjectStore::create(q);
            sqlExec(s.handle(), "INSERT INTO schema_version (module, version, name, applied_at) VALUES "
                                "('someone-else', 5, 'their tables', '2030-01-01T00:00:00Z')");
        }
        QCOMPARE(ProjectStore::open(q).schemaVersion("someone-else"), 5);

        // The same version under a different name: the histories disagree.
        const std::string r = path("mismatch.swarm");
        {
            ProjectStore s = ProjectStore::create(r);
            sqlExec(s.handle(), "UPDATE schema_version SET name = 'rewritten' WHERE module = 'core' AND version = 1");
        }
        QVERIFY(errorOf([&] { ProjectStore::open(r); }).find("schema mismatch") != std::string::npos);
    }

    void failedMigrationLeavesTheFileUnchanged() {
        const std::string p = path("failing.swarm");
        ProjectStore::create(p);
        ProjectStore::registerMigration("brokenmod", 1, "creates a table", "CREATE TABLE broken_one (x INTEGER)");
        ProjectStore::registerMigration("brokenmod", 2, "fails", [](sqlite3*) { throw Error("disk on fire"); });
        const std::string e = errorOf([&] { ProjectStore::open(p); });
        QVERIFY2(e.find("brokenmod") != std::string::npos && e.find("disk on fire") != std::string::npos &&
                     e.find("unchanged") != std::string::npos,
                 e.c_str());
        sqlite3* db = nullptr;
        QCOMPARE(sqlite3_open(p.c_str(), &db), SQLITE_OK);
        QVERIFY(!tableExists(db, "broken_one"));   // migration 1 of the module was rolled back too
        QCOMPARE(scalar(db, "SELECT count(*) FROM schema_version WHERE module = 'brokenmod'"), int64_t(0));
        sqlite3_close(db);
        ProjectStore::unregisterModule("brokenmod");
        QCOMPARE(ProjectStore::latestVersion("brokenmod"), 0);
        QCOMPARE(ProjectStore::open(p).schemaVersion("brokenmod"), 0);
    }

    void transactionsAndSavepoints() {
        ProjectStore s = ProjectStore::create(path("tx.swarm"));
        sqlite3* db = s.handle();
        sqlExec(db, "CREATE TABLE t (x INTEGER)");
        {
            SqlTransaction tx(db);
            sqlExec(db, "INSERT INTO t VALUES (1)");
        }   // no commit: rolled back
        QCOMPARE(scalar(db, "SELECT count(*) FROM t"), int64_t(0));
        {
            SqlTransaction outer(db);
            sqlExec(db, "INSERT INTO t VALUES (1)");
            {
                SqlTransaction inner(db);   // a savepoint
                sqlExec(db, "INSERT INTO t VALUES (2)");
            }   // rolled back to the savepoint
            {
                SqlTransaction inner(db);
                sqlExec(db, "INSERT INTO t VALUES (3)");
                inner.commit();
            }
            outer.commit();
        }
        SqlStatement all(db, "SELECT group_concat(x, ',') FROM t");
        QVERIFY(all.step());
        QCOMPARE(QString::fromStdString(all.columnText(0)), QString("1,3"));

        // Statements: binding every type, reset and reuse, errors naming the file.
        SqlStatement ins(db, "INSERT INTO t VALUES (?)");
        for (int i = 10; i < 13; ++i) {
            ins.bind(1, i);
            ins.run();
            ins.reset();
        }
        QCOMPARE(scalar(db, "SELECT sum(x) FROM t"), int64_t(1 + 3 + 10 + 11 + 12));
        SqlStatement types(db, "SELECT ?, ?, ?, ?, ?");
        types.bind(1, int64_t(1) << 40).bind(2, 2.5).bind(3, std::string("text")).bindBlob(4, "\x01\x02", 2).bindNull(5);
        QVERIFY(types.step());
        QCOMPARE(types.columnInt(0), int64_t(1) << 40);
        QCOMPARE(types.columnDouble(1), 2.5);
        QCOMPARE(QString::fromStdString(types.columnText(2)), QString("text"));
        QCOMPARE(int(types.columnBlob(3).size()), 2);
        QVERIFY(types.isNull(4));
        const std::string e = errorOf([&] { SqlStatement bad(db, "SELEC nonsense"); });
        QVERIFY2(e.find("tx.swarm") != std::string::npos && e.find("syntax error") != std::string::npos, e.c_str());
    }

    void datasetsAndTrainingExamples() {
        ProjectStore s = ProjectStore::create(path("ds.swarm"));
        const int64_t id = addDataset(s, "sql", 8);
        QCOMPARE(int(DatasetStore(s).datasets().size()), 1);
        DatasetInfo d = DatasetStore(s).dataset("sql");
        QCOMPARE(d.id, id);
        QCOMPARE(d.rowsImported, int64_t(8));
        QCOMPARE(d.rowsRejected, int64_t(1));
        QCOMPARE(d.nTrain, int64_t(6));
        QCOMPARE(d.nValidation, int64_t(2));
        QCOMPARE(QString::fromStdString(d.preset), QString("sql"));
        QCOMPARE(QString::fromStdString(d.mapping["prompt_template"].get<std::string>()), QString("{question}"));
        QCOMPARE(d.seed, uint64_t(7));
        QCOMPARE(DatasetStore(s).dataset(std::to_string(id)).name, std::string("sql"));   // by id too
        QVERIFY(!DatasetStore(s).findDataset("nope"));
        const std::string e = errorOf([&] { DatasetStore(s).dataset("nope"); });
        QVERIFY2(e.find("no dataset 'nope'") != std::string::npos && e.find("sql") != std::string::npos, e.c_str());
        QVERIFY(errorOf([&] { addDataset(s, "sql", 1); }).find("already has a dataset named 'sql'") != std::string::npos);

        std::vector<TrainingExample> train = DatasetStore(s).trainingExamples(id, Split::Train);
        std::vector<TrainingExample> val = DatasetStore(s).trainingExamples(id, Split::Validation);
        QCOMPARE(int(train.size()), 6);
        QCOMPARE(int(val.size()), 2);
        QCOMPARE(int(DatasetStore(s).trainingExamples(id, Split::Test).size()), 0);
        QCOMPARE(train[0].ids, (std::vector<int32_t>{10, 20, 30, 50256}));
        QCOMPARE(train[0].promptLen, 2);
        QCOMPARE(val[0].ids, (std::vector<int32_t>{13, 23, 33, 50256}));
        QVERIFY(train[0].exampleId < train[1].exampleId);

        std::optional<StoredExample> ex = DatasetStore(s).example(train[1].exampleId);
        QVERIFY(ex);
        QCOMPARE(QString::fromStdString(ex->prompt), QString("prompt 1"));
        QCOMPARE(ex->recordNumber, int64_t(2));
        QCOMPARE(ex->contentHash, uint64_t(1) * 0x9E3779B97F4A7C15ull);   // 64-bit hashes round-trip
        QCOMPARE(int(DatasetStore(s).examples(id, Split::Validation, 1, 10).size()), 1);
        int streamed = 0;
        DatasetStore(s).forEachExample(id, std::nullopt, [&](const StoredExample&) { return ++streamed < 5; });
        QCOMPARE(streamed, 5);
        QCOMPARE(DatasetStore(s).exampleCount(id, Split::Train), int64_t(6));
        QCOMPARE(int(DatasetStore(s).rejectedRows(id).size()), 1);
        QCOMPARE(DatasetStore(s).validationReport(id)["counts"]["imported"].get<int>(), 8);

        DatasetStore(s).deleteDataset(id);
        QVERIFY(DatasetStore(s).datasets().empty());
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM examples"), int64_t(0));
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM rejected_rows"), int64_t(0));
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM validation_reports"), int64_t(0));
    }

    void writerRollsBackUnlessCommitted() {
        ProjectStore s = ProjectStore::create(path("rollback.swarm"));
        {
            NewDataset nd;
            nd.name = "half";
            nd.sourcePath = "x";
            nd.sourceFormat = "jsonl";
            DatasetWriter w = DatasetStore(s).beginDataset(nd);
            w.addExample(1, Split::Train, "p", "r", {1, 2, 3}, 1, 0, 42);
            w.addRejected(RejectedRow{2, 2, "malformed_json", "x"});
            // Another connection sees nothing while the import runs.
            ProjectStore reader = ProjectStore::open(path("rollback.swarm"));
            QVERIFY(DatasetStore(reader).datasets().empty());
        }
        QVERIFY(DatasetStore(s).datasets().empty());
        QCOMPARE(scalar(s.handle(), "SELECT count(*) FROM examples"), int64_t(0));
        // prompt_len must leave at least one trained token.
        NewDataset nd;
        nd.name = "bad";
        nd.sourcePath = "x";
        nd.sourceFormat = "jsonl";
        DatasetWriter w = DatasetStore(s).beginDataset(nd);
        QVERIFY(!errorOf([&] { w.addExample(1, Split::Train, "p", "r", {1, 2}, 2, 0, 1); }).empty());
    }

    void tokenBlobsAreLittleEndianInt32() {
        const std::vector<int32_t> ids{0, 1, 255, 256, 50256, -100, 0x7fffffff};
        const std::string blob = packTokenIds(ids);
        QCOMPARE(int(blob.size()), 28);
        QCOMPARE(uint8_t(blob[16]), uint8_t(50256 & 0xff));
        QCOMPARE(uint8_t(blob[17]), uint8_t(50256 >> 8));
        QCOMPARE(unpackTokenIds(blob), ids);
        QVERIFY(!errorOf([] { unpackTokenIds(std::string(5, '\0')); }).empty());
    }

    void splitNames() {
        Split s;
        QVERIFY(parseSplit("Train", s) && s == Split::Train);
        QVERIFY(parseSplit("valid", s) && s == Split::Validation);
        QVERIFY(parseSplit(" dev ", s) && s == Split::Validation);
        QVERIFY(parseSplit("TEST", s) && s == Split::Test);
        QVERIFY(!parseSplit("holdout", s));
        QCOMPARE(QString(splitName(Split::Validation)), QString("validation"));
    }
};

// `--open-and-close-project PATH`: the other process of anotherConnectionKeepsTheFirstOnesLocks.
int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "--open-and-close-project") {
        try {
            ProjectStore s = ProjectStore::open(argv[2]);
            SqlStatement count(s.handle(), "SELECT count(*) FROM t");
            return count.step() ? 0 : 1;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
    }
    QCoreApplication app(argc, argv);
    TestProjectStore test;
    return QTest::qExec(&test, argc, argv);
}
#include "test_project_store.moc"
