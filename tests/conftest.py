import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

# Small projects with their own tests, run by `confirm --pytest` (tests/test_confirm_drives.py), not by this suite.
collect_ignore = ["projects"]
