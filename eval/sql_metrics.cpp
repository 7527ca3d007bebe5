// SQL parse validity and execution accuracy in a throw-away in-memory SQLite database.
//
// The tables come from the example's CREATE TABLE statements; each gets deterministic random rows
// and, in its first rows, the literal values that the reference query and the question mention
// (so that WHERE clauses select something). The filled database is then serialised into a second,
// read-only connection with an authorizer that admits only reads: a prediction that writes,
// attaches, runs a pragma or creates anything is refused at prepare time; one that runs too many
// virtual-machine instructions is interrupted by the progress handler; one that returns too many
// rows fails.
#include "eval/metrics.h"
#include "core/rng.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <set>

namespace swarm::metrics {

namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string upperAscii(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = char(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}


struct DbCloser {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Literals of a SQL text or a question: quoted strings ('..' with '' escapes, ".." in questions)
// and numbers that are not part of an identifier.
void collectLiterals(std::string_view text, bool doubleQuotes, std::vector<std::string>& strings,
                     std::vector<std::string>& numbers) {
    for (size_t i = 0; i < text.size() && strings.size() + numbers.size() < 64; ++i) {
        const char c = text[i];
        if (c == '\'' || (doubleQuotes && c == '"')) {
            // In prose an apostrophe inside a word ("O'Brien", "don't") is not a quote.
            if (doubleQuotes && c == '\'' && i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1]))) continue;
            std::string value;
            size_t j = i + 1;
            bool closed = false;
            for (; j < text.size() && value.size() < 200; ++j) {
                if (text[j] == c) {
                    if (c == '\'' && j + 1 < text.size() && text[j + 1] == '\'' && !doubleQuotes) {
                        value += '\'';
                        ++j;
                        continue;
                    }
                    closed = true;
                    break;
                }
                value += text[j];
            }
            if (closed && !value.empty()) strings.push_back(value);
            if (closed) i = j;
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(c)) &&
            (i == 0 || !(std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_'))) {
            size_t j = i;
            while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
            if (j == text.size() || !(std::isalpha(static_cast<unsigned char>(text[j])) || text[j] == '_'))
                numbers.emplace_back(text.substr(i, j - i));
            i = j;
        }
    }
}

enum class Affinity { Integer, Real, Text };
Affinity affinityOf(const std::string& declared) {
    const std::string t = upperAscii(declared);
    if (t.find("INT") != std::string::npos) return Affinity::Integer;
    if (t.find("CHAR") != std::string::npos || t.find("CLOB") != std::string::npos || t.find("TEXT") != std::string::npos)
        return Affinity::Text;
    if (t.find("REAL") != std::string::npos || t.find("FLOA") != std::string::npos ||
        t.find("DOUB") != std::string::npos || t.find("DEC") != std::string::npos || t.find("NUM") != std::string::npos)
        return Affinity::Real;
    return Affinity::Text;
}

const char* kWords[] = {"alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "oscar", "tango"};

// Only reads: the authorizer of the evaluation connection.
int readOnlyAuthorizer(void* refused, int action, const char*, const char* a, const char*, const char*) {
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION: {   // the function name is the second argument
        static const char* denied[] = {"random", "randomblob", "zeroblob", "load_extension", "readfile", "writefile"};
        for (const char* d : denied)
            if (a && sqlite3_stricmp(a, d) == 0) {
                *static_cast<std::string*>(refused) = std::string("refused: function ") + d;
                return SQLITE_DENY;
            }
        return SQLITE_OK;
    }
    default:
        *static_cast<std::string*>(refused) = "refused: only SELECT statements may run";
        return SQLITE_DENY;
    }
}

// What one query may spend: VM instructions, counted through the progress handler, and the
// wall-clock last resort (see SqlOptions).
struct QueryBudget {
    static constexpr int kInterval = 1000;   // instructions between progress-handler calls
    uint64_t maxSteps = 0;
    uint64_t steps = 0;
    std::chrono::steady_clock::time_point deadline;
    enum class Hit { None, Steps, Time } hit = Hit::None;
};

int progressCheck(void* p) {
    auto* b = static_cast<QueryBudget*>(p);
    b->steps += QueryBudget::kInterval;
    if (b->steps > b->maxSteps) {
        b->hit = QueryBudget::Hit::Steps;
        return 1;
    }
    if (std::chrono::steady_clock::now() >= b->deadline) {
        b->hit = QueryBudget::Hit::Time;
        return 1;
    }
    return 0;
}

std::string valueKey(sqlite3_stmt* st, int col) {
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        return "null";
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: {
        const double v = sqlite3_column_double(st, col);
        char buf[64];
        std::snprintf(buf, sizeof buf, "n:%.9g", std::fabs(v) < 1e-12 ? 0.0 : v);
        return buf;
    }
    case SQLITE_BLOB: {
        const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, col));
        const int n = sqlite3_column_bytes(st, col);
        std::string out = "b:";
        static const char* hex = "0123456789abcdef";
        for (int i = 0; i < n && i < 4096; ++i) {
            out += hex[p[i] >> 4];
            out += hex[p[i] & 15];
        }
        return out;
    }
    default: {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
        return "s:" + std::string(p ? p : "", size_t(sqlite3_column_bytes(st, col)));
    }
    }
}

