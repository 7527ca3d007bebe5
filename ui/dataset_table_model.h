#pragma once
// The examples of one dataset as a table, paged from the project file: only the pages in view
// are read (256 rows each, a few kept), so 35k rows scroll smoothly.
#include "datasets/dataset_store.h"

#include <QAbstractTableModel>

#include <list>
#include <memory>
#include <optional>

namespace swarm::ui {

class DatasetTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Record, SplitColumn, Prompt, Response, Tokens, PromptTokens, Truncated, ColumnCount };
    static constexpr int kPageSize = 256;

    explicit DatasetTableModel(QObject* parent = nullptr);
    // store may be null (empty model); split empty = all splits.
    void setDataset(ProjectStore* store, int64_t datasetId, std::optional<Split> split);
    int64_t exampleIdAt(int row) const;
    int pagesRead() const { return pagesRead_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

private:
    const StoredExample* rowAt(int row) const;

    ProjectStore* store_ = nullptr;
    int64_t datasetId_ = 0;
    std::optional<Split> split_;
    int rows_ = 0;
    struct Page {
        int index = 0;
        std::vector<StoredExample> rows;
    };
    mutable std::list<Page> cache_;           // most recently used first
    mutable int pagesRead_ = 0;
};

} // namespace swarm::ui
