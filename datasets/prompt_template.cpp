#include "datasets/prompt_template.h"

#include "core/error.h"

#include <algorithm>
#include <set>

namespace swarm {

using nlohmann::json;

namespace {

constexpr std::string_view kEos = "<|endoftext|>";

bool isBlank(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
    return true;
}

std::string trimmed(std::string_view s) {
    size_t b = 0, e = s.size();
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    while (b < e && ws(s[b])) ++b;
    while (e > b && ws(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
}

const std::set<std::string>& knownFilters() {
    static const std::set<std::string> f{"json", "trim", "lower", "upper", "before", "after", "default", "diff"};
    return f;
}

bool filterTakesArg(const std::string& name) {
    return name == "before" || name == "after" || name == "default" || name == "diff";
}

} // namespace

// ---------------------------------------------------------------------------------------------
// TextTemplate

TextTemplate TextTemplate::parse(std::string_view text) {
    TextTemplate t;
    t.text_ = std::string(text);
    auto fail = [&](size_t pos, const std::string& why) -> Error {
        return Error("template '" + t.text_ + "': position " + std::to_string(pos + 1) + ": " + why);
    };
    std::string literal;
    auto flushLiteral = [&]() {
        if (!literal.empty()) {
            Part p;
            p.literal = std::move(literal);
            t.parts_.push_back(std::move(p));
            literal.clear();
        }
    };
    size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c == '}') {
            if (i + 1 < text.size() && text[i + 1] == '}') { literal += '}'; i += 2; continue; }
            throw fail(i, "unmatched '}' (write '}}' for a literal brace)");
        }
        if (c != '{') { literal += c; ++i; continue; }
        if (i + 1 < text.size() && text[i + 1] == '{') { literal += '{'; i += 2; continue; }
        const size_t open = i;
        ++i;
        // The path: up to an unquoted '|' or '}'.
        std::string pathText;
        bool inQuotes = false;
        while (i < text.size()) {
            char k = text[i];
            if (inQuotes) {
                pathText += k;
                if (k == '\\' && i + 1 < text.size()) { pathText += text[i + 1]; i += 2; continue; }
                if (k == '"') inQuotes = false;
                ++i;
                continue;
            }
            if (k == '"') { inQuotes = true; pathText += k; ++i; continue; }
            if (k == '|' || k == '}') break;
            if (k == '{') throw fail(i, "'{' inside a placeholder (write '{{' for a literal brace)");
            pathText += k;
            ++i;
        }
        if (i >= text.size()) throw fail(open, "unterminated placeholder (missing '}'; write '{{' for a literal brace)");
        Part part;
        part.isField = true;
        std::string pathTrimmed = trimmed(pathText);
        if (pathTrimmed.empty()) throw fail(open, "empty placeholder '{}'");
        try {
            part.path = FieldPath::parse(pathTrimmed);
        } catch (const Error& e) {
            throw fail(open, e.what());
        }
        // Filters.
        while (i < text.size() && text[i] == '|') {
            ++i;
            Filter f;
            size_t nameStart = i;
            while (i < text.size() && text[i] != ':' && text[i] != '|' && text[i] != '}') f.name += text[i++];
            f.name = trimmed(f.name);
            if (!knownFilters().count(f.name))
                throw fail(nameStart, "unknown filter '" + f.name +
                                          "' (filters: json, trim, lower, upper, before:, after:, default:, diff:)");
            if (i < text.size() && text[i] == ':') {
                ++i;
                while (i < text.size() && text[i] != '|' && text[i] != '}') {
                    char k = text[i];
                    if (k == '\\' && i + 1 < text.size()) {
                        char n = text[i + 1];
                        f.arg += n == 'n' ? '\n' : n == 't' ? '\t' : n;
                        i += 2;
                        continue;
                    }
                    f.arg += k;
                    ++i;
                }
                if (!filterTakesArg(f.name)) throw fail(nameStart, "filter '" + f.name + "' takes no argument");
            } else if (filterTakesArg(f.name) && f.name != "default") {
                throw fail(nameStart, "filter '" + f.name + "' needs an argument (" + f.name + ":TEXT)");
            }
            if ((f.name == "before" || f.name == "after") && f.arg.empty())
                throw fail(nameStart, "filter '" + f.name + "' needs a non-empty argument");
            if (f.name == "diff") {
                try {
                    f.argPath = FieldPath::parse(trimmed(f.arg));
                } catch (const Error& e) {
                    throw fail(nameStart, e.what());
                }
            }
            if (f.name == "default") {
                part.hasDefault = true;
                part.defaultValue = f.arg;
            }
            if (f.name == "json" && part.filters.empty()) part.jsonFirst = true;
            part.filters.push_back(std::move(f));
        }
        if (i >= text.size() || text[i] != '}') throw fail(open, "unterminated placeholder (missing '}')");
        ++i;
        flushLiteral();
        t.parts_.push_back(std::move(part));
    }
    flushLiteral();
    return t;
}

TextTemplate TextTemplate::forField(std::string_view path) {
    // A plain path stays as written; a column name with template or path syntax in it
    // ("score [0-10]", "a|b", "x}") becomes a quoted key: {["score [0-10]"]}.
    const std::string p(path);
    if (p.find_first_of("{}|\"\\") == std::string::npos) {
        try {
            return parse("{" + p + "}");
        } catch (const Error&) {
        }
    }
    std::string quoted = "{[\"";
    for (char c : p) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
    }
    return parse(quoted + "\"]}");
}