struct QueryResult {
    bool prepared = false;    // parsed and compiled (the authorizer may still have refused it)
    bool ok = false;
    std::string error;
    std::vector<std::string> rows;   // each row's values joined
};

QueryResult runQuery(sqlite3* db, std::string_view sql, const SqlOptions& options) {
    QueryResult r;
    std::string refused;
    sqlite3_set_authorizer(db, readOnlyAuthorizer, &refused);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v2(db, sql.data(), int(sql.size()), &raw, &tail);
    Stmt st(raw);
    if (rc != SQLITE_OK || !st) {
        r.prepared = rc == SQLITE_AUTH;   // compiled up to the authorizer: it parsed
        r.error = rc == SQLITE_AUTH && !refused.empty() ? refused
                  : !st && rc == SQLITE_OK      ? std::string("empty statement")
                                                : std::string(sqlite3_errmsg(db));
        return r;
    }
    r.prepared = true;
    for (const char* p = tail; p && p < sql.data() + sql.size(); ++p)
        if (!isSpace(*p) && *p != ';') {
            r.error = "refused: more than one statement";
            return r;
        }
    if (!sqlite3_stmt_readonly(st.get())) {
        r.error = "refused: the statement writes";
        return r;
    }
    QueryBudget budget;
    budget.maxSteps = options.maxVmSteps;
    budget.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeLimitMs);
    sqlite3_progress_handler(db, QueryBudget::kInterval, progressCheck, &budget);
    const int cols = sqlite3_column_count(st.get());
    int step;
    while ((step = sqlite3_step(st.get())) == SQLITE_ROW) {
        if (r.rows.size() >= options.maxResultRows) {
            r.error = "more than " + std::to_string(options.maxResultRows) + " result rows";
            sqlite3_progress_handler(db, 0, nullptr, nullptr);
            return r;
        }
        std::string row;
        for (int c = 0; c < cols; ++c) {
            if (c) row += '\x1f';
            row += valueKey(st.get(), c);
        }
        r.rows.push_back(std::move(row));
    }
    sqlite3_progress_handler(db, 0, nullptr, nullptr);
    if (step != SQLITE_DONE) {
        if (budget.hit == QueryBudget::Hit::Steps)
            r.error = "operation limit (" + std::to_string(options.maxVmSteps) + " SQLite VM instructions)";
        else if (budget.hit == QueryBudget::Hit::Time)
            r.error = "time limit (" + std::to_string(options.timeLimitMs) + " ms)";
        else
            r.error = sqlite3_errmsg(db);
        return r;
    }
    r.ok = true;
    return r;
}

bool hasOrderBy(std::string_view sql) {
    std::string plain;
    char quote = 0;
    for (char c : sql) {
        if (quote) {
            if (c == quote) quote = 0;
            continue;
        }
        if (c == '\'' || c == '"') quote = c;
        else plain += isSpace(c) ? ' ' : char(std::toupper(static_cast<unsigned char>(c)));
    }
    for (size_t at = plain.find("ORDER"); at != std::string::npos; at = plain.find("ORDER", at + 1)) {
        size_t j = at + 5;
        while (j < plain.size() && plain[j] == ' ') ++j;
        if (j > at + 5 && plain.compare(j, 2, "BY") == 0) return true;
    }
    return false;
}

Db openMemoryDatabase(int flags) {
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(":memory:", &raw, flags, nullptr) != SQLITE_OK) {
        sqlite3_close_v2(raw);
        return nullptr;
    }
    return Db(raw);
}

