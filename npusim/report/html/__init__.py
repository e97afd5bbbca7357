"""The self-contained HTML report: `collect` gathers one scheduled run (and numerics), the
page and its sections render it, `write_report` writes it; `npusim report` is `cli.main`.
"""

from npusim.report.html.cli import add_arguments, main
from npusim.report.html.collect import ReportInputs, collect
from npusim.report.html.page import render_html, write_report
from npusim.report.html.pieces import svg_data_uri
from npusim.report.html.sections import latency_by_op_type

__all__ = ["ReportInputs", "add_arguments", "collect", "latency_by_op_type", "main",
           "render_html", "svg_data_uri", "write_report"]
