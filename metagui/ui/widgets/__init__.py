"""The window's widgets: drawing canvas, class panel, plots, settings bar."""
