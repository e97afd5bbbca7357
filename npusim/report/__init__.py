"""Writers for results: JSON, CSV and the terminal table."""

from npusim.report.tables import layer_table, to_csv, to_json

__all__ = ["layer_table", "to_csv", "to_json"]
