"""Lets the numerics tests import their shared helpers (numerics_oracle) under
--import-mode=importlib."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
