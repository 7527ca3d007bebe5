// importCorpus: list the sources, read them as pieces, tokenise the pieces on every core in
// order-preserving batches, append them to the token file and index in a temporary folder,
// choose the validation documents, checksum, write the manifest, then rename the folder into
// place and commit the project row together.
#include "datasets/corpus_import.h"

#include "core/atomic_file.h"
#include "core/format.h"
#include "core/sqlite.h"
#include "core/system.h"
#include "core/thread_pool.h"
#include "core/tokenizer.h"
#include "datasets/corpus_steps.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <unistd.h>

namespace swarm {

namespace fs = std::filesystem;
namespace cf = corpus_format;
using namespace corpus_steps;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---------------------------------------------------------------------------------------------
// Before anything is written

void checkOptions(const ProjectStore& project, const Gpt2Tokenizer& tok, const CorpusImportOptions& o) {
    checkCorpusName(o.name);
    if (!(o.validationFraction >= 0 && o.validationFraction <= 0.5))
        throw Error("the validation fraction must be between 0 and 0.5, got " + formatNumber("%g", o.validationFraction));
    if (o.validationTokens < -1) throw Error("the validation token count must be >= 0");
    if (o.threads < 0) throw Error("the thread count must be >= 0 (0: every core)");
    if (o.pieceBytes < 16) throw Error("the piece size must be at least 16 bytes");
    FieldPath::parse(o.textField);   // throws on a bad path
    if (tok.vocabSize() > cf::kMaxTokenId + 1)
        throw Error("the tokenizer has " + std::to_string(tok.vocabSize()) +
                    " tokens: a corpus stores uint16 ids (at most 65536 tokens)");
    if (CorpusStore(project).find(o.name))
        throw Error("project " + project.path() + " already has a corpus named '" + o.name +
                    "' (choose another name, or swarm corpus delete it first)");
    const std::string folder = corporaFolderOf(project.path()) + "/" + o.name;
    std::error_code ec;
    if (fs::exists(folder, ec))
        throw Error(folder + " exists, but the project has no corpus '" + o.name +
                    "' (left by an interrupted import, or copied there): remove it first");
}

// The temporary folder of an import; removed with everything in it unless released.
class TemporaryFolder {
public:
    explicit TemporaryFolder(std::string path) : path_(std::move(path)) {
        std::error_code ec;
        fs::remove_all(path_, ec);
        if (!fs::create_directory(path_, ec) || ec)
            throw Error("cannot create " + path_ + ": " + (ec ? ec.message() : std::string("it exists")));
    }
    ~TemporaryFolder() {
        if (!path_.empty()) {
            std::error_code ec;
            fs::remove_all(path_, ec);
        }
    }
    TemporaryFolder(const TemporaryFolder&) = delete;
    TemporaryFolder& operator=(const TemporaryFolder&) = delete;
    const std::string& path() const { return path_; }
    void release() { path_.clear(); }

private:
    std::string path_;
};

constexpr const char* kTemporaryPrefix = ".importing-";
constexpr const char* kDeletingPrefix = ".deleting-";

// Temporary folders of imports and deletions whose process is gone (killed) are removed.
void removeStaleTemporaries(const std::string& corpora) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(corpora, ec)) {
        const std::string name = e.path().filename().string();
        if (name.rfind(kTemporaryPrefix, 0) != 0 && name.rfind(kDeletingPrefix, 0) != 0) continue;
        const size_t dash = name.find_last_of('-');
        if (dash == std::string::npos) continue;
        const long pid = std::strtol(name.c_str() + dash + 1, nullptr, 10);
        if (pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH)) {
            std::error_code rec;
            fs::remove_all(e.path(), rec);
        }
    }
}

