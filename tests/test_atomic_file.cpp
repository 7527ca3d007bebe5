// AtomicFile, writeFileAtomically and readTextFile: replacement semantics, no temporaries left
// behind on any path, and the error messages for unwritable folders and a full disk.
#include "core/atomic_file.h"
#include "core/error.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace swarm;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> entries(const QString& dir) {
    std::vector<std::string> out;
    for (const QString& n : QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot))
        out.push_back(n.toStdString());
    return out;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

} // namespace

class TestAtomicFile : public QObject {
    Q_OBJECT

private slots:
    void commitReplacesTarget() {
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("config.json").toStdString();
        spit(target, "old content");
        {
            AtomicFile f(target);
            QCOMPARE(f.targetPath(), target);
            // The temporary sits next to the target, hidden, named after it and this process.
            const std::string tmp = f.temporaryPath();
            const std::string prefix =
                QDir(dir.path()).filePath(".config.json.tmp." + QString::number(::getpid()) + ".").toStdString();
            QVERIFY2(tmp.rfind(prefix, 0) == 0, tmp.c_str());
            QVERIFY(exists(tmp));
            f.write("new ");
            f.write(std::string("content"));
            f.write(nullptr, 0);
            QCOMPARE(f.bytesWritten(), size_t(11));
            QCOMPARE(slurp(target), std::string("old content"));   // untouched until commit
            f.commit();
            QVERIFY(!exists(tmp));
            QCOMPARE(slurp(target), std::string("new content"));
            // A committed file accepts nothing more.
            QVERIFY_THROWS_EXCEPTION(Error, f.write("x"));
            QVERIFY_THROWS_EXCEPTION(Error, f.commit());
            f.abandon();   // harmless after commit
        }
        QCOMPARE(slurp(target), std::string("new content"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"config.json"});
    }

    void newFileMode() {
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("fresh.txt").toStdString();
        const mode_t mask = ::umask(022);
        writeFileAtomically(target, "hello");
        ::umask(mask);
        struct stat st {};
        QCOMPARE(::stat(target.c_str(), &st), 0);
        QCOMPARE(int(st.st_mode & 0777), 0644);
        QCOMPARE(slurp(target), std::string("hello"));
    }

    void largeWrite() {
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("big.bin").toStdString();
        std::string big(24u << 20, '\0');
        for (size_t i = 0; i < big.size(); ++i) big[i] = char(i * 2654435761u >> 13);
        AtomicFile f(target);
        f.write(big.data(), big.size());
        f.write(big.data(), 3);
        QCOMPARE(f.bytesWritten(), big.size() + 3);
        f.commit();
        QCOMPARE(slurp(target), big + big.substr(0, 3));
    }

    void abandonAndDestructorLeaveNothing() {
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("model.safetensors").toStdString();
        std::string tmp;
        {
            AtomicFile f(target);
            tmp = f.temporaryPath();
            f.write("partial");
        }   // destroyed uncommitted
        QVERIFY(!exists(tmp));
        QVERIFY(!exists(target));
        QVERIFY(entries(dir.path()).empty());

        spit(target, "keep me");
        {
            AtomicFile f(target);
            tmp = f.temporaryPath();
            f.write("replacement");
            f.abandon();
            QVERIFY(!exists(tmp));
            f.abandon();   // twice is fine
            QVERIFY_THROWS_EXCEPTION(Error, f.write("more"));
            QVERIFY_THROWS_EXCEPTION(Error, f.commit());
        }
        QCOMPARE(slurp(target), std::string("keep me"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"model.safetensors"});

        // Destructor during exception unwinding (the usual way a failed writer abandons its file).
        try {
            AtomicFile f(target);
            f.write("half-done");
            throw std::runtime_error("writer failed");
        } catch (const std::runtime_error&) {
        }
        QCOMPARE(slurp(target), std::string("keep me"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"model.safetensors"});
    }

    void concurrentWritersGetDistinctTemporaries() {
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("same.txt").toStdString();
        AtomicFile a(target), b(target);
        QVERIFY(a.temporaryPath() != b.temporaryPath());
        a.write("from a");
        b.write("from b");
        a.commit();
        QCOMPARE(slurp(target), std::string("from a"));
        b.commit();   // last commit wins, never a mix
        QCOMPARE(slurp(target), std::string("from b"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"same.txt"});
    }

