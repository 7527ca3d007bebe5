#pragma once
// A read-only table over a list of records (runs, rejected rows, route probabilities...): each
// column is a header and a function from a record and a role to the cell's value. Views show it;
// pages read the records back by row, never the cells' text.
#include <QAbstractTableModel>

#include <functional>
#include <utility>
#include <vector>

namespace swarm::ui {

template <class Record>
class RecordTableModel : public QAbstractTableModel {
public:
    struct Column {
        QString header;
        // The cell for a role (Qt::DisplayRole, Qt::ToolTipRole...); an invalid QVariant for roles it has none for.
        std::function<QVariant(const Record&, int role)> cell;
    };

    explicit RecordTableModel(std::vector<Column> columns = {}, QObject* parent = nullptr)
        : QAbstractTableModel(parent), columns_(std::move(columns)) {}

    void setRecords(std::vector<Record> records) {
        beginResetModel();
        records_ = std::move(records);
        endResetModel();
    }
    // For tables whose columns follow the records (one per compared model...).
    void setColumnsAndRecords(std::vector<Column> columns, std::vector<Record> records) {
        beginResetModel();
        columns_ = std::move(columns);
        records_ = std::move(records);
        endResetModel();
    }
    // The record shown in `row`, or null outside the table.
    const Record* recordAt(int row) const { return row >= 0 && row < int(records_.size()) ? &records_[size_t(row)] : nullptr; }

    int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : int(records_.size()); }
    int columnCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : int(columns_.size()); }
    QVariant data(const QModelIndex& index, int role) const override {
        const Record* record = recordAt(index.row());
        if (!record || index.column() < 0 || index.column() >= int(columns_.size())) return {};
        return columns_[size_t(index.column())].cell(*record, role);
    }
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override {
        if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= int(columns_.size())) return {};
        return columns_[size_t(section)].header;
    }

private:
    std::vector<Column> columns_;
    std::vector<Record> records_;
};

// A column that only displays a text: the usual cell of these tables.
template <class Record>
typename RecordTableModel<Record>::Column textColumn(const QString& header, std::function<QString(const Record&)> text) {
    return {header, [text = std::move(text)](const Record& r, int role) -> QVariant {
                if (role == Qt::DisplayRole) return text(r);
                return {};
            }};
}

} // namespace swarm::ui
