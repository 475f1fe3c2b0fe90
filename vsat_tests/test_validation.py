"""A small `make validate`: a few replicate years from the planted truth through the estimator."""

import dataclasses

import pytest

from vsat_assets.contractor_sim.replicates import Scenario, validate
from vsat_assets.contractor_sim.truth import Truth


@pytest.mark.slow
def test_intervals_cover_calibration_removes_bias_and_changes_are_found():
    mar = Scenario(truth=dataclasses.replace(Truth(), mood_response=0.0))
    summary = validate(4, seed=7, scenario=mar)
    assert summary.intervals > 400
    assert 0.88 <= summary.coverage <= 1.0
    calibrated = sum(abs(v) for v in summary.bias_calibrated.values()) / 5
    design_only = sum(abs(v) for v in summary.bias_design.values()) / 5
    assert calibrated < design_only and design_only > 0.5
    assert summary.change_detected == {"kept_informed": 1.0, "whole_experience": 1.0}
    # 5% per test in expectation; four replicates' correlated tests leave room for chance
    assert summary.false_change_rate <= 0.10 and summary.false_change_rate_fdr <= 0.05
    assert summary.change_tests > 50
