"""The Qt layer of ganviz: it displays snapshots of the core and forwards user intent."""

import pyqtgraph as pg

# Scientific-figure look: dark lines on white, antialiased curves.
pg.setConfigOptions(background="w", foreground="#222222", antialias=False)

from ganviz.ui.main_window import MainWindow  # noqa: E402

__all__ = ["MainWindow"]
