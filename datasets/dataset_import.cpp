#include "datasets/dataset_import.h"

#include "core/hash.h"
#include "core/system.h"
#include "core/thread_pool.h"
#include "datasets/dataset_store.h"
#include "datasets/import_steps.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <unordered_map>

namespace swarm {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Small pieces

const char* overlongName(OverlongPolicy p) { return p == OverlongPolicy::Drop ? "drop" : "truncate"; }

OverlongPolicy parseOverlong(const std::string& name) {
    if (name == "truncate") return OverlongPolicy::Truncate;
    if (name == "drop") return OverlongPolicy::Drop;
    throw Error("unknown over-long policy '" + name + "' (expected truncate or drop)");
}

json ResolvedMapping::toJson() const {
    return json{{"preset", presetName},
                {"prompt_template", prompt.text()},
                {"response_template", response.text()},
                {"chat_format", format.text()},
                {"explanation", explanation}};
}

uint64_t hashText(std::string_view text, uint64_t seed) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(text.data());
    size_t n = text.size();
    uint64_t h = seed ^ 0x9E3779B97F4A7C15ull ^ (uint64_t(n) * 0xC2B2AE3D27D4EB4Full);
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = absorbWord(h, w);
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ mix64(w ^ (uint64_t(n) << 56))) * 0x9E3779B97F4A7C15ull;
    return mix64(h);
}

uint64_t contentHash(std::string_view prompt, std::string_view response) {
    return hashText(response, hashText(prompt) ^ 0x5EED5EED5EED5EEDull);
}

std::vector<int32_t> labelsFor(const std::vector<int32_t>& ids, int32_t promptLen) {
    std::vector<int32_t> labels(ids);
    for (size_t i = 0; i < labels.size() && int64_t(i) < promptLen; ++i) labels[i] = -100;
    return labels;
}

// ---------------------------------------------------------------------------------------------
// ExampleEncoder

ExampleEncoder::ExampleEncoder(const Gpt2Tokenizer& tokenizer, ChatFormat format, int maxLen, OverlongPolicy policy)
    : tok_(tokenizer), format_(std::move(format)), maxLen_(maxLen), policy_(policy) {
    if (maxLen < 2) throw Error("max_len must be at least 2, got " + std::to_string(maxLen));
    std::string head = format_.head();
    while (!head.empty() && (head.back() == ' ' || head.back() == '\t' || head.back() == '\n')) head.pop_back();
    headIds_ = tok_.encode(head, false);
    tailTokens_ = tok_.encode(format_.tail(), false).size();
}

EncodedExample ExampleEncoder::encode(std::string_view prompt, std::string_view response) const {
    EncodedExample e;
    std::vector<int32_t> p = tok_.encode(format_.promptText(prompt), false);
    std::vector<int32_t> r = tok_.encode(format_.responseText(response), false);
    if (format_.endsWithEos()) r.push_back(Gpt2Tokenizer::kEndOfText);
    e.promptTokens = int32_t(p.size());
    e.responseTokens = int32_t(r.size());
    const size_t total = p.size() + r.size();
    if (total > size_t(maxLen_)) {
        const std::string sizes = std::to_string(total) + " tokens (prompt " + std::to_string(p.size()) +
                                  " + response " + std::to_string(r.size()) + "), over max_len " +
                                  std::to_string(maxLen_);
        if (policy_ == OverlongPolicy::Drop) {
            e.tooLong = true;
            e.tooLongDetail = sizes + " (over-long rows are dropped)";
            return e;
        }
        const size_t excess = total - size_t(maxLen_);
        size_t keepHead = 0;
        if (headIds_.size() <= p.size() && std::equal(headIds_.begin(), headIds_.end(), p.begin()))
            keepHead = headIds_.size();
        if (p.size() < excess + keepHead + tailTokens_) {
            e.tooLong = true;
            e.tooLongDetail = sizes + "; the response is too long to fit even with the prompt truncated";
            return e;
        }
        e.ids.reserve(size_t(maxLen_));
        e.ids.insert(e.ids.end(), p.begin(), p.begin() + std::ptrdiff_t(keepHead));
        e.ids.insert(e.ids.end(), p.begin() + std::ptrdiff_t(keepHead + excess), p.end());
        e.promptLen = int32_t(p.size() - excess);
        e.truncated = int32_t(excess);
    } else {
        e.ids = std::move(p);
        e.promptLen = int32_t(e.ids.size());
    }
    e.ids.insert(e.ids.end(), r.begin(), r.end());
    return e;
}

