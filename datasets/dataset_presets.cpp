#include "datasets/dataset_presets.h"

#include "core/error.h"
#include "datasets/prompt_template.h"

#include <algorithm>

namespace swarm {

using nlohmann::json;

namespace {

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::vector<DatasetPreset> makeBuiltins() {
    std::vector<DatasetPreset> p;
    p.push_back({"sql", "NanoSQL", "b-mc2/sql-create-context",
                 "NL -> SQL: a question over CREATE TABLE context, answered with one SQL query",
                 {"question", "context", "answer"}, {},
                 "{context}\n\nQuestion: {question}", "{answer}", "", 1024});
    p.push_back({"function", "NanoFunction", "glaiveai/glaive-function-calling-v2",
                 "strict JSON function calling: the system prompt lists the functions, the first assistant turn "
                 "of the chat is the answer",
                 {"system", "chat"}, {},
                 "{system|trim}\n\n{chat|before:ASSISTANT:|trim}",
                 "{chat|after:ASSISTANT:|before:<\\|endoftext\\|>|trim}", "", 1024});
    p.push_back({"extract", "NanoExtract", "Salesforce/xlam-function-calling-60k",
                 "text -> strict JSON: a query and the available tools, answered with the calls as JSON",
                 {"query", "tools", "answers"}, {},
                 "Tools: {tools|json}\n\nQuery: {query}", "{answers|json}", "", 1024});
    p.push_back({"commit", "NanoCommit", "bigcode/commitpackft",
                 "git diff -> commit message: the diff between the old and new contents, answered with the subject",
                 {"old_contents", "new_contents", "subject"}, {"message", "lang"},
                 "Write a commit message for this {lang|default:code} change:\n{old_contents|diff:new_contents}",
                 "{subject|trim}", "", 1024});
    p.push_back({"summary", "NanoSummary", "knkarthick/dialogsum",
                 "dialogue summarisation", {"dialogue", "summary"}, {"topic"},
                 "Summarize the dialogue:\n{dialogue}", "{summary}", "", 1024});
    p.push_back({"router", "NanoRouter", "bitext/Bitext-customer-support-llm-chatbot-training-dataset",
                 "intent classification / routing: a customer request answered with its intent label",
                 {"instruction", "intent"}, {"category", "response"},
                 "{instruction}", "{intent}", "", 1024});
    p.push_back({"prompt", "NanoPrompt", "Gustavosta/Stable-Diffusion-Prompts",
                 "description -> image prompt: the subject (the text before the first comma) expanded into the "
                 "full prompt",
                 {"Prompt"}, {},
                 "Write an image prompt for: {Prompt|before:,|trim}", "{Prompt|trim}", "", 1024});
    p.push_back({"pii", "NanoPII", "ai4privacy/pii-masking-200k",
                 "PII detection and masking: the text answered with the same text, personal data replaced by "
                 "typed placeholders",
                 {"source_text", "target_text"}, {"privacy_mask"},
                 "{source_text}", "{target_text}", "", 1024});
    for (const DatasetPreset& d : p) d.validate();
    return p;
}

std::vector<std::string> stringList(const json& j, const char* key, const std::string& source) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_array()) throw Error(source + ": preset field '" + key + "' must be an array of strings");
    for (const json& v : *it) {
        if (!v.is_string()) throw Error(source + ": preset field '" + key + "' must be an array of strings");
        out.push_back(v.get<std::string>());
    }
    return out;
}

std::string stringField(const json& j, const char* key, const std::string& source, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) throw Error(source + ": the preset has no '" + key + "'");
        return {};
    }
    if (!it->is_string()) throw Error(source + ": preset field '" + key + "' must be a string");
    return it->get<std::string>();
}

} // namespace

json DatasetPreset::toJson() const {
    return json{{"name", name},
                {"specialist", specialist},
                {"source", source},
                {"description", description},
                {"required_fields", requiredFields},
                {"optional_fields", optionalFields},
                {"prompt_template", promptTemplate},
                {"response_template", responseTemplate},
                {"chat_format", chatFormat.empty() ? std::string(ChatFormat::kDefault) : chatFormat},
                {"max_len", maxLen}};
}

