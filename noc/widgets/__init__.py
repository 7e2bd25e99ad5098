"""The console's widgets: one widget a module, styles beside their screens."""
