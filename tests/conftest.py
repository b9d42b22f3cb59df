"""Test-wide settings: the smoke profile for notebooks and helpers, unless the caller chose one."""

import os

# Notebook kernels started by nbval inherit this environment.
os.environ.setdefault("COURSE_PROFILE", "smoke")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def solved(request):
    """The solved exercise functions of the test module's lesson (its ``LESSON`` names the lesson source)."""
    from lesson_sources import exercise_namespace

    return exercise_namespace(request.module.LESSON)


@pytest.fixture(scope="module")
def stubs(request):
    """The learner's stubs of the same lesson."""
    from lesson_sources import exercise_namespace

    return exercise_namespace(request.module.LESSON, "notebooks")
