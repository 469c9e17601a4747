"""The Gantt charts' colours and legend names, shared by the widget, the HTML and the PNG (no imports:
the process drawing gantt.png loads this without pandas)."""

# Colour-blind-friendly qualitative palette; red is kept for late operations.
PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#EDC948", "#76B7B2", "#9C755F", "#FF9DA7",
           "#A0CBE8", "#FFBE7D", "#8CD17D", "#D4A6C8", "#86BCB6", "#F1CE63", "#BAB0AC", "#499894")
LATE_COLOR = "#D62728"
# How every legend (PNG, HTML, widget) names operations that have no class.
NO_CLASS = "(no class)"