// Runs the example's CREATE TABLE statements; false (with the error) when one fails.
bool createSchema(sqlite3* db, const std::vector<std::string>& creates, std::string& error) {
    for (const std::string& c : creates) {
        char* msg = nullptr;
        if (sqlite3_exec(db, c.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
            error = std::string("context: ") + (msg ? msg : "CREATE TABLE failed");
            sqlite3_free(msg);
            return false;
        }
    }
    return true;
}

std::vector<std::string> tableNames(sqlite3* db) {
    std::vector<std::string> tables;
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY rowid", -1, &s, nullptr);
    Stmt st(s);
    while (st && sqlite3_step(st.get()) == SQLITE_ROW)
        tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
    return tables;
}

std::vector<std::pair<std::string, Affinity>> tableColumns(sqlite3* db, const std::string& table) {
    std::vector<std::pair<std::string, Affinity>> cols;
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT name, type FROM pragma_table_info(?1)", -1, &s, nullptr);
    Stmt st(s);
    if (!st) return cols;
    sqlite3_bind_text(st.get(), 1, table.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st.get()) == SQLITE_ROW) {
        const char* type = reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 1));
        cols.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)), affinityOf(type ? type : ""));
    }
    return cols;
}

// The literals of the reference and the question, planted in the first rows of every table.
struct Literals {
    std::vector<std::string> strings, numbers;
    std::vector<std::string> textPool;       // both, for the random rows' text
};

// One value of a row: a planted literal in the first rows, else a literal now and then, else a
// deterministic random value of the column's affinity.
void bindValue(sqlite3_stmt* st, int idx, Affinity a, size_t row, size_t planted, const Literals& lit, SplitMix64& rng) {
    if (a == Affinity::Text) {
        if (row < planted && !lit.textPool.empty()) {
            const std::string& v = row < lit.strings.size() ? lit.strings[row]
                                                            : lit.numbers[(row - lit.strings.size()) % lit.numbers.size()];
            sqlite3_bind_text(st, idx, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
        } else if (!lit.textPool.empty() && rng.below(10) < 4) {
            const std::string& v = lit.textPool[rng.below(lit.textPool.size())];
            sqlite3_bind_text(st, idx, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
        } else {
            std::string v = std::string(kWords[rng.below(10)]) + std::to_string(rng.below(20));
            sqlite3_bind_text(st, idx, v.c_str(), int(v.size()), SQLITE_TRANSIENT);
        }
        return;
    }
    if (!lit.numbers.empty() && (row < lit.numbers.size() || rng.below(10) < 3)) {
        const std::string& v = lit.numbers[row < lit.numbers.size() ? row : rng.below(lit.numbers.size())];
        sqlite3_bind_double(st, idx, std::strtod(v.c_str(), nullptr));
    } else if (a == Affinity::Integer) {
        sqlite3_bind_int64(st, idx, int64_t(rng.below(20)));
    } else {
        sqlite3_bind_double(st, idx, double(rng.below(10000)) / 100.0);
    }
}

void fillTable(sqlite3* db, const std::string& table, const Literals& lit, const SqlOptions& options, SplitMix64& rng) {
    const std::vector<std::pair<std::string, Affinity>> cols = tableColumns(db, table);
    if (cols.empty()) return;
    std::string insert = "INSERT INTO \"";
    for (char c : table) insert += c == '"' ? std::string("\"\"") : std::string(1, c);
    insert += "\" VALUES (";
    for (size_t i = 0; i < cols.size(); ++i) insert += i ? ",?" : "?";
    insert += ")";
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, insert.c_str(), -1, &s, nullptr);
    Stmt st(s);
    if (!st) return;
    const size_t planted = std::max(lit.strings.size(), lit.numbers.size());
    const size_t rows = planted + size_t(std::max(0, options.rowsPerTable));
    for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols.size(); ++c) bindValue(st.get(), int(c) + 1, cols[c].second, r, planted, lit, rng);
        sqlite3_step(st.get());
        sqlite3_reset(st.get());
    }
}