void syncFolder(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

// ---------------------------------------------------------------------------------------------
// Reading, tokenising and writing

struct WriteTally {
    int64_t textBytes = 0;
    int64_t openDocumentBytes = 0;
};

// Each batch is one run of the thread pool: its tasks tokenise the batch's pieces, and one more
// task reads the next batch (the reader is used by one task at a time, never together with this
// thread). Then this thread appends the batch to the files, in order. The pool lives for the
// whole import, so the tokenizer's per-thread word caches stay warm.
class TokenisePipeline {
public:
    TokenisePipeline(const CorpusImportOptions& o, const Gpt2Tokenizer& tok, const SourceListing& sources,
                     PieceReader& reader, CorpusWriter& writer, Clock::time_point started)
        : o_(o), tok_(tok), sources_(sources), reader_(reader), writer_(writer), started_(started),
          pool_(std::max(1, std::min(o.threads > 0 ? o.threads : availableCores(), 64)) + 1) {}

    void run() {
        more_ = reader_.read(next_, kBatchBytes, kBatchPieces);
        while (!next_.empty()) {
            if (cancelled()) throw CorpusImportCancelled();
            std::swap(current_, next_);
            next_.clear();
            tokeniseAndRead(more_);
            if (cancelled()) throw CorpusImportCancelled();
            write();
            report();
        }
        if (cancelled()) throw CorpusImportCancelled();
    }

    const WriteTally& tally() const { return tally_; }
    int threads() const { return pool_.size() - 1; }

private:
    static constexpr size_t kBatchBytes = size_t(8) << 20;
    static constexpr size_t kBatchPieces = 16384;
    static constexpr size_t kTaskBytes = size_t(64) << 10;

    bool cancelled() const { return o_.cancel && o_.cancel->load(std::memory_order_relaxed); }

    // Tokenises current_ on the pool while one task reads the next batch (when readNext). A task
    // must not throw out of the pool: the first error is kept and rethrown once the run is over.
    void tokeniseAndRead(bool readNext) {
        taskStart_.clear();
        size_t bytes = kTaskBytes;
        for (size_t i = 0; i < current_.size(); ++i) {
            if (bytes >= kTaskBytes) {
                taskStart_.push_back(i);
                bytes = 0;
            }
            bytes += current_[i].text.size() + 64;
        }
        taskStart_.push_back(current_.size());
        const int readTasks = readNext ? 1 : 0;
        const int tokeniseTasks = int(taskStart_.size()) - 1;
        pool_.parallelForRethrowing(readTasks + tokeniseTasks, [&](int task, int) {
            if (task < readTasks) {
                more_ = reader_.read(next_, kBatchBytes, kBatchPieces);
                return;
            }
            const size_t t = size_t(task - readTasks);
            for (size_t i = taskStart_[t]; i < taskStart_[t + 1] && !cancelled(); ++i) {
                TextPiece& p = current_[i];
                if (p.text.empty()) continue;
                p.ids = tok_.encode(p.text, false);
            }
        });
    }

    void write() {
        for (TextPiece& p : current_) {
            if (p.discardsDocument) {
                writer_.discardDocument();
                tally_.openDocumentBytes = 0;
                continue;
            }
            writer_.append(p.ids);
            tally_.openDocumentBytes += int64_t(p.text.size());
            if (p.endsDocument) {
                writer_.endDocument(p.file, p.record);
                tally_.textBytes += tally_.openDocumentBytes;
                tally_.openDocumentBytes = 0;
            }
        }
        current_.clear();
    }

    void report() const {
        if (!o_.progress) return;
        CorpusImportProgress p;
        p.bytesRead = reader_.bytesConsumed();
        p.bytesTotal = sources_.bytesTotal;
        p.filesDone = reader_.filesDone();
        p.filesTotal = int64_t(sources_.files.size());
        p.documents = int64_t(writer_.documents());
        p.tokens = int64_t(writer_.tokens());
        p.seconds = secondsSince(started_);
        o_.progress(p);
    }

    const CorpusImportOptions& o_;
    const Gpt2Tokenizer& tok_;
    const SourceListing& sources_;
    PieceReader& reader_;
    CorpusWriter& writer_;
    Clock::time_point started_;
    ThreadPool pool_;
    std::vector<TextPiece> current_, next_;
    std::vector<size_t> taskStart_;
    bool more_ = true;
    WriteTally tally_;
};

[[noreturn]] void throwNothingUsable(const CorpusImportOptions& o, const SourceListing& sources, const PieceReader& reader) {
    std::string inputs;
    for (size_t i = 0; i < o.inputs.size() && i < 3; ++i) inputs += (i ? ", " : "") + o.inputs[i];
    if (o.inputs.size() > 3) inputs += ", ...";
    std::string why;
    std::vector<SkippedSource> skipped = sources.skipped;
    skipped.insert(skipped.end(), reader.skippedFiles().begin(), reader.skippedFiles().end());
    for (size_t i = 0; i < skipped.size() && i < 5; ++i) why += "; " + skipped[i].path + ": " + skipped[i].reason;
    if (skipped.size() > 5) why += "; and " + std::to_string(skipped.size() - 5) + " more files";
    if (reader.skippedRecords() > 0) {
        const SkippedRecord& r = reader.skippedRecordSample().front();
        why += "; " + withThousands(reader.skippedRecords()) + " records skipped (first: " + sources.files[r.file].path +
               " record " + std::to_string(r.record) + ", " + r.reason + ": " + r.detail + ")";
    }
    throw Error("nothing to import from " + inputs + ": no document has any text (" +
                std::to_string(skipped.size()) + " files skipped" + why + ")");
}

// ---------------------------------------------------------------------------------------------
// The manifest

std::string sourceFormat(const SourceFile& f) {
    if (f.kind == SourceKind::Text) return "text";
    std::string ext = fs::path(f.path).extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".ndjson" || ext == ".jsonlines") return "jsonl";
    return ext.empty() ? "records" : ext.substr(1);
}

