#include "datasets/dataset_import.h"
#include "core/rng.h"
#include "core/system.h"
#include "datasets/dataset_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
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

SplitSpec SplitSpec::parse(const std::string& ratios) {
    std::vector<double> v;
    size_t start = 0;
    while (start <= ratios.size()) {
        size_t comma = ratios.find(',', start);
        std::string part = ratios.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        size_t used = 0;
        double d = 0;
        try {
            d = std::stod(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        while (used < part.size() && part[used] == ' ') ++used;
        if (part.empty() || used != part.size() || !std::isfinite(d) || d < 0)
            throw Error("bad split '" + ratios + "': expected ratios like 0.9,0.05,0.05 (train,validation,test)");
        v.push_back(d);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    if (v.size() < 2 || v.size() > 3)
        throw Error("bad split '" + ratios + "': give 2 or 3 ratios (train,validation[,test])");
    if (v.size() == 2) v.push_back(0);
    const double sum = v[0] + v[1] + v[2];
    if (sum <= 0 || v[0] <= 0) throw Error("bad split '" + ratios + "': the train ratio must be positive");
    SplitSpec s;
    s.train = v[0] / sum;
    s.validation = v[1] / sum;
    s.test = v[2] / sum;
    return s;
}

SplitSpec SplitSpec::fromColumn(const std::string& column) {
    if (column.empty()) throw Error("the split column name is empty");
    SplitSpec s;
    s.column = column;
    return s;
}

json SplitSpec::toJson() const {
    if (!column.empty()) return json{{"mode", "column"}, {"column", column}};
    return json{{"mode", "ratio"}, {"train", train}, {"validation", validation}, {"test", test}};
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
    auto mix = [](uint64_t x) {
        x ^= x >> 33;
        x *= 0xFF51AFD7ED558CCDull;
        x ^= x >> 33;
        x *= 0xC4CEB9FE1A85EC53ull;
        x ^= x >> 33;
        return x;
    };
    while (n >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        h = (h ^ mix(w)) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ mix(w ^ (uint64_t(n) << 56))) * 0x9E3779B97F4A7C15ull;
    return mix(h);
}

uint64_t contentHash(std::string_view prompt, std::string_view response) {
    return hashText(response, hashText(prompt) ^ 0x5EED5EED5EED5EEDull);
}

std::vector<int32_t> labelsFor(const std::vector<int32_t>& ids, int32_t promptLen) {
    std::vector<int32_t> labels(ids);
    for (size_t i = 0; i < labels.size() && int64_t(i) < promptLen; ++i) labels[i] = -100;
    return labels;
}

json lengthStats(std::vector<int32_t> values, int bins) {
    json j;
    j["count"] = values.size();
    if (values.empty()) {
        j["min"] = j["max"] = j["median"] = j["p95"] = 0;
        j["mean"] = 0.0;
        j["histogram"] = json{{"bin_width", 1}, {"counts", json::array()}};
        return j;
    }
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    double sum = 0;
    for (int32_t v : values) sum += v;
    auto rank = [&](double q) {   // nearest-rank percentile
        size_t r = size_t(std::ceil(q * double(n)));
        return values[std::min(n - 1, r == 0 ? 0 : r - 1)];
    };
    j["min"] = values.front();
    j["max"] = values.back();
    j["mean"] = std::round(sum / double(n) * 100.0) / 100.0;
    j["median"] = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
    j["p95"] = rank(0.95);
    bins = std::max(1, bins);
    const int32_t width = std::max<int32_t>(1, int32_t((int64_t(values.back()) + bins) / bins));
    std::vector<int64_t> counts(size_t(values.back() / width) + 1, 0);
    for (int32_t v : values) ++counts[size_t(v / width)];
    j["histogram"] = json{{"bin_width", width}, {"counts", counts}};
    return j;
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

// ---------------------------------------------------------------------------------------------
// A fixed pool of tokeniser threads, alive for one import (their tokenizer word caches stay warm).

class WorkerPool {
public:
    explicit WorkerPool(int n) {
        for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
    }
    ~WorkerPool() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        for (std::thread& t : threads_) t.join();
    }
    // Runs fn(i) for i in [0, count) on the workers; returns at once.
    void start(size_t count, std::function<void(size_t)> fn) {
        std::lock_guard<std::mutex> lock(m_);
        fn_ = std::move(fn);
        count_ = count;
        next_ = 0;
        pendingWorkers_ = threads_.size();
        error_ = nullptr;
        ++generation_;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(m_);
        done_.wait(lock, [&] { return pendingWorkers_ == 0; });
        if (error_) std::rethrow_exception(error_);
    }

private:
    void loop() {
        uint64_t seen = 0;
        for (;;) {
            std::function<void(size_t)> fn;
            {
                std::unique_lock<std::mutex> lock(m_);
                cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
                fn = fn_;
            }
            try {
                for (;;) {
                    size_t i = next_.fetch_add(8);
                    if (i >= count_) break;
                    for (size_t k = i; k < std::min(count_, i + 8); ++k) fn(k);
                }
            } catch (...) {
                std::lock_guard<std::mutex> lock(m_);
                if (!error_) error_ = std::current_exception();
                next_ = count_;
            }
            std::lock_guard<std::mutex> lock(m_);
            if (--pendingWorkers_ == 0) done_.notify_all();
        }
    }

    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable cv_, done_;
    std::function<void(size_t)> fn_;
    size_t count_ = 0;
    std::atomic<size_t> next_{0};
    size_t pendingWorkers_ = 0;
    uint64_t generation_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};


struct Pending {
    int64_t number = 0, line = 0;
    std::string prompt, response;
    Split split = Split::Train;
    uint64_t promptHash = 0, hash = 0;
    EncodedExample enc;
};

struct RowMeta {
    int64_t exampleId;
    int64_t number;
    uint64_t promptHash;
    Split split;
};

std::string fieldFailure(const TemplateFailure& f, const char* which) {
    return std::string(which) + " field '" + f.field + "': " + f.detail;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The import

ImportResult importDataset(ProjectStore& store, const Gpt2Tokenizer& tok, const ImportOptions& o) {
    const auto t0 = std::chrono::steady_clock::now();
    if (o.name.empty()) throw Error("the dataset needs a name (--name)");
    if (o.maxLen < 2) throw Error("max_len must be at least 2, got " + std::to_string(o.maxLen));
    if (!o.dryRun && DatasetStore(store).findDataset(o.name))
        throw Error("project " + store.path() + " already has a dataset named '" + o.name +
                    "' (choose another name or delete it first)");
    // Everything that can fail for the file as a whole fails before the project is touched.
    std::unique_ptr<RecordReader> reader = RecordReader::open(o.sourcePath, o.reader);
    const std::vector<std::string> columns = sampleColumns(o.sourcePath, o.reader);
    ResolvedMapping mapping = resolveMapping(o, columns);
    ExampleEncoder encoder(tok, mapping.format, o.maxLen, o.overlong);
    std::optional<FieldPath> splitPath;
    if (!o.split.column.empty()) {
        splitPath = FieldPath::parse(o.split.column);
        if (!columns.empty() && std::find(columns.begin(), columns.end(), splitPath->rootKey()) == columns.end())
            throw Error(o.sourcePath + ": the split column '" + o.split.column + "' is not among the columns");
    }

    json warnings = json::array();
    for (const TextTemplate* t : {&mapping.prompt, &mapping.response})
        for (const std::string& f : t->rootFields())
            if (!columns.empty() && std::find(columns.begin(), columns.end(), f) == columns.end())
                warnings.push_back("the mapping reads field '" + f + "', which the first records do not have");
    if (!mapping.format.endsWithEos())
        warnings.push_back("the chat format does not end with <|endoftext|>: the model will not learn to stop");

    NewDataset nd;
    nd.name = o.dryRun ? "(dry run) " + o.name : o.name;   // rolled back: the real name may be taken
    {
        std::error_code ec;
        const std::filesystem::path abs = std::filesystem::absolute(o.sourcePath, ec);
        nd.sourcePath = ec ? o.sourcePath : abs.lexically_normal().string();
    }
    nd.sourceFormat = formatName(reader->format());
    nd.preset = mapping.presetName;
    nd.mapping = mapping.toJson();
    if (!reader->wrapperKey().empty()) nd.mapping["json_key"] = reader->wrapperKey();
    nd.maxLen = o.maxLen;
    nd.overlong = overlongName(o.overlong);
    nd.split = o.split.toJson();
    nd.seed = o.seed;
    DatasetWriter writer = DatasetStore(store).beginDataset(nd);

    DatasetCounts counts;
    std::map<std::string, int64_t> byReason;
    json rejectedSample = json::array();
    constexpr size_t kReportRejected = 200;
    auto reject = [&](int64_t number, int64_t line, const std::string& reason, const std::string& detail) {
        writer.addRejected(RejectedRow{number, line, reason, detail});
        ++counts.rowsRejected;
        ++byReason[reason];
        if (rejectedSample.size() < kReportRejected)
            rejectedSample.push_back(json{{"record", number}, {"line", line}, {"reason", reason}, {"detail", detail}});
    };

    std::unordered_map<uint64_t, int64_t> firstByHash;
    int64_t duplicates = 0;
    json duplicateSample = json::array();
    std::vector<RowMeta> rows;
    std::vector<int32_t> promptLens, responseLens, totalLens;
    int64_t truncatedTokens = 0;

    int nThreads = o.threads > 0 ? o.threads : availableCores();
    nThreads = std::max(1, std::min(nThreads, 32));
    WorkerPool pool(nThreads);
    auto cancelled = [&] { return o.cancel && o.cancel->load(std::memory_order_relaxed); };

    constexpr size_t kChunk = 1024;
    std::vector<Pending> current, filling;
    bool inFlight = false;
    bool eof = false;
    std::string prompt, response;
    SourceRecord rec;

    // Reads and maps up to kChunk records into `filling` (rejections are written at once).
    auto fill = [&]() {
        filling.clear();
        while (filling.size() < kChunk) {
            if (!reader->next(rec)) {
                eof = true;
                break;
            }
            ++counts.rowsRead;
            if (rec.issue != RecordIssue::None) {
                reject(rec.number, rec.line, issueCode(rec.issue), rec.detail);
                continue;
            }
            TemplateFailure failure;
            bool blank = false;
            if (!mapping.prompt.render(rec.value, prompt, failure, &blank)) {
                reject(rec.number, rec.line, failure.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string",
                       fieldFailure(failure, "prompt"));
                continue;
            }
            if (blank) {
                reject(rec.number, rec.line, "empty_prompt", "the prompt fields are empty");
                continue;
            }
            if (!mapping.response.render(rec.value, response, failure, &blank)) {
                reject(rec.number, rec.line, failure.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string",
                       fieldFailure(failure, "response"));
                continue;
            }
            if (blank) {
                reject(rec.number, rec.line, "empty_response", "the response is empty");
                continue;
            }
            Split split = Split::Train;
            if (splitPath) {
                const json* v = splitPath->resolve(rec.value);
                if (!v) {
                    reject(rec.number, rec.line, "missing_field", "split field '" + o.split.column + "': " + splitPath->explainMissing(rec.value));
                    continue;
                }
                if (!v->is_string() || !parseSplit(v->get_ref<const std::string&>(), split)) {
                    reject(rec.number, rec.line, "bad_split",
                           "split field '" + o.split.column + "' is " + (v->is_string() ? "'" + v->get<std::string>() + "'" : std::string(jsonTypeName(*v))) +
                               ", expected train, validation or test");
                    continue;
                }
            }
            const uint64_t promptHash = hashText(prompt);
            const uint64_t hash = contentHash(prompt, response);
            auto [it, fresh] = firstByHash.emplace(hash, rec.number);
            if (!fresh) {
                ++duplicates;
                if (duplicateSample.size() < 50) duplicateSample.push_back(json{{"record", rec.number}, {"duplicate_of", it->second}});
                if (o.dropDuplicates) {
                    reject(rec.number, rec.line, "duplicate",
                           "exact duplicate of record " + std::to_string(it->second) + " (same prompt and response)");
                    continue;
                }
            }
            Pending p;
            p.number = rec.number;
            p.line = rec.line;
            p.prompt = std::move(prompt);
            p.response = std::move(response);
            p.split = split;
            p.promptHash = promptHash;
            p.hash = hash;
            filling.push_back(std::move(p));
        }
    };
    auto startTokenising = [&]() {
        pool.start(current.size(), [&](size_t i) {
            if (cancelled()) return;
            Pending& p = current[i];
            p.enc = encoder.encode(p.prompt, p.response);
        });
        inFlight = true;
    };
    auto writeCurrent = [&]() {
        pool.wait();
        inFlight = false;
        if (cancelled()) throw ImportCancelled();
        for (Pending& p : current) {
            if (p.enc.tooLong) {
                reject(p.number, p.line, "too_long", p.enc.tooLongDetail);
                continue;
            }
            const int64_t id = writer.addExample(p.number, p.split, p.prompt, p.response, p.enc.ids, p.enc.promptLen,
                                                 p.enc.truncated, p.hash);
            rows.push_back(RowMeta{id, p.number, p.promptHash, p.split});
            ++counts.rowsImported;
            counts.nTokens += int64_t(p.enc.ids.size());
            if (p.enc.truncated) {
                ++counts.nTruncated;
                truncatedTokens += p.enc.truncated;
            }
            promptLens.push_back(p.enc.promptLen);
            responseLens.push_back(int32_t(p.enc.ids.size()) - p.enc.promptLen);
            totalLens.push_back(int32_t(p.enc.ids.size()));
        }
        if (o.progress)
            o.progress(ImportProgress{reader->bytesConsumed(), reader->fileSize(), counts.rowsRead, counts.rowsImported,
                                      counts.rowsRejected});
    };

    try {
        // Pipeline: the workers tokenise one chunk while this thread reads and maps the next.
        fill();
        while (!filling.empty()) {
            if (cancelled()) throw ImportCancelled();
            std::swap(current, filling);
            startTokenising();
            if (!eof) fill();
            else filling.clear();
            writeCurrent();
        }
        if (cancelled()) throw ImportCancelled();
    } catch (...) {
        if (inFlight) {
            try {
                pool.wait();
            } catch (...) {
            }
        }
        throw;   // the writer rolls back
    }

    // Rows rejected after tokenising (too long) arrive one chunk late: list them in record order.
    std::stable_sort(rejectedSample.begin(), rejectedSample.end(), [](const json& a, const json& b) {
        return a["record"].get<int64_t>() < b["record"].get<int64_t>();
    });

    if (counts.rowsImported == 0) {
        std::string why;
        for (const auto& [reason, n] : byReason) why += (why.empty() ? "" : ", ") + reason + ": " + std::to_string(n);
        std::string first;
        if (!rejectedSample.empty())
            first = "; first: record " + std::to_string(rejectedSample[0]["record"].get<int64_t>()) + " (line " +
                    std::to_string(rejectedSample[0]["line"].get<int64_t>()) + "): " +
                    rejectedSample[0]["detail"].get<std::string>();
        throw Error(o.sourcePath + ": nothing to import: " +
                    (counts.rowsRead == 0 ? std::string("the file has no records")
                                          : "all " + std::to_string(counts.rowsRead) + " records were rejected (" + why + ")" + first) +
                    "; the project is unchanged");
    }

    // Split.
    if (!splitPath) {
        // Rows with the same prompt form one group and go to the same split (no leakage by
        // construction); groups are shuffled by the seed and filled test, validation, train.
        std::unordered_map<uint64_t, size_t> groupOf;
        std::vector<std::vector<size_t>> groups;
        for (size_t i = 0; i < rows.size(); ++i) {
            auto [it, fresh] = groupOf.emplace(rows[i].promptHash, groups.size());
            if (fresh) groups.emplace_back();
            groups[it->second].push_back(i);
        }
        SplitMix64 rng{o.seed};
        std::vector<size_t> order(groups.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(rng.below(i))]);
        const auto n = double(rows.size());
        const auto wantTest = int64_t(std::llround(n * o.split.test));
        const auto wantVal = int64_t(std::llround(n * o.split.validation));
        int64_t nTest = 0, nVal = 0;
        for (size_t g : order) {
            Split s = Split::Train;
            if (nTest < wantTest) { s = Split::Test; nTest += int64_t(groups[g].size()); }
            else if (nVal < wantVal) { s = Split::Validation; nVal += int64_t(groups[g].size()); }
            if (s == Split::Train) continue;
            for (size_t i : groups[g]) {
                rows[i].split = s;
                writer.setSplit(rows[i].exampleId, s);
            }
        }
    }
    for (const RowMeta& r : rows) {
        if (r.split == Split::Train) ++counts.nTrain;
        else if (r.split == Split::Validation) ++counts.nValidation;
        else ++counts.nTest;
    }

    // Leakage: the same prompt in more than one split.
    std::unordered_map<uint64_t, std::pair<int, std::vector<int64_t>>> splitsOfPrompt;
    for (const RowMeta& r : rows) {
        auto& e = splitsOfPrompt[r.promptHash];
        e.first |= 1 << int(r.split);
        if (e.second.size() < 4) e.second.push_back(r.number);
    }
    int64_t trainTest = 0, trainVal = 0, valTest = 0;
    json leakSample = json::array();
    for (const auto& [h, e] : splitsOfPrompt) {
        const int m = e.first;
        const bool tr = m & 1, va = m & 2, te = m & 4;
        if (tr && te) ++trainTest;
        if (tr && va) ++trainVal;
        if (va && te) ++valTest;
        if ((tr && (va || te)) || (va && te)) {
            json splits = json::array();
            for (int s = 0; s < 3; ++s)
                if (m & (1 << s)) splits.push_back(splitName(Split(s)));
            leakSample.push_back(json{{"records", e.second}, {"splits", splits}});
        }
    }
    std::sort(leakSample.begin(), leakSample.end(),
              [](const json& a, const json& b) { return a["records"][0].get<int64_t>() < b["records"][0].get<int64_t>(); });
    if (leakSample.size() > 20) leakSample.erase(leakSample.begin() + 20, leakSample.end());
    if (trainTest + trainVal + valTest > 0)
        warnings.push_back("train/test leakage: " + std::to_string(trainTest) + " prompts are in both train and test, " +
                           std::to_string(trainVal) + " in both train and validation");
    if (counts.nTruncated * 10 > counts.rowsImported)
        warnings.push_back(std::to_string(counts.nTruncated) + " of " + std::to_string(counts.rowsImported) +
                           " examples were truncated to max_len " + std::to_string(o.maxLen));
    if (!splitPath && counts.nTest == 0 && o.split.test > 0)
        warnings.push_back("the test split is empty: too few rows for the ratio");
    if (!splitPath && counts.nValidation == 0 && o.split.validation > 0)
        warnings.push_back("the validation split is empty: too few rows for the ratio");

    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json report;
    report["source"] = json{{"path", nd.sourcePath},
                            {"format", formatName(reader->format())},
                            {"bytes", reader->fileSize()},
                            {"bom", reader->hadBom()},
                            {"columns", columns}};
    if (!reader->wrapperKey().empty()) report["source"]["json_key"] = reader->wrapperKey();
    report["mapping"] = mapping.toJson();
    report["max_len"] = o.maxLen;
    report["overlong"] = overlongName(o.overlong);
    report["split"] = o.split.toJson();
    report["seed"] = o.seed;
    report["counts"] = json{{"read", counts.rowsRead},
                            {"imported", counts.rowsImported},
                            {"rejected", counts.rowsRejected},
                            {"truncated", counts.nTruncated},
                            {"truncated_tokens", truncatedTokens},
                            {"train", counts.nTrain},
                            {"validation", counts.nValidation},
                            {"test", counts.nTest},
                            {"tokens", counts.nTokens}};
    report["rejected_by_reason"] = byReason;
    report["rejected"] = rejectedSample;
    report["rejected_listed"] = rejectedSample.size();
    report["tokens"] = json{{"prompt", lengthStats(promptLens)},
                            {"response", lengthStats(responseLens)},
                            {"total", lengthStats(totalLens)}};
    report["duplicates"] = json{{"count", duplicates}, {"dropped", o.dropDuplicates}, {"examples", duplicateSample}};
    report["leakage"] = json{{"train_test", trainTest},
                             {"train_validation", trainVal},
                             {"validation_test", valTest},
                             {"examples", leakSample}};
    report["warnings"] = warnings;
    report["seconds"] = std::round(seconds * 1000.0) / 1000.0;
    report["dry_run"] = o.dryRun;

    ImportResult result;
    result.counts = counts;
    if (o.dryRun) {
        writer.rollback();
    } else {
        result.datasetId = writer.datasetId();
        writer.commit(counts, report);
    }
    result.report = std::move(report);
    if (o.progress)
        o.progress(ImportProgress{reader->fileSize(), reader->fileSize(), counts.rowsRead, counts.rowsImported,
                                  counts.rowsRejected});
    return result;
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
            pv.rows.push_back(std::move(row));
            continue;
        }
        if (!pv.mapping) {
            pv.rows.push_back(std::move(row));
            continue;
        }
        TemplateFailure f;
        bool blank = false;
        if (!pv.mapping->prompt.render(rec.value, row.prompt, f, &blank)) {
            row.reason = f.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string";
            row.detail = fieldFailure(f, "prompt");
        } else if (blank) {
            row.reason = "empty_prompt";
            row.detail = "the prompt fields are empty";
        } else if (!pv.mapping->response.render(rec.value, row.response, f, &blank)) {
            row.reason = f.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string";
            row.detail = fieldFailure(f, "response");
        } else if (blank) {
            row.reason = "empty_response";
            row.detail = "the response is empty";
        } else {
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
