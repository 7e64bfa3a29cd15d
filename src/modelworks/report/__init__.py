"""Tables and plots for run reports (``report.md`` beside PNG files)."""

from modelworks.report._plots import bar_plot, line_plot, save_figure
from modelworks.report._results import read_notes, update_results_section
from modelworks.report._tables import fmt, markdown_table, rich_table

__all__ = ["update_results_section", "read_notes", "markdown_table", "rich_table", "fmt", "line_plot", "bar_plot", "save_figure"]