    void relativeTarget() {
        QTemporaryDir dir;
        const QString old = QDir::currentPath();
        QVERIFY(QDir::setCurrent(dir.path()));
        std::string error;
        try {
            writeFileAtomically("relative.txt", "rel");
        } catch (const Error& e) {
            error = e.what();
        }
        QDir::setCurrent(old);
        QVERIFY2(error.empty(), error.c_str());
        QCOMPARE(slurp(QDir(dir.path()).filePath("relative.txt").toStdString()), std::string("rel"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"relative.txt"});
    }

    void unwritableFolder() {
        QTemporaryDir dir;
        // A path under a regular file fails for every user, root included (ENOTDIR).
        const std::string plain = QDir(dir.path()).filePath("plain").toStdString();
        spit(plain, "x");
        const std::string underFile = plain + "/out.json";
        try {
            writeFileAtomically(underFile, "data");
            QFAIL("writing under a regular file succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), underFile), e.what());
            QVERIFY2(contains(e.what(), "Not a directory"), e.what());
        }
        // A folder that does not exist.
        const std::string missing = QDir(dir.path()).filePath("no/such/dir/out.json").toStdString();
        try {
            AtomicFile f(missing);
            QFAIL("opening in a missing folder succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), missing), e.what());
            QVERIFY2(contains(e.what(), "No such file"), e.what());
        }
        // /proc/self is not writable for anyone.
        try {
            writeFileAtomically("/proc/self/swarm-test.json", "data");
            QFAIL("writing into /proc succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), "/proc/self/swarm-test.json"), e.what());
        }
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"plain"});   // no temporaries anywhere
        // Permission bits only stop non-root users.
        if (::geteuid() != 0) {
            const QString ro = QDir(dir.path()).filePath("readonly");
            QVERIFY(QDir().mkdir(ro));
            QVERIFY(::chmod(ro.toLocal8Bit().constData(), 0555) == 0);
            const std::string target = QDir(ro).filePath("out.json").toStdString();
            std::string error;
            try {
                writeFileAtomically(target, "data");
            } catch (const Error& e) {
                error = e.what();
            }
            ::chmod(ro.toLocal8Bit().constData(), 0755);
            QVERIFY2(contains(error, target) && contains(error, "Permission denied"), error.c_str());
            QVERIFY(QDir(ro).isEmpty(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot));
        }
    }

    void targetIsADirectory() {
        QTemporaryDir dir;
        const QString sub = QDir(dir.path()).filePath("sub");
        QVERIFY(QDir().mkdir(sub));
        const std::string target = sub.toStdString();
        try {
            writeFileAtomically(target, "data");
            QFAIL("replacing a directory succeeded");
        } catch (const Error& e) {
            QVERIFY2(contains(e.what(), target), e.what());
        }
        QVERIFY(QFileInfo(sub).isDir());
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"sub"});
        // Not a file name at all.
        QVERIFY_THROWS_EXCEPTION(Error, AtomicFile(QDir(dir.path()).filePath("sub/").toStdString()));
        QVERIFY_THROWS_EXCEPTION(Error, AtomicFile(""));
    }

    void diskFull() {
        // The file-size limit makes write() fail with EFBIG once the temporary reaches it, which is
        // the same path a full disk (ENOSPC) takes. SIGXFSZ would kill the process: ignore it.
        QTemporaryDir dir;
        const std::string target = QDir(dir.path()).filePath("weights.bin").toStdString();
        spit(target, "previous version");
        const std::string big(256 * 1024, 'w');

        struct rlimit oldLimit {};
        QCOMPARE(::getrlimit(RLIMIT_FSIZE, &oldLimit), 0);
        struct sigaction ignore {}, oldAction {};
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        QCOMPARE(::sigaction(SIGXFSZ, &ignore, &oldAction), 0);
        struct rlimit small = oldLimit;
        small.rlim_cur = 64 * 1024;   // only the soft limit: restoring it needs no privilege
        QCOMPARE(::setrlimit(RLIMIT_FSIZE, &small), 0);

        // No QVERIFY between setting and restoring the limit: nothing may return early.
        std::string errorStreamed, errorWhole, tmpStreamed;
        size_t writtenBeforeFailure = 0;
        try {
            AtomicFile f(target);
            tmpStreamed = f.temporaryPath();
            for (int i = 0; i < 4; ++i) {
                f.write(big.data(), big.size() / 8);   // 32 KiB pieces: the third one hits the limit
                writtenBeforeFailure = f.bytesWritten();
            }
            f.commit();
        } catch (const Error& e) {
            errorStreamed = e.what();
        }
        try {
            writeFileAtomically(target, big);
        } catch (const Error& e) {
            errorWhole = e.what();
        }

        const int restoredLimit = ::setrlimit(RLIMIT_FSIZE, &oldLimit);
        const int restoredSignal = ::sigaction(SIGXFSZ, &oldAction, nullptr);
        QCOMPARE(restoredLimit, 0);
        QCOMPARE(restoredSignal, 0);

        for (const std::string& error : {errorStreamed, errorWhole}) {
            QVERIFY2(contains(error, target), ("error does not name the target: " + error).c_str());
            QVERIFY2(contains(error, "file too large"), error.c_str());
        }
        QCOMPARE(writtenBeforeFailure, size_t(64 * 1024));
        QVERIFY(!exists(tmpStreamed));
        QCOMPARE(slurp(target), std::string("previous version"));
        QCOMPARE(entries(dir.path()), std::vector<std::string>{"weights.bin"});

        // With the limit gone the same write succeeds.
        writeFileAtomically(target, big);
        QCOMPARE(slurp(target), big);
    }

    // /dev/full cannot be exercised meaningfully: AtomicFile never writes to the target itself but to
    // a fresh temporary in the target's folder, and for /dev/full that would be a regular file in
    // /dev. The EFBIG test above covers the same error path (write() failing mid-way).

    void readTextFileCases() {
        QTemporaryDir dir;
        const std::string p = QDir(dir.path()).filePath("text.json").toStdString();
        spit(p, "{\"a\": 1}\n");
        QCOMPARE(readTextFile(p), std::string("{\"a\": 1}\n"));
        QCOMPARE(readTextFile(p, 9), std::string("{\"a\": 1}\n"));   // exactly at the limit

        const std::string empty = QDir(dir.path()).filePath("empty.txt").toStdString();
        spit(empty, "");
        QCOMPARE(readTextFile(empty), std::string());

        std::string binary("a\0b\xff", 4);
        spit(p, binary);
        QCOMPARE(readTextFile(p), binary);

        auto expectError = [](const std::string& path, size_t maxBytes, const std::string& why) {
            try {
                readTextFile(path, maxBytes);
                QFAIL(("reading " + path + " succeeded").c_str());
            } catch (const Error& e) {
                QVERIFY2(contains(e.what(), path), e.what());
                QVERIFY2(contains(e.what(), why), e.what());
            }
        };
        expectError(QDir(dir.path()).filePath("missing.json").toStdString(), 1024, "No such file");
        expectError(dir.path().toStdString(), 1024, "directory");
        spit(p, std::string(100, 'x'));
        expectError(p, 99, "too large");
        expectError(p + "/child", 1024, "Not a directory");
        // A device that never ends is cut off at the limit.
        expectError("/dev/zero", 4096, "too large");
        // A FIFO would block a plain open(); it is refused instead.
        const std::string fifo = QDir(dir.path()).filePath("fifo").toStdString();
        QCOMPARE(::mkfifo(fifo.c_str(), 0644), 0);
        expectError(fifo, 1024, "not a regular file");
        if (::geteuid() != 0) {
            const std::string secret = QDir(dir.path()).filePath("secret").toStdString();
            spit(secret, "s");
            ::chmod(secret.c_str(), 0);
            expectError(secret, 1024, "Permission denied");
        }
    }
};

QTEST_GUILESS_MAIN(TestAtomicFile)
#include "test_atomic_file.moc"
