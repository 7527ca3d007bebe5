#pragma once
// What a teacher's answer must pass before its pair enters the dataset (issue 16). Every
// rejection has a code (the stored reason) and a detail that says what was wrong:
//
//   every task   truncated        the teacher stopped at max_tokens (finish_reason "length")
//                content_filter   the teacher's filter cut the answer
//                invalid_utf8     the answer is not UTF-8 text
//                empty_answer     nothing but whitespace (or an empty SQL fence)
//                refusal          "I can't ...", "I'm sorry, ...", "As an AI ..." (at the start)
//                too_short, too_long_answer    outside minChars / maxChars (code points)
//                too_long         prompt and answer in the chat format exceed max_len tokens
//   sql          no_schema        the prompt holds no CREATE TABLE to run the SQL against
//                sql_error        the SQL does not run in the SQLite metric sandbox
//                                 (eval/sql_metrics.cpp: the prompt's tables, read-only, bounded)
//   json         invalid_json     the answer (a ```json fence allowed) is not one JSON value
//                schema_mismatch  it does not conform to the schema (distill/json_schema.h)
//   label        unknown_label    the answer is not one of the labels (compared normalised)
//   pii          pii_changed_text the answer is not the prompt with spans replaced by [TYPE]
//                pii_span_too_long  a replaced span is longer than maxPiiSpanChars or crosses a line
//
// Duplicate prompts are caught before anything is sent (distill/prompt_source.h), so a pair is
// never paid for twice. The accepted answer is normalised into the response that trains: the
// SQL out of its fence, the JSON out of its fence, the label as the label set spells it, the
// others trimmed.
#include "datasets/dataset_import.h"
#include "distill/json_schema.h"

#include "core/tokenizer.h"
#include "datasets/prompt_template.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace swarm::distill {

enum class Task { Text, Sql, Json, Label, Pii };
const char* taskName(Task task);                 // text, sql, json, label, pii
Task parseTask(const std::string& name);         // throws swarm::Error listing the tasks
// The dataset preset whose metrics evaluate the task (eval/metrics.h autoMetrics): sql -> sql,
// json -> extract, label -> router, pii -> pii, text -> "" (exact match and ROUGE-L).
const char* taskPreset(Task task);

struct ValidationSettings {
    Task task = Task::Text;
    size_t minChars = 1;               // the response, in code points
    size_t maxChars = 0;               // 0: no limit
    bool rejectRefusals = true;
    std::vector<std::string> labels;   // Task::Label: the label set
    nlohmann::json jsonSchema;         // Task::Json: null accepts any JSON value
    int maxLen = 1024;                 // tokens of the chat-formatted pair (the dataset's max_len)
    size_t maxPiiSpanChars = 60;       // Task::Pii: the longest text one placeholder may replace

    nlohmann::json toJson() const;
    static ValidationSettings fromJson(const nlohmann::json& j);
    // Throws swarm::Error naming the setting (a label task without labels, a bad schema, ...).
    void check() const;
};

// A label set as people type it: "billing, refund,other" -> {"billing", "refund", "other"}
// (items trimmed of spaces, empty ones dropped).
std::vector<std::string> parseLabelList(const std::string& text);

struct Verdict {
    bool accepted = false;
    std::string reason;                // the code, when rejected
    std::string detail;                // what was wrong, for people
    std::string response;              // when accepted: what trains
};

// Thread-safe: check() may run on several threads at once.
class AnswerValidator {
public:
    // `tokenizer` must outlive the validator.
    AnswerValidator(ValidationSettings settings, const Gpt2Tokenizer& tokenizer, const ChatFormat& format);
    Verdict check(const std::string& prompt, const std::string& answer, const std::string& finishReason) const;
    const ValidationSettings& settings() const { return settings_; }

private:
    Verdict checkTask(const std::string& prompt, const std::string& answer) const;
    ValidationSettings settings_;
    JsonSchema schema_;
    ExampleEncoder encoder_;
};

// The refusal phrase `answer` starts with (or a telltale one in its first 200 bytes), or "".
std::string refusalPhrase(std::string_view answer);
// "" when `masked` is `source` with zero or more spans (each non-empty, at most maxSpanChars
// code points, within one line) replaced by placeholders "[TYPE]"; else why not, with `code`
// set to pii_changed_text or pii_span_too_long.
std::string piiMaskingProblem(std::string_view source, std::string_view masked, size_t maxSpanChars, std::string& code);

} // namespace swarm::distill
