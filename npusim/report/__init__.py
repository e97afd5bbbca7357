"""Writers for results: JSON, CSV and the terminal tables (the HTML report, trace and plots
live beside them and are imported on demand)."""

from npusim.report.tables import (
                                  compare_table,
                                  layer_table,
                                  plan_json,
                                  plan_table,
                                  summary_line,
                                  to_csv,
                                  to_json,
)

__all__ = ["compare_table", "layer_table", "plan_json", "plan_table", "summary_line",
           "to_csv", "to_json"]
