#include "distill/validators.h"

#include "core/error.h"
#include "datasets/dataset_reader.h"
#include "eval/metrics.h"

#include <algorithm>
#include <cctype>

namespace swarm::distill {

using nlohmann::json;

const char* taskName(Task task) {
    switch (task) {
    case Task::Text: return "text";
    case Task::Sql: return "sql";
    case Task::Json: return "json";
    case Task::Label: return "label";
    case Task::Pii: return "pii";
    }
    return "?";
}

Task parseTask(const std::string& name) {
    for (Task t : {Task::Text, Task::Sql, Task::Json, Task::Label, Task::Pii})
        if (name == taskName(t)) return t;
    throw Error("unknown task '" + name + "' (expected text, sql, json, label or pii)");
}

const char* taskPreset(Task task) {
    switch (task) {
    case Task::Sql: return "sql";
    case Task::Json: return "extract";
    case Task::Label: return "router";
    case Task::Pii: return "pii";
    case Task::Text: return "";
    }
    return "";
}

json ValidationSettings::toJson() const {
    return json{{"task", taskName(task)},     {"min_chars", minChars}, {"max_chars", maxChars},
                {"reject_refusals", rejectRefusals}, {"labels", labels}, {"json_schema", jsonSchema},
                {"max_len", maxLen},          {"max_pii_span_chars", maxPiiSpanChars}};
}

ValidationSettings ValidationSettings::fromJson(const json& j) {
    ValidationSettings s;
    s.task = parseTask(j.value("task", "text"));
    s.minChars = j.value("min_chars", size_t(1));
    s.maxChars = j.value("max_chars", size_t(0));
    s.rejectRefusals = j.value("reject_refusals", true);
    if (j.contains("labels") && j["labels"].is_array())
        for (const json& l : j["labels"]) s.labels.push_back(l.get<std::string>());
    if (j.contains("json_schema")) s.jsonSchema = j["json_schema"];
    s.maxLen = j.value("max_len", 1024);
    s.maxPiiSpanChars = j.value("max_pii_span_chars", size_t(60));
    return s;
}

void ValidationSettings::check() const {
    if (task == Task::Label && labels.empty())
        throw Error("task 'label' needs a label set (--labels a,b,c, or a prompt dataset whose responses are the labels)");
    if (task != Task::Label && !labels.empty()) throw Error("--labels is for task 'label' only");
    if (task != Task::Json && !jsonSchema.is_null()) throw Error("--json-schema is for task 'json' only");
    for (const std::string& l : labels)
        if (metrics::normalizeAnswer(l).empty()) throw Error("the label set has an empty label");
    if (maxChars && maxChars < minChars) throw Error("--max-chars is below --min-chars");
    if (maxLen < 8 || maxLen > 1 << 20) throw Error("--max-len must be in [8, 1048576]");
    if (!jsonSchema.is_null()) JsonSchema::parse(jsonSchema, "--json-schema");
}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string trimmed(std::string_view s) {
    while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
    return std::string(s);
}

size_t codePoints(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

std::string excerpt(std::string_view s, size_t max = 60) {
    std::string out;
    for (char c : s.substr(0, std::min(s.size(), max))) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    if (s.size() > max) out += "...";
    return out;
}

// The content of a ``` fence when the whole answer is one (``` or ```json first line), else the text.
std::string unfenced(const std::string& text) {
    if (text.rfind("```", 0) != 0) return text;
    const size_t firstLine = text.find('\n');
    if (firstLine == std::string::npos) return text;
    const size_t close = text.rfind("```");
    if (close == std::string::npos || close <= firstLine) return trimmed(std::string_view(text).substr(firstLine + 1));
    return trimmed(std::string_view(text).substr(firstLine + 1, close - firstLine - 1));
}

Verdict reject(const std::string& reason, const std::string& detail) {
    Verdict v;
    v.reason = reason;
    v.detail = detail;
    return v;
}

Verdict accept(std::string response) {
    Verdict v;
    v.accepted = true;
    v.response = std::move(response);
    return v;
}

// "[TYPE]" spans of a masked text: (start, end) byte offsets.
std::vector<std::pair<size_t, size_t>> placeholderSpans(std::string_view s) {
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '[') continue;
        size_t j = i + 1;
        while (j < s.size() && (std::isupper(static_cast<unsigned char>(s[j])) || std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
        if (j > i + 1 && j < s.size() && s[j] == ']') {
            out.emplace_back(i, j + 1);
            i = j;
        }
    }
    return out;
}

} // namespace

std::string refusalPhrase(std::string_view answer) {
    std::string head;
    for (size_t i = 0; i < answer.size() && head.size() < 200; ++i) {
        // U+2019 (right single quotation mark) as an apostrophe.
        if (answer.compare(i, 3, "\xE2\x80\x99") == 0) {
            head += '\'';
            i += 2;
            continue;
        }
        head += char(std::tolower(static_cast<unsigned char>(answer[i])));
    }
    head = trimmed(head);
    static const char* kStarts[] = {"i can't",      "i cannot",       "i can not",     "i'm sorry",     "i am sorry",
                                    "sorry, i",     "sorry, but",     "i'm unable",    "i am unable",   "i'm not able",
                                    "i am not able", "i won't",       "i will not",    "as an ai",      "i apologize",
                                    "i apologise",  "unfortunately, i", "i'm afraid i", "i must decline"};
    for (const char* p : kStarts)
        if (head.rfind(p, 0) == 0) return p;
    static const char* kAnywhere[] = {"as an ai language model", "i can't help with", "i cannot help with", "i can't assist",
                                      "i cannot assist", "i'm not able to help", "i cannot comply", "i can't comply"};
    for (const char* p : kAnywhere)
        if (head.find(p) != std::string::npos) return p;
    return "";
}

std::string piiMaskingProblem(std::string_view sourceIn, std::string_view maskedIn, size_t maxSpanChars, std::string& code) {
    const std::string source = trimmed(sourceIn), masked = trimmed(maskedIn);
    const auto spans = placeholderSpans(masked);
    // Literals between the placeholders: L0 [P1] L1 ... [Pk] Lk.
    std::vector<std::string_view> literals;
    size_t from = 0;
    for (auto [a, b] : spans) {
        literals.push_back(std::string_view(masked).substr(from, a - from));
        from = b;
    }
    literals.push_back(std::string_view(masked).substr(from));
    code = "pii_changed_text";
    auto differs = [&](size_t at) {
        return "the answer changes the prompt's text at character " + std::to_string(codePoints(std::string_view(source).substr(0, at))) +
               " ('" + excerpt(std::string_view(source).substr(at)) + "')";
    };
    if (spans.empty()) {
        if (masked == source) return "";
        size_t at = 0;
        while (at < source.size() && at < masked.size() && source[at] == masked[at]) ++at;
        return differs(at) + " and replaces nothing with a placeholder";
    }
    if (source.compare(0, literals[0].size(), literals[0]) != 0) {
        size_t at = 0;
        while (at < literals[0].size() && at < source.size() && source[at] == literals[0][at]) ++at;
        return differs(at);
    }
    size_t pos = literals[0].size();
    auto checkSpan = [&](size_t a, size_t b, size_t k) -> std::string {
        const std::string_view span = std::string_view(source).substr(a, b - a);
        if (span.find('\n') != std::string_view::npos || codePoints(span) > maxSpanChars) {
            code = "pii_span_too_long";
            return "placeholder " + std::string(std::string_view(masked).substr(spans[k].first, spans[k].second - spans[k].first)) +
                   " replaces " + std::to_string(codePoints(span)) + " characters" +
                   (span.find('\n') != std::string_view::npos ? " across a line break" : "") + " ('" + excerpt(span) + "')";
        }
        return "";
    };
    for (size_t k = 0; k < spans.size(); ++k) {
        const std::string_view next = literals[k + 1];
        const bool last = k + 1 == spans.size();
        size_t at;
        if (last) {
            if (source.size() < next.size() + pos + 1 || source.compare(source.size() - next.size(), next.size(), next) != 0)
                return "the text after the last placeholder ('" + excerpt(next) + "') does not end the prompt";
            at = source.size() - next.size();
        } else {
            at = next.empty() ? pos + 1 : source.find(next, pos + 1);
            if (at == std::string::npos || at > source.size())
                return "the text after placeholder " + std::to_string(k + 1) + " ('" + excerpt(next) + "') is not in the prompt";
        }
        std::string problem = checkSpan(pos, at, k);
        if (!problem.empty()) return problem;
        pos = at + next.size();
    }
    return "";
}

// ---------------------------------------------------------------------------------------------
// The validator

AnswerValidator::AnswerValidator(ValidationSettings settings, const Gpt2Tokenizer& tokenizer, const ChatFormat& format)
    : settings_(std::move(settings)), encoder_(tokenizer, format, settings_.maxLen, OverlongPolicy::Drop) {
    settings_.check();
    if (!settings_.jsonSchema.is_null()) schema_ = JsonSchema::parse(settings_.jsonSchema, "the job's JSON schema");
}

Verdict AnswerValidator::checkTask(const std::string& prompt, const std::string& answer) const {
    switch (settings_.task) {
    case Task::Text:
        return accept(answer);
    case Task::Sql: {
        const std::string sql = metrics::extractSql(answer);
        if (sql.empty()) return reject("empty_answer", "the SQL fence is empty");
        if (metrics::extractCreateTables(prompt).empty())
            return reject("no_schema", "the prompt holds no CREATE TABLE statement to run the SQL against");
        // The answer is its own reference: what is asked is only that it runs on the prompt's tables.
        const metrics::SqlScore score = metrics::scoreSql(sql, sql, prompt, prompt);
        if (!score.executed) return reject("sql_error", "the SQL does not run against the prompt's tables: " + score.error);
        return accept(sql);
    }
    case Task::Json: {
        const std::string text = unfenced(answer);
        json value;
        if (!metrics::parseJsonSafe(text, value)) return reject("invalid_json", "not one JSON value: '" + excerpt(text) + "'");
        const std::string problem = schema_.check(value);
        if (!problem.empty()) return reject("schema_mismatch", problem);
        return accept(text);
    }
    case Task::Label: {
        std::string text = answer;
        // A label quoted or ended with a full stop is still the label.
        while (!text.empty() && (text.back() == '.' || text.back() == '"' || text.back() == '\'' || text.back() == '`')) text.pop_back();
        while (!text.empty() && (text.front() == '"' || text.front() == '\'' || text.front() == '`')) text.erase(0, 1);
        const std::string norm = metrics::normalizeAnswer(text);
        for (const std::string& l : settings_.labels)
            if (metrics::normalizeAnswer(l) == norm) return accept(l);
        std::string known;
        for (size_t i = 0; i < settings_.labels.size() && i < 12; ++i) known += (i ? ", " : "") + settings_.labels[i];
        if (settings_.labels.size() > 12) known += ", ...";
        return reject("unknown_label", "'" + excerpt(answer) + "' is not in the label set (" + known + ")");
    }
    case Task::Pii: {
        std::string code;
        const std::string problem = piiMaskingProblem(prompt, answer, settings_.maxPiiSpanChars, code);
        if (!problem.empty()) return reject(code, problem);
        return accept(answer);
    }
    }
    return accept(answer);
}

Verdict AnswerValidator::check(const std::string& prompt, const std::string& rawAnswer, const std::string& finishReason) const {
    if (finishReason == "length")
        return reject("truncated", "the teacher stopped at max_tokens (finish_reason \"length\"): the answer is cut");
    if (finishReason == "content_filter") return reject("content_filter", "the teacher's content filter cut the answer");
    size_t bad = 0;
    if (!isValidUtf8(rawAnswer, &bad)) return reject("invalid_utf8", "the answer is not UTF-8 (byte " + std::to_string(bad) + ")");
    const std::string answer = trimmed(rawAnswer);
    if (answer.empty()) return reject("empty_answer", "the answer is empty");
    if (settings_.rejectRefusals) {
        const std::string phrase = refusalPhrase(answer);
        if (!phrase.empty()) return reject("refusal", "the teacher declined ('" + excerpt(answer, 80) + "')");
    }
    Verdict v = checkTask(prompt, answer);
    if (!v.accepted) return v;
    const size_t chars = codePoints(v.response);
    if (chars < settings_.minChars)
        return reject("too_short", std::to_string(chars) + " characters, below the minimum of " + std::to_string(settings_.minChars));
    if (settings_.maxChars && chars > settings_.maxChars)
        return reject("too_long_answer", std::to_string(chars) + " characters, above the maximum of " + std::to_string(settings_.maxChars));
    const EncodedExample enc = encoder_.encode(prompt, v.response);
    if (enc.tooLong) return reject("too_long", enc.tooLongDetail);
    return v;
}

std::vector<std::string> parseLabelList(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(',', start), text.size());
        std::string item = text.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.erase(0, 1);
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty()) out.push_back(item);
        start = end + 1;
    }
    return out;
}

} // namespace swarm::distill
