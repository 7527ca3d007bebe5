#pragma once
// Small RAII helpers over the SQLite C API, for every module with tables in the project file.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace swarm {


// A prepared statement. Binding indices are 1-based (SQLite's); column indices 0-based.
// Every failure throws swarm::Error naming the database file and the statement.
class SqlStatement {
public:
    SqlStatement(sqlite3* db, std::string_view sql);
    ~SqlStatement();
    SqlStatement(SqlStatement&& o) noexcept;
    SqlStatement& operator=(SqlStatement&& o) noexcept;
    SqlStatement(const SqlStatement&) = delete;
    SqlStatement& operator=(const SqlStatement&) = delete;

    SqlStatement& bind(int index, int64_t value);
    SqlStatement& bind(int index, int value) { return bind(index, int64_t(value)); }
    SqlStatement& bind(int index, double value);
    SqlStatement& bind(int index, std::string_view text);             // copied by SQLite
    SqlStatement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    SqlStatement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    SqlStatement& bindBlob(int index, const void* data, size_t size);  // copied by SQLite
    SqlStatement& bindNull(int index);

    bool step();          // true: a row is available; false: done
    void run();           // steps to completion (statements that return no rows)
    void reset();         // ready to run again; bindings cleared

    bool isNull(int col) const;
    int64_t columnInt(int col) const;
    double columnDouble(int col) const;
    std::string columnText(int col) const;
    std::string_view columnTextView(int col) const;     // valid until the next step/reset
    std::string_view columnBlob(int col) const;         // valid until the next step/reset

    sqlite3_stmt* get() const { return stmt_; }

private:
    [[noreturn]] void fail(const char* what, int rc) const;
    sqlite3_stmt* stmt_ = nullptr;
    sqlite3* db_ = nullptr;
};

// Runs one or more statements that return no rows; throws naming the database on failure.
void sqlExec(sqlite3* db, const std::string& sql);

// A transaction (BEGIN IMMEDIATE ... COMMIT), or a savepoint when one is already open on the
// connection. Destroying it without commit() rolls back.
class SqlTransaction {
public:
    explicit SqlTransaction(sqlite3* db);
    ~SqlTransaction();
    SqlTransaction(SqlTransaction&& o) noexcept;
    SqlTransaction& operator=(SqlTransaction&&) = delete;
    SqlTransaction(const SqlTransaction&) = delete;
    SqlTransaction& operator=(const SqlTransaction&) = delete;
    void commit();
    void rollback();
    bool active() const { return db_ != nullptr; }

private:
    sqlite3* db_ = nullptr;
    std::string savepoint_;     // empty: a top-level transaction
};

} // namespace swarm
