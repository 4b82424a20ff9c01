"""The one stage table: every reader agrees with it."""

import pytest

from companion import checkpoints, stages
from companion.config import CourseError
from companion.stages import BASELINE_METHODS
from companion.pipeline import method_config
from companion.config import load_profile


def test_every_stage_starts_from_a_stage_of_the_table():
    for row in stages.STAGES.values():
        assert row.after is None or row.after in stages.STAGES
        assert (stages.PROJECT_NOTEBOOKS / row.notebook).exists(), row.notebook
    assert set(BASELINE_METHODS) <= set(stages.UNLEARN_STAGES)
    assert set(stages.CONTROLS) <= set(stages.UNLEARN_STAGES)


def test_paths_follow_the_predecessors():
    assert stages.path_to("sequential") == ["baseline", "stabilised", "sequential"]
    assert stages.path_to("sequential", intermediate=False) == ["baseline", "sequential"]
    assert stages.path_to("oracle") == ["oracle"]
    assert stages.path_to("npo") == ["baseline", "npo"]
    assert stages.path_to("stabilised_all_blocks")[1] == "stabilised"
    assert stages.path_to("request-2") == ["baseline", "request-2"]


def test_request_stages_and_unknown_names():
    assert stages.request_number("request-12") == 12
    assert stages.request_number("request-x") is None
    with pytest.raises(CourseError, match="unknown stage 'finetuned'"):
        stages.stage("finetuned")
    # a variant's loss is no stage: the message names the stage that uses it
    with pytest.raises(CourseError, match="its stage is sequential_per_document"):
        stages.stage("per_document_ascent")


def test_the_controls_change_one_thing_each():
    profile = load_profile("offline", verbose=False)
    sequential = method_config(profile, "sequential")
    unstabilised = method_config(profile, "ascent_unstabilised")
    all_blocks = method_config(profile, "stabilised_all_blocks")
    assert unstabilised == sequential  # same ascent, but from the baseline
    assert stages.STAGES["ascent_unstabilised"].after == "baseline"
    assert all_blocks.trainable == "all" and all_blocks.method == sequential.method
    assert stages.STAGES["stabilised_all_blocks"].after == "stabilised"


def test_missing_checkpoints_name_the_notebook_from_the_table(tmp_path):
    message = checkpoints.missing_stage_message(tmp_path, "oracle")
    assert "notebooks/04_evaluation.ipynb" in message
