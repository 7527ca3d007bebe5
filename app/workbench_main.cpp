// `swarm-workbench [PROJECT]`: the desktop face of the workbench.
//   --screenshot FILE --page NAME [--size WxH]   render a page to PNG and exit (README pictures)
//   --theme light|dark
#include "core/process_env.h"
#include "model/runtime.h"
#include "ui/app_settings.h"
#include "ui/main_window.h"
#include "ui/swarm_page.h"
#include "ui/theme.h"
#include "app/project_schemas.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>

int main(int argc, char** argv) {
    swarm::ensureThreadingEnvironment(argc, argv);
    swarm::registerProjectSchemas();
    QApplication app(argc, argv);
    QApplication::setApplicationName("swarm-workbench");
    QApplication::setOrganizationName("swarm-workbench");
    QApplication::setApplicationVersion(SWARM_VERSION);
    QApplication::setDesktopFileName("swarm-workbench");

    QCommandLineParser parser;
    parser.setApplicationDescription("Swarm Workbench: build, evaluate and export small MoE specialists.");
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument("project", "Project file to open (created when missing).", "[PROJECT]");
    QCommandLineOption screenshot("screenshot", "Render a page to a PNG file and exit.", "file");
    QCommandLineOption page("page", "The page to show: datasets, train, evaluate, playground, swarm, export.", "name");
    QCommandLineOption size("size", "Window size for --screenshot, e.g. 1280x800.", "WxH", "1280x800");
    QCommandLineOption theme("theme", "light or dark (default: the saved setting).", "name");
    QCommandLineOption swarmRequest("swarm-request",
                                    "With --screenshot: send TEXT through the Swarm page's swarm and grab once it is answered.",
                                    "text");
    parser.addOptions({screenshot, page, size, theme, swarmRequest});
    parser.process(app);

    swarm::ui::AppSettings settings = swarm::ui::AppSettings::load();
    swarm::applyThreadCount(settings.threads);
    swarm::ui::applyTheme(parser.isSet(theme) ? parser.value(theme) : settings.theme);

    swarm::ui::MainWindow window;
    if (!parser.positionalArguments().isEmpty() && !window.openProject(parser.positionalArguments().first())) return 1;
    if (parser.isSet(page) && !window.showPage(parser.value(page))) {
        std::fprintf(stderr, "swarm-workbench: unknown page '%s' (pages: %s)\n", qPrintable(parser.value(page)),
                     qPrintable(window.pageNames().join(", ")));
        return 2;
    }
    if (parser.isSet(screenshot)) {
        const QStringList wh = parser.value(size).split('x');
        if (wh.size() == 2) window.resize(wh[0].toInt(), wh[1].toInt());
        window.show();
        auto grab = [&] {
            const bool ok = window.grab().save(parser.value(screenshot), "PNG");
            if (!ok) std::fprintf(stderr, "swarm-workbench: cannot write %s\n", qPrintable(parser.value(screenshot)));
            QApplication::exit(ok ? 0 : 1);
        };
        if (parser.isSet(swarmRequest)) {
            swarm::ui::SwarmPage* swarmPage = window.swarmPage();
            window.showPage("swarm");
            QObject::connect(swarmPage, &swarm::ui::SwarmPage::requestFinished, &window, [&](bool ok, const QString& summary) {
                if (!ok) std::fprintf(stderr, "swarm-workbench: the swarm request failed: %s\n", qPrintable(summary));
                QTimer::singleShot(300, &window, grab);
            });
            swarmPage->setRequestText(parser.value(swarmRequest));
            if (!swarmPage->send()) {
                std::fprintf(stderr, "swarm-workbench: cannot send the request: %s\n", qPrintable(swarmPage->editorMessage()));
                return 1;
            }
            return app.exec();
        }
        // Let layouts settle and charts paint before grabbing.
        QTimer::singleShot(600, &window, grab);
        return app.exec();
    }
    window.show();
    return app.exec();
}