std::string TextTemplate::escapeLiteral(std::string_view literal) {
    std::string out;
    out.reserve(literal.size());
    for (char c : literal) {
        out += c;
        if (c == '{' || c == '}') out += c;
    }
    return out;
}

std::vector<std::string> TextTemplate::rootFields() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& f) {
        if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
    };
    for (const Part& p : parts_) {
        if (!p.isField) continue;
        add(p.path.rootKey());
        for (const Filter& f : p.filters)
            if (f.name == "diff") add(f.argPath.rootKey());
    }
    return out;
}

bool TextTemplate::render(const json& record, std::string& out, TemplateFailure& failure, bool* allBlank) const {
    out.clear();
    bool blank = true;
    for (const Part& p : parts_) {
        if (!p.isField) {
            out += p.literal;
            continue;
        }
        const json* v = p.path.resolve(record);
        std::string value;
        if (!v || v->is_null()) {
            if (p.hasDefault) {
                value = p.defaultValue;
            } else if (!v) {
                failure = TemplateFailure{TemplateFailure::Kind::MissingField, p.path.text(), p.path.explainMissing(record)};
                return false;
            } else {
                failure = TemplateFailure{TemplateFailure::Kind::NotAString, p.path.text(),
                                          "is null, not a string (add |default:TEXT to allow it)"};
                return false;
            }
        } else if (v->is_string()) {
            value = v->get_ref<const std::string&>();
        } else if (p.jsonFirst) {
            value = v->dump(-1, ' ', false, json::error_handler_t::replace);
        } else {
            failure = TemplateFailure{TemplateFailure::Kind::NotAString, p.path.text(),
                                      std::string("is ") + (v->is_array() || v->is_object() ? "an " : "a ") + jsonTypeName(*v) +
                                          ", not a string (write {" + p.path.text() + "|json} to use it as JSON)"};
            return false;
        }
        for (const Filter& f : p.filters) {
            if (f.name == "json" || f.name == "default") continue;
            if (f.name == "trim") value = trimmed(value);
            else if (f.name == "lower") std::transform(value.begin(), value.end(), value.begin(), [](char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; });
            else if (f.name == "upper") std::transform(value.begin(), value.end(), value.begin(), [](char c) { return (c >= 'a' && c <= 'z') ? char(c - 32) : c; });
            else if (f.name == "before") {
                size_t at = value.find(f.arg);
                if (at != std::string::npos) value.resize(at);
            } else if (f.name == "after") {
                size_t at = value.find(f.arg);
                value = at == std::string::npos ? std::string() : value.substr(at + f.arg.size());
            } else if (f.name == "diff") {
                const json* other = f.argPath.resolve(record);
                if (!other) {
                    failure = TemplateFailure{TemplateFailure::Kind::MissingField, f.argPath.text(),
                                              f.argPath.explainMissing(record)};
                    return false;
                }
                if (!other->is_string()) {
                    failure = TemplateFailure{TemplateFailure::Kind::NotAString, f.argPath.text(),
                                              std::string("is ") + (other->is_array() || other->is_object() ? "an " : "a ") + jsonTypeName(*other) + ", not a string"};
                    return false;
                }
                value = unifiedDiff(value, other->get_ref<const std::string&>());
            }
        }
        if (!isBlank(value)) blank = false;
        out += value;
    }
    if (allBlank) *allBlank = blank;
    return true;
}

