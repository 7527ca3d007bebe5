#include "distill/prompt_source.h"

#include "core/error.h"
#include "datasets/dataset_store.h"
#include "datasets/prompt_template.h"

#include <unordered_map>

namespace swarm::distill {

using nlohmann::json;

namespace {

// Adds one record's item: the rendered prompt, or the reason it has none, or a duplicate.
class ItemCollector {
public:
    explicit ItemCollector(const std::string& promptTemplate) : template_(TextTemplate::parse(promptTemplate)) {}

    DistillItem& add(int64_t recordNumber, const json& record) {
        DistillItem it;
        it.position = int64_t(load_.items.size());
        it.recordNumber = recordNumber;
        ++load_.records;
        TemplateFailure failure;
        bool blank = false;
        std::string prompt;
        if (!template_.render(record, prompt, failure, &blank)) {
            it.state = ItemState::Rejected;
            it.reason = failure.kind == TemplateFailure::Kind::MissingField ? "missing_field" : "not_a_string";
            it.detail = "prompt template field '" + failure.field + "': " + failure.detail;
            ++load_.unusable;
        } else if (blank) {
            it.state = ItemState::Rejected;
            it.reason = "empty_prompt";
            it.detail = "the prompt fields are empty";
            ++load_.unusable;
        } else {
            auto [seen, fresh] = firstByPrompt_.emplace(prompt, recordNumber);
            if (!fresh) {
                it.state = ItemState::Rejected;
                it.reason = "duplicate_prompt";
                it.detail = "the same prompt as record " + std::to_string(seen->second) + " (sent once)";
                ++load_.duplicates;
            }
            it.prompt = std::move(prompt);
        }
        load_.items.push_back(std::move(it));
        return load_.items.back();
    }

    DistillItem& addUnreadable(int64_t recordNumber, const std::string& reason, const std::string& detail) {
        DistillItem it;
        it.position = int64_t(load_.items.size());
        it.recordNumber = recordNumber;
        it.state = ItemState::Rejected;
        it.reason = reason;
        it.detail = detail;
        ++load_.records;
        ++load_.unusable;
        load_.items.push_back(std::move(it));
        return load_.items.back();
    }

    PromptLoad take() { return std::move(load_); }
    size_t size() const { return load_.items.size(); }

private:
    TextTemplate template_;
    PromptLoad load_;
    std::unordered_map<std::string, int64_t> firstByPrompt_;
};

} // namespace

PromptLoad loadPromptFile(const std::string& path, const ReaderOptions& reader, const std::string& promptTemplate,
                          int64_t limit) {
    ItemCollector collect(promptTemplate);
    std::unique_ptr<RecordReader> in = RecordReader::open(path, reader);
    SourceRecord rec;
    for (int64_t n = 0; (limit <= 0 || n < limit) && in->next(rec); ++n) {
        if (rec.issue != RecordIssue::None) collect.addUnreadable(rec.number, issueCode(rec.issue), rec.detail);
        else collect.add(rec.number, rec.value);
    }
    PromptLoad load = collect.take();
    if (load.items.empty()) throw Error(path + ": no records");
    return load;
}

PromptLoad loadPromptDataset(const ProjectStore& project, const std::string& dataset, const std::string& split,
                             const std::string& promptTemplate, int64_t limit) {
    DatasetStore store(project);
    const DatasetInfo info = store.dataset(dataset);
    std::optional<Split> only;
    if (!split.empty()) {
        Split s;
        if (!parseSplit(split, s)) throw Error("unknown split '" + split + "' (expected train, validation or test)");
        only = s;
    }
    ItemCollector collect(promptTemplate);
    store.forEachExample(info.id, only, [&](const StoredExample& e) {
        const json record{{"prompt", e.prompt}, {"reference", e.response}, {"split", splitName(e.split)}};
        DistillItem& it = collect.add(e.id, record);
        it.sourceExampleId = e.id;
        it.reference = e.response;
        it.split = splitName(e.split);
        return limit <= 0 || int64_t(collect.size()) < limit;
    });
    PromptLoad load = collect.take();
    if (load.items.empty())
        throw Error("dataset '" + info.name + "' has no examples" + (split.empty() ? "" : " in its " + split + " split"));
    return load;
}

} // namespace swarm::distill
