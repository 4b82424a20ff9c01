"""The project's set-up files agree with each other."""

import re
import tomllib

import yaml

from companion.config import PROJECT_ROOT

# conda-forge names some packages differently from PyPI
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_and_pyproject_name_the_same_packages():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    pip_names |= {_name(r) for extra in project["optional-dependencies"].values()
                  for r in extra}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_names = {CONDA_TO_PIP.get(_name(d), _name(d)) for d in conda} - {"python", "pip"}
    assert conda_names == pip_names
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section  # the course package itself


def test_design_card_packages_are_declared():
    text = (PROJECT_ROOT / "pyproject.toml").read_text()
    for package in ("jupyterlab", "torch", "transformers", "datasets", "seaborn",
                    "ipywidgets", "nbval"):
        assert f'"{package}' in text, package


def test_ci_runs_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make test" in readme and "make course" in readme
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_runs_folder_is_ignored():
    assert "runs/" in (PROJECT_ROOT / ".gitignore").read_text().split()


RUNTIME_EXEMPT = {"course.py", "student.py"}  # headless runs: the `jupyter` extra
IMPORT_TO_DIST = {"sklearn": "scikit-learn", "rouge_score": "rouge-score",
                  "yaml": "pyyaml",
                  # used directly, installed by the package they belong to
                  "IPython": "ipywidgets", "pyarrow": "datasets",
                  "huggingface_hub": "transformers"}


def _third_party_imports(sources: list[str]) -> set[str]:
    import sys

    found = set()
    for text in sources:
        statement = r"^\s*(?:import\s+(\w+)|from\s+(\w+)[\w.]*\s+import\b)"
        for match in re.finditer(statement, text, re.M):
            found.add(match[1] or match[2])
    return {IMPORT_TO_DIST.get(m, m) for m in found
            if m not in sys.stdlib_module_names and m not in ("companion", "google")}


def test_runtime_dependencies_are_what_the_notebooks_and_package_import():
    import json

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    sources = [p.read_text() for p in (PROJECT_ROOT / "companion").glob("*.py")
               if p.name not in RUNTIME_EXEMPT]
    for path in (PROJECT_ROOT / "notebooks").glob("*.ipynb"):
        sources += ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                    if c["cell_type"] == "code"]
    assert _third_party_imports(sources) == runtime
    # Colab's own Jupyter stack stays untouched: these live in the `jupyter` extra
    assert not runtime & {"jupyterlab", "ipykernel", "nbclient", "nbformat"}
    assert "ipywidgets>=7.6" in project["dependencies"]  # Colab ships ipywidgets 7
    assert "torch>=2.6" in project["dependencies"]  # transformers 5 refuses older torch


def test_a_missing_extra_is_one_line_naming_it():
    from companion.config import CourseError, import_extra

    try:
        import_extra("no_such_module_of_the_course", "jupyter")
    except CourseError as error:
        assert "'.[jupyter]'" in str(error) and "\n" not in str(error)
    else:
        raise AssertionError("no CourseError")
