#pragma once
// The workbench's persistent settings (QSettings): machine, paths, cost model, appearance.
#include <QString>
#include <QStringList>

namespace swarm::ui {

struct AppSettings {
    int threads = 0;                  // 0 = all cores
    QString device = "cpu";           // cpu, cuda, cuda:N, auto
    QString modelsFolder;             // default folder for model dialogs
    QString runsFolder;               // where new training runs go
    QString exportFolder;
    double powerWatts = 15.0;         // machine draw while generating, for cost per million tokens
    double pricePerKwh = 0.30;
    QString theme = "light";          // light, dark
    QStringList recentProjects;

    static AppSettings load();
    void save() const;
    void addRecentProject(const QString& path);   // most recent first, at most 10
};

} // namespace swarm::ui
