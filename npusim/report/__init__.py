"""Writers for results: JSON, CSV and the terminal table."""

from npusim.report.tables import (compare_table, layer_table, plan_json, plan_table, to_csv,
                                  to_json)

__all__ = ["compare_table", "layer_table", "plan_json", "plan_table", "to_csv", "to_json"]
