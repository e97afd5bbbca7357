"""Independent checkers of the pipeline's results, with their own accounting: every group of
a plan fits its SRAM, a timeline is consistent, a placement has no overlaps. The tests run
them on every plan; the pipeline itself never imports them.
"""

from npusim.verify.fusion import oversized_groups
from npusim.verify.schedule import placement_problems, timeline_problems

__all__ = ["oversized_groups", "placement_problems", "timeline_problems"]