struct Outcome {
    uint64_t documents = 0, tokens = 0;
    ValidationChoice validation;
    uint64_t targetTokens = 0;
    uint64_t checksum = 0;
    int64_t textBytes = 0;
    double seconds = 0;
    int threads = 0;
};

json buildManifest(const CorpusImportOptions& o, const Gpt2Tokenizer& tok, const SourceListing& sources,
                   const PieceReader& reader, const CorpusWriter& writer, const Outcome& out,
                   const std::vector<SkippedSource>& skipped, const std::vector<std::string>& warnings) {
    json m;
    m["format"] = cf::kManifestFormat;
    m["version"] = cf::kManifestVersion;
    m["name"] = o.name;
    m["created_at"] = utcTimestamp();
    m["tokenizer"] = {{"source", o.tokenizerSource},
                      {"vocab_size", tok.vocabSize()},
                      {"eos_id", Gpt2Tokenizer::kEndOfText},
                      {"fingerprint", tokenizerFingerprint(tok)}};
    m["token_file"] = {{"path", cf::kTokensFile},
                       {"dtype", "uint16le"},
                       {"tokens", out.tokens},
                       {"bytes", out.tokens * 2},
                       {"checksum", TokenChecksum::hex(out.checksum)},
                       {"checksum_algorithm", "swarm-hash64 (datasets/text_corpus.h TokenChecksum)"}};
    m["index_file"] = {{"path", cf::kIndexFile}, {"entry_bytes", cf::kIndexEntryBytes}, {"documents", out.documents}};
    m["counts"] = {{"documents", out.documents},
                   {"tokens", out.tokens},
                   {"train_documents", out.documents - out.validation.documents},
                   {"train_tokens", out.tokens - out.validation.tokens},
                   {"validation_documents", out.validation.documents},
                   {"validation_tokens", out.validation.tokens},
                   {"text_bytes", out.textBytes},
                   {"source_files", writer.sources().size()},
                   {"skipped_files", skipped.size()},
                   {"skipped_records", reader.skippedRecords()},
                   {"hidden_entries_left_out", sources.hiddenSkipped}};
    m["validation"] = {{"rule", "whole documents in seeded score order until the target tokens"},
                       {"mode", o.validationTokens >= 0 ? "tokens" : "fraction"},
                       {"fraction", o.validationFraction},
                       {"target_tokens", out.targetTokens},
                       {"seed", o.seed}};
    m["text_field"] = o.textField;
    m["inputs"] = o.inputs;
    json list = json::array();
    for (const SourceTally& s : writer.sources()) {
        const SourceFile& f = sources.files[s.file];
        list.push_back({{"path", f.path}, {"format", sourceFormat(f)}, {"bytes", f.bytes}, {"documents", s.documents}, {"tokens", s.tokens}});
    }
    m["sources"] = std::move(list);
    json skippedJson = json::array();
    for (size_t i = 0; i < skipped.size() && i < 1000; ++i) skippedJson.push_back({{"path", skipped[i].path}, {"reason", skipped[i].reason}});
    m["skipped_files"] = std::move(skippedJson);
    json records = json::array();
    for (const SkippedRecord& r : reader.skippedRecordSample())
        records.push_back({{"path", sources.files[r.file].path}, {"record", r.record}, {"line", r.line}, {"reason", r.reason}, {"detail", r.detail}});
    m["skipped_records"] = std::move(records);
    m["warnings"] = warnings;
    m["import"] = {{"seconds", out.seconds},
                   {"threads", out.threads},
                   {"tokens_per_s", out.seconds > 0 ? double(out.tokens) / out.seconds : 0.0},
                   {"peak_rss_bytes", peakRssBytes()}};
    return m;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The import

CorpusImportResult importCorpus(ProjectStore& project, const Gpt2Tokenizer& tok, const CorpusImportOptions& o) {
    const Clock::time_point started = Clock::now();
    checkOptions(project, tok, o);
    const SourceListing sources = listSources(o.inputs);
    const std::string corpora = corporaFolderOf(project.path());
    const std::string finalFolder = corpora + "/" + o.name;
    std::error_code ec;
    fs::create_directories(corpora, ec);
    if (ec) throw Error("cannot create " + corpora + ": " + ec.message());
    removeStaleTemporaries(corpora);
    TemporaryFolder temp(corpora + "/" + kTemporaryPrefix + o.name + "-" + std::to_string(long(::getpid())));

    CorpusWriter writer(temp.path());
    PieceReader reader(sources, o);
    TokenisePipeline pipeline(o, tok, sources, reader, writer, started);
    pipeline.run();
    if (writer.documents() == 0) throwNothingUsable(o, sources, reader);
    writer.flush();

    Outcome out;
    out.documents = writer.documents();
    out.tokens = writer.tokens();
    out.textBytes = pipeline.tally().textBytes;
    out.threads = pipeline.threads();
    out.targetTokens = o.validationTokens >= 0 ? uint64_t(o.validationTokens)
                                               : uint64_t(std::llround(o.validationFraction * double(out.tokens)));
    std::vector<std::string> warnings = reader.warnings();
    if (out.targetTokens > 0 && out.documents < 2)
        warnings.push_back("the corpus has one document: no validation slice (it is made of whole documents)");
    out.validation = markValidationDocuments(writer.indexFd(), writer.indexPath(), out.documents, out.targetTokens, o.seed);
    if (o.cancel && o.cancel->load()) throw CorpusImportCancelled();
    out.checksum = writer.checksumTokens();

    cf::IndexHeader header{};
    std::memcpy(header.magic, cf::kIndexMagic, 8);
    header.version = cf::kIndexVersion;
    header.entryBytes = cf::kIndexEntryBytes;
    header.documents = out.documents;
    header.tokens = out.tokens;
    header.validationDocuments = out.validation.documents;
    header.validationTokens = out.validation.tokens;
    header.trainDocuments = out.documents - out.validation.documents;
    header.trainTokens = out.tokens - out.validation.tokens;
    writer.finish(header);

    std::vector<SkippedSource> skipped = sources.skipped;
    skipped.insert(skipped.end(), reader.skippedFiles().begin(), reader.skippedFiles().end());
    out.seconds = secondsSince(started);
    const json manifest = buildManifest(o, tok, sources, reader, writer, out, skipped, warnings);
    writeFileAtomically(temp.path() + "/" + cf::kManifestFile, manifest.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    syncFolder(temp.path());
    if (o.cancel && o.cancel->load()) throw CorpusImportCancelled();

    CorpusInfo info;
    info.name = o.name;
    info.folder = fs::path(project.path()).filename().string() + ".corpora/" + o.name;
    info.createdAt = manifest["created_at"].get<std::string>();
    info.inputs = o.inputs;
    info.textField = o.textField;
    info.sources = int64_t(writer.sources().size());
    info.documents = int64_t(out.documents);
    info.tokens = int64_t(out.tokens);
    info.trainDocuments = int64_t(header.trainDocuments);
    info.trainTokens = int64_t(header.trainTokens);
    info.validationDocuments = int64_t(header.validationDocuments);
    info.validationTokens = int64_t(header.validationTokens);
    info.skippedFiles = int64_t(skipped.size());
    info.skippedRecords = reader.skippedRecords();
    info.checksum = TokenChecksum::hex(out.checksum);
    info.tokenizer = tokenizerFingerprint(tok);
    info.seconds = out.seconds;

    // The row and the folder appear together: the row is inserted, the folder renamed into place,
    // then the transaction commits (a failed commit takes the folder away again).
    SqlTransaction tx(project.handle());
    info.id = CorpusStore(project).insert(info);
    if (::rename(temp.path().c_str(), finalFolder.c_str()) != 0)
        throw Error("cannot move the corpus into " + finalFolder + ": " + std::strerror(errno));
    temp.release();
    syncFolder(corpora);
    try {
        tx.commit();
    } catch (...) {
        fs::remove_all(finalFolder, ec);
        throw;
    }

    CorpusImportResult r;
    r.info = info;
    r.folder = fs::absolute(finalFolder, ec).lexically_normal().string();
    r.manifest = manifest;
    r.skippedFiles = std::move(skipped);
    r.skippedRecords = reader.skippedRecords();
    r.warnings = std::move(warnings);
    r.seconds = out.seconds;
    r.tokensPerSecond = out.seconds > 0 ? double(out.tokens) / out.seconds : 0;
    r.textBytes = out.textBytes;
    return r;
}

void deleteCorpus(ProjectStore& project, const std::string& name) {
    CorpusStore store(project);
    const CorpusInfo info = store.corpus(name);
    const fs::path folder = store.folderOf(info);
    // The folder is moved aside first (one rename), so that a failure leaves the corpus whole.
    const fs::path aside = folder.parent_path() / (std::string(kDeletingPrefix) + name + "-" + std::to_string(long(::getpid())));
    std::error_code ec;
    const bool present = fs::exists(folder, ec);
    if (present && ::rename(folder.c_str(), aside.c_str()) != 0)
        throw Error("cannot remove " + folder.string() + ": " + std::strerror(errno) + " (the corpus is kept)");
    SqlTransaction tx(project.handle());
    try {
        store.remove(info.id);
        tx.commit();
    } catch (...) {
        if (present) ::rename(aside.c_str(), folder.c_str());
        throw;
    }
    if (present) fs::remove_all(aside, ec);
}

} // namespace swarm
