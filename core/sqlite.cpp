#include "core/sqlite.h"

#include "core/error.h"

#include <sqlite3.h>

#include <atomic>

namespace swarm {

namespace {

std::string dbName(sqlite3* db) {
    const char* f = db ? sqlite3_db_filename(db, "main") : nullptr;
    return (f && *f) ? std::string(f) : std::string("project");
}

std::string shortSql(std::string_view sql) {
    std::string s(sql.substr(0, 80));
    for (char& c : s)
        if (c == '\n' || c == '\t') c = ' ';
    if (sql.size() > 80) s += "...";
    return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// SqlStatement

SqlStatement::SqlStatement(sqlite3* db, std::string_view sql) : db_(db) {
    const int rc = sqlite3_prepare_v3(db, sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = dbName(db) + ": cannot prepare '" + shortSql(sql) + "': " + sqlite3_errmsg(db);
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
        throw Error(msg);
    }
    if (!stmt_) throw Error(dbName(db) + ": empty SQL statement");
}

SqlStatement::~SqlStatement() { sqlite3_finalize(stmt_); }

SqlStatement::SqlStatement(SqlStatement&& o) noexcept : stmt_(o.stmt_), db_(o.db_) {
    o.stmt_ = nullptr;
}

SqlStatement& SqlStatement::operator=(SqlStatement&& o) noexcept {
    if (this != &o) {
        sqlite3_finalize(stmt_);
        stmt_ = o.stmt_;
        db_ = o.db_;
        o.stmt_ = nullptr;
    }
    return *this;
}

void SqlStatement::fail(const char* what, int rc) const {
    const char* sql = stmt_ ? sqlite3_sql(stmt_) : "";
    throw Error(dbName(db_) + ": " + what + " '" + shortSql(sql ? sql : "") + "' failed: " +
                (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
}

SqlStatement& SqlStatement::bind(int index, int64_t value) {
    if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bind(int index, double value) {
    if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bind(int index, std::string_view text) {
    if (int rc = sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                                     SQLITE_UTF8);
        rc != SQLITE_OK)
        fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bindBlob(int index, const void* data, size_t size) {
    static const char empty = 0;
    if (int rc = sqlite3_bind_blob64(stmt_, index, data ? data : &empty, size, SQLITE_TRANSIENT); rc != SQLITE_OK)
        fail("binding", rc);
    return *this;
}

SqlStatement& SqlStatement::bindNull(int index) {
    if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail("binding", rc);
    return *this;
}

bool SqlStatement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    std::string msg = dbName(db_) + ": '" + shortSql(sqlite3_sql(stmt_)) + "' failed: " + sqlite3_errmsg(db_);
    sqlite3_reset(stmt_);
    throw Error(msg);
}

void SqlStatement::run() {
    while (step()) {
    }
}

void SqlStatement::reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

bool SqlStatement::isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t SqlStatement::columnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqlStatement::columnDouble(int col) const { return sqlite3_column_double(stmt_, col); }

std::string_view SqlStatement::columnTextView(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p), size_t(n)) : std::string_view();
}

std::string SqlStatement::columnText(int col) const { return std::string(columnTextView(col)); }

std::string_view SqlStatement::columnBlob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string_view(static_cast<const char*>(p), size_t(n)) : std::string_view();
}

void sqlExec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = dbName(db) + ": '" + shortSql(sql) + "' failed: " + (err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        throw Error(msg);
    }
}

// ---------------------------------------------------------------------------------------------
// SqlTransaction

SqlTransaction::SqlTransaction(sqlite3* db) : db_(db) {
    if (sqlite3_get_autocommit(db)) {
        sqlExec(db, "BEGIN IMMEDIATE");
    } else {
        static std::atomic<uint64_t> counter{0};
        savepoint_ = "swarm_sp_" + std::to_string(++counter);
        sqlExec(db, "SAVEPOINT " + savepoint_);
    }
}

SqlTransaction::SqlTransaction(SqlTransaction&& o) noexcept : db_(o.db_), savepoint_(std::move(o.savepoint_)) {
    o.db_ = nullptr;
}

SqlTransaction::~SqlTransaction() {
    if (db_) {
        try {
            rollback();
        } catch (...) {
            // A failed rollback leaves SQLite to undo the transaction when the connection closes.
        }
    }
}

void SqlTransaction::commit() {
    if (!db_) throw Error("transaction already finished");
    sqlite3* db = db_;
    if (savepoint_.empty()) sqlExec(db, "COMMIT");
    else sqlExec(db, "RELEASE " + savepoint_);
    db_ = nullptr;
}

void SqlTransaction::rollback() {
    if (!db_) return;
    sqlite3* db = db_;
    db_ = nullptr;
    if (savepoint_.empty()) {
        if (!sqlite3_get_autocommit(db)) sqlExec(db, "ROLLBACK");
    } else {
        sqlExec(db, "ROLLBACK TO " + savepoint_);
        sqlExec(db, "RELEASE " + savepoint_);
    }
}

} // namespace swarm
