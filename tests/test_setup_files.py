"""The set-up files agree with each other: pins, the two commands, the CI entry point."""

import re
import tomllib

import yaml

from lesson_sources import ROOT


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pins(requirements):
    result = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        assert match, f"unpinned requirement: {line!r}"
        result[match.group(1).lower().replace("_", "-")] = match.group(2)
    return result


def project_pins():
    project = pyproject()["project"]
    return pins(project["dependencies"] + project["optional-dependencies"]["dev"])


def test_environment_yml_matches_pyproject():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert "-e ." in pip_section
    assert pins([line for line in pip_section if line != "-e ."]) == project_pins()
    assert any(str(item).startswith("python=") for item in environment["dependencies"])


def test_lock_file_agrees_with_pins():
    lock = pins(line for line in (ROOT / "requirements-lock.txt").read_text().splitlines() if line.strip())
    for name, version in project_pins().items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"


def test_readme_gives_the_two_commands_and_they_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for command in ("make lab", "make test"):
        assert command in readme
        assert re.search(rf"^{command.split()[1]}:", makefile, re.M)
    assert "notebooks/00_setup_and_tour.ipynb" in makefile


def test_ci_installs_torch_first_then_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert script.index("torch==2.13.0") < script.index("make test")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    stamp_recipe = makefile[makefile.index("$(STAMP):"):makefile.index("setup:")]
    assert stamp_recipe.index("torch==2.13.0") < stamp_recipe.index('-e ".[dev]"')


def test_workflows_are_valid_and_gpu_runs_on_the_documented_label():
    cpu = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    gpu = yaml.safe_load((ROOT / ".github" / "workflows" / "gpu.yml").read_text(encoding="utf-8"))
    assert any("bash .ci/run" in step.get("run", "") for step in cpu["jobs"]["test"]["steps"])
    job = gpu["jobs"]["notebooks-gpu"]
    assert job["runs-on"] == ["self-hosted", "linux", "gpu"]
    triggers = gpu[True] if True in gpu else gpu["on"]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "push" not in triggers
    assert any("make test-gpu" in step.get("run", "") for step in job["steps"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "self-hosted, linux, gpu" in readme
    assert re.search(r"^test-gpu:", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)


def test_module_map_lists_every_helper_module():
    import helpers

    modules = sorted(p.stem if p.is_file() else p.name for p in (ROOT / "helpers").iterdir()
                     if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").is_file()))
    doc = helpers.__doc__
    missing = [name for name in modules if f"``{name}``" not in doc]
    assert not missing, f"helpers/__init__.py's module map lacks: {missing}"


def test_readme_layout_lists_every_script_and_bench_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("## Contributing")]
    files = [p.name for folder in ("scripts", "bench") for p in (ROOT / folder).glob("*.py") if p.stem != "__init__"]
    missing = [name for name in files if name not in layout]
    assert not missing, f"README's layout section lacks: {missing}"
