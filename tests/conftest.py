"""Test-wide settings: the smoke profile for notebooks and helpers, unless the caller chose one."""

import os

# Notebook kernels started by nbval inherit this environment.
os.environ.setdefault("COURSE_PROFILE", "smoke")