DatasetPreset DatasetPreset::fromJson(const json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + ": a preset must be a JSON object");
    DatasetPreset p;
    p.name = stringField(j, "name", source, true);
    p.specialist = stringField(j, "specialist", source, false);
    p.source = stringField(j, "source", source, false);
    p.description = stringField(j, "description", source, false);
    p.requiredFields = stringList(j, "required_fields", source);
    p.optionalFields = stringList(j, "optional_fields", source);
    p.promptTemplate = stringField(j, "prompt_template", source, true);
    p.responseTemplate = stringField(j, "response_template", source, true);
    p.chatFormat = stringField(j, "chat_format", source, false);
    if (p.chatFormat == ChatFormat::kDefault) p.chatFormat.clear();
    if (auto it = j.find("max_len"); it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 1 << 20)
            throw Error(source + ": preset field 'max_len' must be a positive integer");
        p.maxLen = it->get<int>();
    }
    try {
        p.validate();
        if (p.requiredFields.empty()) {
            // Derive them from the templates' fields.
            for (const std::string* t : {&p.promptTemplate, &p.responseTemplate})
                for (const std::string& f : TextTemplate::parse(*t).rootFields())
                    if (std::find(p.requiredFields.begin(), p.requiredFields.end(), f) == p.requiredFields.end())
                        p.requiredFields.push_back(f);
        }
    } catch (const Error& e) {
        throw Error(source + ": " + e.what());
    }
    return p;
}

void DatasetPreset::validate() const {
    const std::string what = "preset '" + name + "'";
    if (name.empty()) throw Error("a preset needs a name");
    TextTemplate prompt, response;
    try {
        prompt = TextTemplate::parse(promptTemplate);
        response = TextTemplate::parse(responseTemplate);
        ChatFormat::parse(chatFormat.empty() ? std::string(ChatFormat::kDefault) : chatFormat);
    } catch (const Error& e) {
        throw Error(what + ": " + e.what());
    }
    if (prompt.rootFields().empty()) throw Error(what + ": the prompt template reads no field");
    if (response.rootFields().empty()) throw Error(what + ": the response template reads no field");
    if (maxLen < 2) throw Error(what + ": max_len must be at least 2");
}

const std::vector<DatasetPreset>& builtinPresets() {
    static const std::vector<DatasetPreset> presets = makeBuiltins();
    return presets;
}

const DatasetPreset* findBuiltinPreset(const std::string& name) {
    const std::string n = lower(name);
    for (const DatasetPreset& p : builtinPresets())
        if (lower(p.name) == n || lower(p.specialist) == n) return &p;
    return nullptr;
}

PresetDetection detectPreset(const std::vector<std::string>& columns, const std::vector<DatasetPreset>& presets) {
    PresetDetection d;
    std::vector<const DatasetPreset*> matches;
    for (const DatasetPreset& p : presets) {
        if (p.requiredFields.empty()) continue;
        const bool all = std::all_of(p.requiredFields.begin(), p.requiredFields.end(), [&](const std::string& f) {
            return std::find(columns.begin(), columns.end(), f) != columns.end();
        });
        if (all) {
            matches.push_back(&p);
            d.candidates.push_back(p.name);
        }
    }
    std::string cols;
    for (const std::string& c : columns) cols += (cols.empty() ? "" : ", ") + c;
    if (matches.empty()) {
        d.explanation = "no preset matches the columns (" + (cols.empty() ? std::string("none") : cols) +
                        "): give --prompt-template and --response-field";
        return d;
    }
    size_t best = 0;
    for (const DatasetPreset* p : matches) best = std::max(best, p->requiredFields.size());
    std::vector<const DatasetPreset*> top;
    for (const DatasetPreset* p : matches)
        if (p->requiredFields.size() == best) top.push_back(p);
    if (top.size() > 1) {
        std::string names;
        for (const DatasetPreset* p : top) names += (names.empty() ? "" : ", ") + p->name;
        d.explanation = "the columns match several presets equally (" + names + "): choose one with --preset";
        return d;
    }
    d.preset = *top.front();
    std::string req;
    for (const std::string& f : top.front()->requiredFields) req += (req.empty() ? "" : ", ") + f;
    d.explanation = "preset '" + top.front()->name + "' (" + top.front()->specialist + ", " + top.front()->source +
                    ") detected from the columns " + req;
    return d;
}

} // namespace swarm