// ---------------------------------------------------------------------------------------------
// ChatFormat

ChatFormat ChatFormat::parse(std::string_view text) {
    ChatFormat f{Empty{}};
    f.text_ = std::string(text);
    auto fail = [&](const std::string& why) -> Error { return Error("chat format '" + f.text_ + "': " + why); };
    // Split into literal runs around {prompt} and {response}.
    std::vector<std::string> literals(1);
    std::vector<std::string> order;
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') { literals.back() += '{'; i += 2; continue; }
        if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') { literals.back() += '}'; i += 2; continue; }
        if (c == '}') throw fail("unmatched '}' at position " + std::to_string(i + 1) + " (write '}}')");
        if (c == '{') {
            size_t close = text.find('}', i);
            if (close == std::string_view::npos) throw fail("unterminated placeholder at position " + std::to_string(i + 1));
            std::string name(text.substr(i + 1, close - i - 1));
            if (name != "prompt" && name != "response")
                throw fail("unknown placeholder {" + name + "} (only {prompt} and {response})");
            order.push_back(name);
            literals.emplace_back();
            i = close + 1;
            continue;
        }
        literals.back() += c;
        ++i;
    }
    if (order.size() != 2 || order[0] != "prompt" || order[1] != "response")
        throw fail("needs {prompt} once, followed by {response} once");
    f.head_ = literals[0];
    std::string middle = literals[1];
    f.after_ = literals[2];
    if (f.after_.size() >= kEos.size() && f.after_.compare(f.after_.size() - kEos.size(), kEos.size(), kEos) == 0) {
        f.eos_ = true;
        f.after_.resize(f.after_.size() - kEos.size());
    }
    for (const std::string* s : {&f.head_, &middle, &f.after_})
        if (s->find(kEos) != std::string::npos) throw fail("<|endoftext|> may only end the format, after {response}");
    size_t cut = middle.size();
    while (cut > 0 && (middle[cut - 1] == ' ' || middle[cut - 1] == '\t' || middle[cut - 1] == '\n')) --cut;
    f.middle_ = middle.substr(0, cut);
    f.lead_ = middle.substr(cut);
    return f;
}

std::string ChatFormat::promptText(std::string_view prompt) const {
    std::string s;
    s.reserve(head_.size() + prompt.size() + middle_.size());
    s += head_;
    s += prompt;
    s += middle_;
    return s;
}

std::string ChatFormat::responseText(std::string_view response) const {
    std::string s;
    s.reserve(lead_.size() + response.size() + after_.size());
    s += lead_;
    s += response;
    s += after_;
    return s;
}

// ---------------------------------------------------------------------------------------------
// Unified diff

namespace {

std::vector<std::string_view> splitLines(std::string_view text) {
    std::vector<std::string_view> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string_view::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, nl - start + 1));
        start = nl + 1;
    }
    return lines;
}

enum class Op : char { Equal = ' ', Delete = '-', Insert = '+' };

} // namespace