// ---------------------------------------------------------------------------------------------
// Mapping

ResolvedMapping resolveMapping(const ImportOptions& o, const std::vector<std::string>& columns) {
    ResolvedMapping m;
    std::optional<DatasetPreset> preset = o.preset;
    const bool detect = !preset && (o.presetName.empty() || o.presetName == "auto");
    if (!preset && !detect) {
        const DatasetPreset* p = findBuiltinPreset(o.presetName);
        if (!p) {
            std::string names;
            for (const DatasetPreset& b : builtinPresets()) names += (names.empty() ? "" : ", ") + b.name;
            throw Error("unknown preset '" + o.presetName + "' (built-in presets: " + names + ")");
        }
        preset = *p;
    }
    const bool explicitTemplates = !o.promptTemplate.empty() && !o.responseTemplate.empty();
    if (detect && !explicitTemplates) {
        PresetDetection d = detectPreset(columns);
        if (!d.preset) {
            if (o.promptTemplate.empty() && o.responseTemplate.empty()) throw Error(o.sourcePath + ": " + d.explanation);
            throw Error(o.sourcePath + ": " + std::string(o.promptTemplate.empty() ? "no prompt template" : "no response field") +
                        " given, and " + d.explanation);
        }
        preset = d.preset;
        m.explanation = d.explanation;
    }
    std::string promptT = o.promptTemplate, responseT = o.responseTemplate, formatT = o.chatFormat;
    if (preset) {
        m.presetName = preset->name;
        if (m.explanation.empty()) m.explanation = "preset '" + preset->name + "' (" + preset->specialist + ")";
        if (promptT.empty()) promptT = preset->promptTemplate;
        if (responseT.empty()) responseT = preset->responseTemplate;
        if (formatT.empty()) formatT = preset->chatFormat;
        if (!o.promptTemplate.empty() || !o.responseTemplate.empty() || !o.chatFormat.empty())
            m.explanation += ", edited";
    } else {
        m.explanation = "custom mapping";
    }
    if (formatT.empty()) formatT = ChatFormat::kDefault;
    m.prompt = TextTemplate::parse(promptT);
    m.response = TextTemplate::parse(responseT);
    m.format = ChatFormat::parse(formatT);
    if (m.prompt.rootFields().empty()) throw Error("the prompt template '" + promptT + "' reads no field");
    if (m.response.rootFields().empty()) throw Error("the response template '" + responseT + "' reads no field");
    return m;
}


