#pragma once
// Text templates over a record's fields, and the chat format that wraps prompt and response.
//
// TextTemplate: literal text with placeholders, e.g. "{context}\n\nQuestion: {question}".
//   {path}                 a field by path (see field_path.h): {chat[0].content}
//   {path|filter|...}      filters, applied left to right:
//       json               any value as compact JSON (strings stay as they are); without it a
//                          value that is not a string is an error ("not a string")
//       trim, lower, upper
//       before:TEXT        the part before the first TEXT (all of it when TEXT is absent)
//       after:TEXT         the part after the first TEXT (empty when TEXT is absent)
//       default:TEXT       used when the field is missing or null
//       diff:PATH          a unified diff (3 lines of context) from this value to field PATH's
//   {{ and }} are literal braces. Inside a filter argument, \| \} \\ \n \t are escapes.
//
// ChatFormat: how a prompt and a response become one training sequence, by default
//   "User: {prompt}\nAssistant: {response}<|endoftext|>". The split point is {response}: the
//   prompt part ("User: ...\nAssistant:") is masked, the response part (" response") and the
//   final <|endoftext|> (the only special token; all text is tokenised as plain text) are trained.
#include "datasets/field_path.h"

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace swarm {

// Why a template could not be rendered for a record.
struct TemplateFailure {
    enum class Kind { MissingField, NotAString };
    Kind kind = Kind::MissingField;
    std::string field;       // the path as written in the template
    std::string detail;      // e.g. "no field 'question'", "is a number, not a string"
};

class TextTemplate {
public:
    TextTemplate() = default;
    // Throws swarm::Error("template '...': position N: ...") on a syntax error.
    static TextTemplate parse(std::string_view text);
    // The template that is just one field: "{path}" (braces in the path are escaped).
    static TextTemplate forField(std::string_view path);

    // Renders into `out`. Returns false and fills `failure` for the first placeholder that
    // fails. `allBlank` (optional) is set when every placeholder rendered to whitespace only.
    bool render(const nlohmann::json& record, std::string& out, TemplateFailure& failure,
                bool* allBlank = nullptr) const;

    const std::string& text() const { return text_; }
    bool empty() const { return parts_.empty(); }
    // The top-level fields the template reads (diff arguments included), in order, no repeats.
    std::vector<std::string> rootFields() const;
    // Escapes braces so that `literal` renders as itself.
    static std::string escapeLiteral(std::string_view literal);

private:
    struct Filter {
        std::string name;
        std::string arg;
        FieldPath argPath;      // for diff
    };
    struct Part {
        bool isField = false;
        std::string literal;
        FieldPath path;
        std::vector<Filter> filters;
        bool hasDefault = false;
        std::string defaultValue;
        bool jsonFirst = false;
    };
    std::string text_;
    std::vector<Part> parts_;
};

class ChatFormat {
public:
    static constexpr const char* kDefault = "User: {prompt}\nAssistant: {response}<|endoftext|>";

    ChatFormat() : ChatFormat(parse(kDefault)) {}
    // Needs {prompt} once, then {response} once; <|endoftext|> may only end the format.
    static ChatFormat parse(std::string_view text);

    std::string promptText(std::string_view prompt) const;      // "User: " + prompt + "\nAssistant:"
    std::string responseText(std::string_view response) const;  // " " + response (EOS not included)
    bool endsWithEos() const { return eos_; }
    const std::string& head() const { return head_; }            // the literal before {prompt}
    const std::string& tail() const { return middle_; }          // literal between prompt and the split point
    const std::string& text() const { return text_; }

private:
    struct Empty {};
    explicit ChatFormat(Empty) {}
    std::string text_;
    std::string head_;          // before {prompt}
    std::string middle_;        // after {prompt}, before the whitespace that precedes {response}
    std::string lead_;          // that whitespace: starts the response part
    std::string after_;         // after {response}, without a final <|endoftext|>
    bool eos_ = false;
};

// A unified diff of two texts, line by line, with `context` lines around each change
// ("@@ -a,b +c,d @@" hunks, no file header). Empty when the texts are equal.
std::string unifiedDiff(std::string_view oldText, std::string_view newText, int context = 3);

} // namespace swarm