std::string unifiedDiff(std::string_view oldText, std::string_view newText, int context) {
    if (oldText == newText) return {};
    const std::vector<std::string_view> a = splitLines(oldText), b = splitLines(newText);
    size_t pre = 0;
    while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
    size_t suf = 0;
    while (suf < a.size() - pre && suf < b.size() - pre && a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) ++suf;
    const size_t n = a.size() - pre - suf, m = b.size() - pre - suf;

    // Edit script: (op, index into a or b).
    std::vector<std::pair<Op, size_t>> ops;
    for (size_t k = 0; k < pre; ++k) ops.emplace_back(Op::Equal, k);
    if (n > 0 && m > 0 && (n + 1) * (m + 1) <= (size_t(1) << 22)) {
        // LCS table over the changed middle.
        std::vector<uint32_t> L((n + 1) * (m + 1), 0);
        auto at = [&](size_t i, size_t j) -> uint32_t& { return L[i * (m + 1) + j]; };
        for (size_t i = n; i-- > 0;)
            for (size_t j = m; j-- > 0;)
                at(i, j) = a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
        size_t i = 0, j = 0;
        while (i < n && j < m) {
            if (a[pre + i] == b[pre + j]) { ops.emplace_back(Op::Equal, pre + i); ++i; ++j; }
            else if (at(i + 1, j) >= at(i, j + 1)) { ops.emplace_back(Op::Delete, pre + i); ++i; }
            else { ops.emplace_back(Op::Insert, pre + j); ++j; }
        }
        for (; i < n; ++i) ops.emplace_back(Op::Delete, pre + i);
        for (; j < m; ++j) ops.emplace_back(Op::Insert, pre + j);
    } else {
        for (size_t i = 0; i < n; ++i) ops.emplace_back(Op::Delete, pre + i);
        for (size_t j = 0; j < m; ++j) ops.emplace_back(Op::Insert, pre + j);
    }
    for (size_t k = 0; k < suf; ++k) ops.emplace_back(Op::Equal, a.size() - suf + k);

    // Line numbers before each op (0-based positions in a and b).
    std::vector<size_t> posA(ops.size() + 1), posB(ops.size() + 1);
    size_t pa = 0, pb = 0;
    for (size_t k = 0; k < ops.size(); ++k) {
        posA[k] = pa;
        posB[k] = pb;
        if (ops[k].first != Op::Insert) ++pa;
        if (ops[k].first != Op::Delete) ++pb;
    }
    posA[ops.size()] = pa;
    posB[ops.size()] = pb;

    std::string out;
    const size_t ctx = size_t(std::max(0, context));
    size_t k = 0;
    while (k < ops.size()) {
        while (k < ops.size() && ops[k].first == Op::Equal) ++k;
        if (k == ops.size()) break;
        size_t start = k >= ctx ? k - ctx : 0;
        size_t end = k;                       // one past the last change seen
        size_t scan = k;
        while (scan < ops.size()) {
            if (ops[scan].first != Op::Equal) { end = scan + 1; ++scan; continue; }
            size_t run = scan;
            while (run < ops.size() && ops[run].first == Op::Equal) ++run;
            if (run == ops.size() || run - scan > 2 * ctx) break;
            scan = run;
        }
        size_t stop = std::min(ops.size(), end + ctx);
        const size_t oldCount = posA[stop] - posA[start], newCount = posB[stop] - posB[start];
        const size_t oldStart = oldCount ? posA[start] + 1 : posA[start];
        const size_t newStart = newCount ? posB[start] + 1 : posB[start];
        out += "@@ -" + std::to_string(oldStart) + "," + std::to_string(oldCount) + " +" + std::to_string(newStart) +
               "," + std::to_string(newCount) + " @@\n";
        for (size_t q = start; q < stop; ++q) {
            std::string_view line = ops[q].first == Op::Insert ? b[ops[q].second] : a[ops[q].second];
            out += char(ops[q].first);
            out += line;
            if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
        }
        k = stop;
    }
    return out;
}

} // namespace swarm
