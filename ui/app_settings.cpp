#include "ui/app_settings.h"

#include <QDir>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>

namespace swarm::ui {

AppSettings AppSettings::load() {
    QSettings s;
    AppSettings a;
    const QString home = QDir::homePath();
    a.threads = s.value("machine/threads", 0).toInt();
    a.device = s.value("machine/device", "cpu").toString();
    a.modelsFolder = s.value("paths/models", home).toString();
    a.runsFolder = s.value("paths/runs", QDir(home).filePath("swarm-runs")).toString();
    a.exportFolder = s.value("paths/exports", QDir(home).filePath("swarm-exports")).toString();
    a.powerWatts = s.value("cost/watts", 15.0).toDouble();
    a.pricePerKwh = s.value("cost/price_per_kwh", 0.30).toDouble();
    a.theme = s.value("appearance/theme", "light").toString();
    a.recentProjects = s.value("projects/recent").toStringList();
    return a;
}

void AppSettings::save() const {
    QSettings s;
    s.setValue("machine/threads", threads);
    s.setValue("machine/device", device);
    s.setValue("paths/models", modelsFolder);
    s.setValue("paths/runs", runsFolder);
    s.setValue("paths/exports", exportFolder);
    s.setValue("cost/watts", powerWatts);
    s.setValue("cost/price_per_kwh", pricePerKwh);
    s.setValue("appearance/theme", theme);
    s.setValue("projects/recent", recentProjects);
}

void AppSettings::addRecentProject(const QString& path) {
    const QString canonical = QFileInfo(path).absoluteFilePath();
    recentProjects.removeAll(canonical);
    recentProjects.prepend(canonical);
    while (recentProjects.size() > 10) recentProjects.removeLast();
}

} // namespace swarm::ui