namespace {

std::string fieldFailure(const TemplateFailure& f, const char* which) {
    return std::string(which) + " field '" + f.field + "': " + f.detail;
}

const char* failureReason(const TemplateFailure& f) {
    return f.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string";
}

// Renders a record's prompt and response, or says why the record is rejected (the same reasons
// for the import and its preview).
bool renderPair(const ResolvedMapping& mapping, const json& record, std::string& prompt, std::string& response,
                std::string& reason, std::string& detail) {
    TemplateFailure failure;
    bool blank = false;
    if (!mapping.prompt.render(record, prompt, failure, &blank)) {
        reason = failureReason(failure);
        detail = fieldFailure(failure, "prompt");
        return false;
    }
    if (blank) {
        reason = "empty_prompt";
        detail = "the prompt fields are empty";
        return false;
    }
    if (!mapping.response.render(record, response, failure, &blank)) {
        reason = failureReason(failure);
        detail = fieldFailure(failure, "response");
        return false;
    }
    if (blank) {
        reason = "empty_response";
        detail = "the response is empty";
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Before the project is touched

void checkImportOptions(const ProjectStore& store, const ImportOptions& o) {
    if (o.name.empty()) throw Error("the dataset needs a name (--name)");
    if (o.maxLen < 2) throw Error("max_len must be at least 2, got " + std::to_string(o.maxLen));
    if (!o.dryRun && DatasetStore(store).findDataset(o.name))
        throw Error("project " + store.path() + " already has a dataset named '" + o.name +
                    "' (choose another name or delete it first)");
}

// Opens and sniffs the file, reads its columns, resolves the mapping and the split column.
ImportSource openImportSource(const ImportOptions& o) {
    ImportSource src;
    src.reader = RecordReader::open(o.sourcePath, o.reader);
    src.columns = sampleColumns(o.sourcePath, o.reader);
    src.mapping = resolveMapping(o, src.columns);
    const std::vector<std::string>& columns = src.columns;
    auto known = [&](const std::string& field) {
        return columns.empty() || std::find(columns.begin(), columns.end(), field) != columns.end();
    };
    if (!o.split.column.empty()) {
        src.splitPath = FieldPath::parse(o.split.column);
        if (!known(src.splitPath->rootKey()))
            throw Error(o.sourcePath + ": the split column '" + o.split.column + "' is not among the columns");
    }
    for (const TextTemplate* t : {&src.mapping.prompt, &src.mapping.response})
        for (const std::string& f : t->rootFields())
            if (!known(f)) src.warnings.push_back("the mapping reads field '" + f + "', which the first records do not have");
    if (!src.mapping.format.endsWithEos())
        src.warnings.push_back("the chat format does not end with <|endoftext|>: the model will not learn to stop");
    std::error_code ec;
    const std::filesystem::path abs = std::filesystem::absolute(o.sourcePath, ec);
    src.absolutePath = ec ? o.sourcePath : abs.lexically_normal().string();
    return src;
}

NewDataset newDatasetFor(const ImportOptions& o, const ImportSource& src) {
    NewDataset nd;
    nd.name = o.dryRun ? "(dry run) " + o.name : o.name;   // rolled back: the real name may be taken
    nd.sourcePath = src.absolutePath;
    nd.sourceFormat = formatName(src.reader->format());
    nd.preset = src.mapping.presetName;
    nd.mapping = src.mapping.toJson();
    if (!src.reader->wrapperKey().empty()) nd.mapping["json_key"] = src.reader->wrapperKey();
    nd.maxLen = o.maxLen;
    nd.overlong = overlongName(o.overlong);
    nd.split = o.split.toJson();
    nd.seed = o.seed;
    return nd;
}

// ---------------------------------------------------------------------------------------------
// Reading, mapping, tokenising and writing the records

// A mapped record waiting for its tokens.
struct PendingExample {
    int64_t number = 0, line = 0;
    std::string prompt, response;
    Split split = Split::Train;
    uint64_t promptHash = 0, hash = 0;
    EncodedExample enc;
};

// The records go through in chunks. Each chunk is one run of the thread pool: its tasks tokenise
// the chunk, a few records each, and one more task reads and maps the next chunk (the reader and
// the writer are used by one task at a time, never together with this thread). Then this thread
// writes the tokenised chunk. The pool lives for the whole import, so the tokenizer's per-thread
// word caches stay warm.
class ImportPipeline {
public:
    // ImportOptions::threads counts the tokenising threads; the pool has one more, so that reading
    // the next chunk overlaps tokenising even with threads = 1.
    static int tokeniserThreads(const ImportOptions& o) {
        return std::max(1, std::min(o.threads > 0 ? o.threads : availableCores(), 32));
    }

    ImportPipeline(const ImportOptions& o, ImportSource& source, const ExampleEncoder& encoder, DatasetWriter& writer,
                   ImportTally& tally)
        : o_(o), source_(source), encoder_(encoder), writer_(writer), tally_(tally),
          pool_(tokeniserThreads(o) + 1) {}

    void run() {
        readChunk();
        while (!next_.empty()) {
            if (cancelled()) throw ImportCancelled();
            std::swap(current_, next_);
            const bool readNext = !eof_;
            if (!readNext) next_.clear();
            tokeniseAndRead(readNext);
            writeChunk();
        }
        if (cancelled()) throw ImportCancelled();
    }

private:
    static constexpr size_t kChunkRecords = 1024;
    static constexpr size_t kRecordsPerTask = 8;

    bool cancelled() const { return o_.cancel && o_.cancel->load(std::memory_order_relaxed); }

    void reject(int64_t number, int64_t line, const std::string& reason, const std::string& detail) {
        writer_.addRejected(RejectedRow{number, line, reason, detail});
        ++tally_.counts.rowsRejected;
        ++tally_.byReason[reason];
        if (tally_.rejectedSample.size() < kReportRejected)
            tally_.rejectedSample.push_back(json{{"record", number}, {"line", line}, {"reason", reason}, {"detail", detail}});
    }

    // The record's split from the split column; false (rejected) when it has none or a bad one.
    bool splitOf(const SourceRecord& rec, Split& split) {
        const std::string& column = o_.split.column;
        const json* v = source_.splitPath->resolve(rec.value);
        if (!v) {
            reject(rec.number, rec.line, "missing_field", "split field '" + column + "': " + source_.splitPath->explainMissing(rec.value));
            return false;
        }
        if (!v->is_string() || !parseSplit(v->get_ref<const std::string&>(), split)) {
            reject(rec.number, rec.line, "bad_split",
                   "split field '" + column + "' is " + (v->is_string() ? "'" + v->get<std::string>() + "'" : std::string(jsonTypeName(*v))) +
                       ", expected train, validation or test");
            return false;
        }
        return true;
    }

    // Maps one record into next_, or rejects it (bad record, mapping failure, bad split, duplicate).
    void mapRecord(const SourceRecord& rec) {
        ++tally_.counts.rowsRead;
        if (rec.issue != RecordIssue::None) {
            reject(rec.number, rec.line, issueCode(rec.issue), rec.detail);
            return;
        }
        std::string reason, detail;
        if (!renderPair(source_.mapping, rec.value, prompt_, response_, reason, detail)) {
            reject(rec.number, rec.line, reason, detail);
            return;
        }
        Split split = Split::Train;
        if (source_.splitPath && !splitOf(rec, split)) return;
        const uint64_t promptHash = hashText(prompt_);
        const uint64_t hash = contentHash(prompt_, response_);
        auto [it, fresh] = firstByHash_.emplace(hash, rec.number);
        if (!fresh) {
            ++tally_.duplicates;
            if (tally_.duplicateSample.size() < kReportDuplicates)
                tally_.duplicateSample.push_back(json{{"record", rec.number}, {"duplicate_of", it->second}});
            if (o_.dropDuplicates) {
                reject(rec.number, rec.line, "duplicate",
                       "exact duplicate of record " + std::to_string(it->second) + " (same prompt and response)");
                return;
            }
        }
        PendingExample p;
        p.number = rec.number;
        p.line = rec.line;
        p.prompt = std::move(prompt_);
        p.response = std::move(response_);
        p.split = split;
        p.promptHash = promptHash;
        p.hash = hash;
        next_.push_back(std::move(p));
    }

    // Reads and maps up to kChunkRecords good records into next_ (rejections are written at once).
    void readChunk() {
        next_.clear();
        while (next_.size() < kChunkRecords) {
            if (!source_.reader->next(record_)) {
                eof_ = true;
                return;
            }
            mapRecord(record_);
        }
    }

    // Tokenises current_ on the pool while one task reads the next chunk (when readNext); the
    // first error of any task is rethrown once the run is over.
    void tokeniseAndRead(bool readNext) {
        const int readTasks = readNext ? 1 : 0;
        const int tokeniseTasks = int((current_.size() + kRecordsPerTask - 1) / kRecordsPerTask);
        pool_.parallelForRethrowing(readTasks + tokeniseTasks, [&](int task, int) {
            if (task < readTasks) {
                readChunk();
                return;
            }
            const size_t begin = size_t(task - readTasks) * kRecordsPerTask;
            const size_t end = std::min(current_.size(), begin + kRecordsPerTask);
            for (size_t i = begin; i < end && !cancelled(); ++i)
                current_[i].enc = encoder_.encode(current_[i].prompt, current_[i].response);
        });
    }

    // Writes the tokenised chunk: examples, or too_long rejections.
    void writeChunk() {
        if (cancelled()) throw ImportCancelled();
        DatasetCounts& counts = tally_.counts;
        for (PendingExample& p : current_) {
            if (p.enc.tooLong) {
                reject(p.number, p.line, "too_long", p.enc.tooLongDetail);
                continue;
            }
            const int64_t id = writer_.addExample(p.number, p.split, p.prompt, p.response, p.enc.ids, p.enc.promptLen,
                                                  p.enc.truncated, p.hash);
            tally_.rows.push_back(ImportedRow{id, p.number, p.promptHash, p.split});
            ++counts.rowsImported;
            counts.nTokens += int64_t(p.enc.ids.size());
            if (p.enc.truncated) {
                ++counts.nTruncated;
                tally_.truncatedTokens += p.enc.truncated;
            }
            tally_.promptLens.push_back(p.enc.promptLen);
            tally_.responseLens.push_back(int32_t(p.enc.ids.size()) - p.enc.promptLen);
            tally_.totalLens.push_back(int32_t(p.enc.ids.size()));
        }
        if (o_.progress)
            o_.progress(ImportProgress{source_.reader->bytesConsumed(), source_.reader->fileSize(), counts.rowsRead,
                                       counts.rowsImported, counts.rowsRejected});
    }

    const ImportOptions& o_;
    ImportSource& source_;
    const ExampleEncoder& encoder_;
    DatasetWriter& writer_;
    ImportTally& tally_;
    ThreadPool pool_;
    std::vector<PendingExample> current_, next_;
    std::unordered_map<uint64_t, int64_t> firstByHash_;   // content hash -> first record
    bool eof_ = false;
    SourceRecord record_;
    std::string prompt_, response_;   // reused: their buffers move into the pending examples
};

ImportResult commitImport(const ImportOptions& o, const ImportSource& source, DatasetWriter& writer,
                          const DatasetCounts& counts, json report) {
    ImportResult result;
    result.counts = counts;
    if (o.dryRun) {
        writer.rollback();
    } else {
        result.datasetId = writer.datasetId();
        writer.commit(counts, report);
    }
    result.report = std::move(report);
    const uint64_t size = source.reader->fileSize();
    if (o.progress) o.progress(ImportProgress{size, size, counts.rowsRead, counts.rowsImported, counts.rowsRejected});
    return result;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The import

ImportResult importDataset(ProjectStore& store, const Gpt2Tokenizer& tok, const ImportOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    checkImportOptions(store, o);
    ImportSource source = openImportSource(o);
    const ExampleEncoder encoder(tok, source.mapping.format, o.maxLen, o.overlong);
    DatasetWriter writer = DatasetStore(store).beginDataset(newDatasetFor(o, source));
    ImportTally tally;
    ImportPipeline(o, source, encoder, writer, tally).run();   // on error the writer rolls back
    sortRejectedByRecord(tally);
    if (tally.counts.rowsImported == 0) throwNothingImported(o.sourcePath, tally);
    if (!source.splitPath) assignRatioSplits(tally.rows, o.split, o.seed, writer);
    countSplits(tally.rows, tally.counts);
    const SplitLeakage leakage = findLeakage(tally.rows);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return commitImport(o, source, writer, tally.counts, importReport(o, source, tally, leakage, seconds));
}

// ---------------------------------------------------------------------------------------------
// Preview

DatasetPreview previewDataset(const ImportOptions& o, const Gpt2Tokenizer* tok, int nRows) {
    DatasetPreview pv;
    std::unique_ptr<RecordReader> reader = RecordReader::open(o.sourcePath, o.reader);
    pv.format = reader->format();
    pv.fileSize = reader->fileSize();
    pv.bom = reader->hadBom();
    pv.columns = sampleColumns(o.sourcePath, o.reader);
    try {
        pv.mapping = resolveMapping(o, pv.columns);
    } catch (const Error& e) {
        pv.mappingError = e.what();
    }
    std::optional<ExampleEncoder> encoder;
    if (tok && pv.mapping) encoder.emplace(*tok, pv.mapping->format, std::max(2, o.maxLen), o.overlong);
    SourceRecord rec;
    while (int(pv.rows.size()) < nRows && reader->next(rec)) {
        PreviewRow row;
        row.number = rec.number;
        row.line = rec.line;
        row.record = rec.value;
        if (rec.issue != RecordIssue::None) {
            row.reason = issueCode(rec.issue);
            row.detail = rec.detail;
        } else if (pv.mapping && renderPair(*pv.mapping, rec.value, row.prompt, row.response, row.reason, row.detail)) {
            row.ok = true;
            if (encoder) {
                EncodedExample e = encoder->encode(row.prompt, row.response);
                row.promptTokens = e.promptTokens;
                row.responseTokens = e.responseTokens;
                if (e.tooLong) {
                    row.ok = false;
                    row.reason = "too_long";
                    row.detail = e.tooLongDetail;
                }
            }
        }
        pv.rows.push_back(std::move(row));
    }
    pv.wrapperKey = reader->wrapperKey();
    return pv;
}

} // namespace swarm
