"""Front-end sources (anywidget ESM + CSS) shipped inside the wheel as ``prodsched.widgets``."""