// A read-only, limited copy of the filled database for the queries to run in.
Db readOnlyCopy(sqlite3* build, std::string& error) {
    sqlite3_int64 size = 0;
    unsigned char* image = sqlite3_serialize(build, "main", &size, 0);
    if (!image) {
        error = "cannot serialise the database";
        return nullptr;
    }
    Db ro = openMemoryDatabase(SQLITE_OPEN_READWRITE);
    if (!ro) {
        sqlite3_free(image);
        error = "cannot open an in-memory database";
        return nullptr;
    }
    if (sqlite3_deserialize(ro.get(), "main", image, size, size,
                            SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
        error = "cannot load the database copy";
        return nullptr;
    }
    sqlite3_limit(ro.get(), SQLITE_LIMIT_LENGTH, 1 << 20);
    sqlite3_limit(ro.get(), SQLITE_LIMIT_SQL_LENGTH, 100000);
    sqlite3_limit(ro.get(), SQLITE_LIMIT_EXPR_DEPTH, 200);
    sqlite3_limit(ro.get(), SQLITE_LIMIT_COMPOUND_SELECT, 50);
    sqlite3_limit(ro.get(), SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_exec(ro.get(), "PRAGMA query_only = 1", nullptr, nullptr, nullptr);
    return ro;
}

// Builds the schema, fills it and returns a read-only copy; null when the schema cannot be built.
Db buildDatabase(const std::vector<std::string>& creates, std::string_view reference, std::string_view question,
                 const SqlOptions& options, std::string& error) {
    Db build = openMemoryDatabase(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (!build) {
        error = "cannot open an in-memory database";
        return nullptr;
    }
    if (!createSchema(build.get(), creates, error)) return nullptr;
    Literals lit;
    collectLiterals(reference, false, lit.strings, lit.numbers);
    collectLiterals(question, true, lit.strings, lit.numbers);
    lit.textPool = lit.strings;
    lit.textPool.insert(lit.textPool.end(), lit.numbers.begin(), lit.numbers.end());

    SplitMix64 rng{options.seed ^ fnv1a(reference) ^ (fnv1a(question) << 1)};
    sqlite3_exec(build.get(), "BEGIN", nullptr, nullptr, nullptr);
    for (const std::string& table : tableNames(build.get())) fillTable(build.get(), table, lit, options, rng);
    sqlite3_exec(build.get(), "COMMIT", nullptr, nullptr, nullptr);
    return readOnlyCopy(build.get(), error);
}

} // namespace

std::vector<std::string> extractCreateTables(std::string_view text) {
    std::vector<std::string> out;
    text = text.substr(0, std::min<size_t>(text.size(), kMaxScoredBytes));
    const std::string upper = upperAscii(text);
    size_t at = 0;
    while ((at = upper.find("CREATE TABLE", at)) != std::string::npos) {
        size_t open = upper.find('(', at);
        if (open == std::string::npos) break;
        int depth = 0;
        char quote = 0;
        size_t end = std::string::npos;
        for (size_t i = open; i < text.size(); ++i) {
            const char c = text[i];
            if (quote) {
                if (c == quote) quote = 0;
            } else if (c == '\'' || c == '"' || c == '`') {
                quote = c;
            } else if (c == '(') {
                ++depth;
            } else if (c == ')' && --depth == 0) {
                end = i + 1;
                break;
            }
        }
        if (end == std::string::npos) break;
        out.emplace_back(text.substr(at, end - at));
        at = end;
    }
    return out;
}

std::string extractSql(std::string_view output) {
    output = output.substr(0, std::min<size_t>(output.size(), kMaxScoredBytes));
    size_t fence = output.find("```");
    if (fence != std::string_view::npos) {
        size_t start = output.find('\n', fence);
        if (start != std::string_view::npos) {
            size_t end = output.find("```", start);
            output = output.substr(start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
        }
    }
    while (!output.empty() && isSpace(output.front())) output.remove_prefix(1);
    while (!output.empty() && isSpace(output.back())) output.remove_suffix(1);
    return std::string(output);
}

SqlScore scoreSql(std::string_view prediction, std::string_view reference, std::string_view context,
                  std::string_view question, const SqlOptions& options) {
    SqlScore s;
    prediction = prediction.substr(0, std::min<size_t>(prediction.size(), 100000));
    if (std::memchr(prediction.data(), 0, prediction.size())) {
        s.error = "not SQL (binary output)";
        return s;
    }
    const std::vector<std::string> creates = extractCreateTables(context);
    std::string error;
    Db db = buildDatabase(creates, reference, question, options, error);
    if (!db) {
        s.error = error;
        if (Db empty = openMemoryDatabase(SQLITE_OPEN_READWRITE)) {
            QueryResult p = runQuery(empty.get(), prediction, options);
            s.syntax = p.prepared || p.error.rfind("no such ", 0) == 0;
        }
        return s;
    }
    QueryResult ref = runQuery(db.get(), reference, options);
    s.referenceOk = ref.ok;
    QueryResult pred = runQuery(db.get(), prediction, options);
    s.parses = pred.prepared;
    // SQLite names unknown tables, columns and functions only after the statement parsed.
    s.syntax = pred.prepared || pred.error.rfind("no such ", 0) == 0;
    s.executed = pred.ok;
    if (!pred.ok) {
        s.error = pred.error;
        return s;
    }
    if (!ref.ok) {
        s.error = "the reference query failed: " + ref.error;
        return s;
    }
    if (!hasOrderBy(reference)) {
        std::sort(ref.rows.begin(), ref.rows.end());
        std::sort(pred.rows.begin(), pred.rows.end());
    }
    s.correct = ref.rows == pred.rows;
    if (!s.correct) s.error = "different result";
    return s;
}

} // namespace swarm::metrics
