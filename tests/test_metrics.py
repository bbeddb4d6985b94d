"""Metrics and calibration against cases whose answer is known by hand."""
import numpy as np
import pytest

from flashivy.evaluation.metrics import binary_report, eer, expected_calibration_error
from flashivy.models.calibration import calibrated_probs, capped_bias, fit_calibration


def test_ece_of_a_calibrated_and_an_overconfident_model():
    labels = np.array([1] * 7 + [0] * 3 + [1] * 2 + [0] * 8)
    probs = np.array([0.7] * 10 + [0.2] * 10)  # 7 of 10 fake at 0.7, 2 of 10 at 0.2: perfectly calibrated
    assert expected_calibration_error(labels, probs) == pytest.approx(0.0, abs=1e-12)
    # said 0.95 where 7 in 10 are fake, 0.05 where 2 in 10 are: |0.95-0.7| and |0.05-0.2|, half the faces each
    sure = np.array([0.95] * 10 + [0.05] * 10)
    assert expected_calibration_error(labels, sure) == pytest.approx(0.5 * 0.25 + 0.5 * 0.15)


def test_eer_where_the_error_rates_cross():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert eer(labels, np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])) == 0.0  # separable
    # one real above one fake: at the crossing a quarter of each class is on the wrong side
    assert eer(labels, np.array([0.1, 0.2, 0.3, 0.75, 0.6, 0.7, 0.8, 0.9])) == pytest.approx(0.25)


def test_binary_report_counts_frames_and_videos():
    labels = [0, 0, 1, 1, 1, 0]
    probs = [0.1, 0.3, 0.8, 0.6, 0.4, 0.2]
    videos = ["r1", "r1", "f1", "f1", "f2", "r2"]
    report = binary_report(labels, probs, videos)
    assert report["n_real"] == 3 and report["n_fake"] == 3
    assert report["accuracy"] == pytest.approx(5 / 6)  # the fake at 0.4 is missed at 0.5
    assert report["auc"] == 1.0 and report["video"]["auc"] == 1.0


def test_calibration_undoes_a_known_temperature_and_bias():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, 20_000)
    labels = (rng.random(20_000) < calibrated_probs(true_logits)).astype(float)
    # the model's logits are twice too confident and shifted by +1: sigmoid(logit / 2 - 0.5) is the truth
    temperature, bias = fit_calibration(2 * true_logits + 1, labels)
    assert temperature == pytest.approx(2.0, rel=0.05) and bias == pytest.approx(-0.5, abs=0.05)
    before = expected_calibration_error(labels, calibrated_probs(2 * true_logits + 1))
    after = expected_calibration_error(labels, calibrated_probs(2 * true_logits + 1, temperature, bias))
    assert after < 0.02 < before


def test_calibrated_probs_is_the_logistic_of_the_scaled_logit():
    assert calibrated_probs(np.array([0.0]))[0] == 0.5
    assert calibrated_probs(np.array([2.0]), temperature=2.0, bias=-1.0)[0] == 0.5
    assert calibrated_probs(np.array([np.log(3)]))[0] == pytest.approx(0.75)


def test_a_capped_bias_lets_through_at_most_the_share_of_real_logits_asked_for():
    real = np.random.default_rng(1).normal(0.5, 1.0, 2_000)  # a head that calls ~70 % of these photos fake
    temperature, fitted = 1.5, 0.3
    assert (calibrated_probs(real, temperature, fitted) >= 0.5).mean() > 0.5
    for rate in (0.03, 0.05, 0.2):
        bias = capped_bias(real, temperature, fitted, rate)
        assert bias < fitted
        assert rate - 0.002 <= (calibrated_probs(real, temperature, bias) >= 0.5).mean() <= rate
    # already within the cap, or no cap: the fitted bias stays
    assert capped_bias(real - 10, temperature, fitted, 0.05) == fitted
    assert capped_bias(real, temperature, fitted, 0.0) == fitted


def test_a_capped_bias_per_group_holds_the_hardest_group_to_the_cap():
    rng = np.random.default_rng(2)
    easy, hard = rng.normal(-4.0, 1.0, 900), rng.normal(0.0, 1.0, 100)  # many quiet photos, a few loud ones
    logits, groups = np.concatenate([easy, hard]), np.array(["easy"] * 900 + ["hard"] * 100)
    pooled = capped_bias(logits, 1.0, 0.0, 0.05)
    assert (calibrated_probs(hard, 1.0, pooled) >= 0.5).mean() > 0.3, "pooled, the easy group hides the hard one"
    per_group = capped_bias(logits, 1.0, 0.0, 0.05, groups=groups)
    assert per_group < pooled
    for part in (easy, hard):
        assert (calibrated_probs(part, 1.0, per_group) >= 0.5).mean() <= 0.05
    assert capped_bias(logits - 10, 1.0, 0.0, 0.05, groups=groups) == 0.0, "within the cap: the fitted bias"
