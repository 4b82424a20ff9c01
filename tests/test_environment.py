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
