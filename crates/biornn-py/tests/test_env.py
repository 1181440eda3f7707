"""The gym-style environment shows the batch generator's trials and rewards as NeuroGym does."""

import os

import numpy as np
import pytest

import biornn


def trial(k, task="delaygo", seed=5):
    b = biornn.task_batch(task, batch=1, seed=seed, index=k, timing="per_trial")
    n = int(b["lengths"][0])
    return b["x"][:n, 0], b["class"][:n, 0]


def test_fixating_through_a_trial_sees_the_generated_trial():
    env = biornn.TaskEnv("delaygo", seed=5)
    ob, info = env.reset()
    x, gt = trial(0)
    seen, rewards = [ob], []
    for t in range(len(gt)):
        ob, r, terminated, truncated, info = env.step(0)
        assert not terminated and not truncated
        assert info["gt"] == gt[t]
        rewards.append(r)
        if t < len(gt) - 1:
            seen.append(ob)
            assert not info["new_trial"]
    np.testing.assert_array_equal(np.array(seen), x)
    # never answered a go trial: no reward, and the next trial began
    assert info["new_trial"] and rewards == [0.0] * len(gt)
    np.testing.assert_array_equal(ob, trial(1)[0][0])


def test_answering_right_is_rewarded_and_breaking_fixation_aborts():
    env = biornn.TaskEnv("delaygo", seed=5)
    env.reset()
    x, gt = trial(0)
    first = int(np.argmax(gt != 0))
    for t in range(first):
        ob, r, *_ , info = env.step(0)
        assert r == 0.0
    ob, r, _, _, info = env.step(int(gt[first]))
    assert r == 1.0 and info["new_trial"]
    np.testing.assert_array_equal(ob, trial(1)[0][0])
    # trial 1: answer at once, while fixation is required
    ob, r, _, _, info = env.step(3)
    assert r == pytest.approx(-0.1) and info["new_trial"]
    # trial 2: the wrong ring unit at the response
    x2, gt2 = trial(2)
    first = int(np.argmax(gt2 != 0))
    for _ in range(first):
        env.step(0)
    wrong = 1 + (int(gt2[first]) % 32)
    _, r, _, _, info = env.step(wrong)
    assert r == 0.0 and info["new_trial"]


def test_reset_with_a_seed_starts_that_seed_again_and_without_moves_on():
    env = biornn.TaskEnv("fdgo", seed=1)
    a, _ = env.reset(seed=9)
    env.step(0)
    b, _ = env.reset(seed=9)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, trial(0, "fdgo", 9)[0][0])
    # a reset without a seed begins the next trial, as an episode limit would call it
    c, _ = env.reset()
    np.testing.assert_array_equal(c, trial(1, "fdgo", 9)[0][0])
    assert env.trial_index == 1
    assert env.observation_space.shape == (85,) and env.action_space.n == 33
    with pytest.raises(ValueError, match="action"):
        env.step(33)


def test_gymnasium_accepts_it():
    try:
        from gymnasium.utils.env_checker import check_env
    except ImportError:
        if os.environ.get("BIORNN_REQUIRE_PYTHON"):
            raise
        pytest.skip("gymnasium not installed")
    env = biornn.TaskEnv("dm1", noise=False)
    check_env(env, skip_render_check=True)
    ob, _ = env.reset(seed=0)
    assert env.observation_space.contains(ob)
