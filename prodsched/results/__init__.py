"""What a schedule means: the plan view, key figures, gap analysis, Gantt charts and exports."""
