"""Bad config values raise one clear error naming the field, the value and what is allowed."""

import pytest

from gan_core import Config, ConfigError, NetConfig


@pytest.mark.parametrize("changes,field", [
    ({"problem": "shoo"}, "problem"),
    ({"method": "gann"}, "method"),
    ({"G.activation": "gelu"}, "G.activation"),
    ({"D.activation": "elu"}, "D.activation"),
    ({"G.lr": 0.0}, "G.lr"),
    ({"D.lr": -1e-3}, "D.lr"),
    ({"G.lr": float("nan")}, "G.lr"),
    ({"G.betas": (0.9, 1.0)}, "G.betas"),
    ({"D.betas": (-0.1, 0.9)}, "D.betas"),
    ({"G.width": 0}, "G.width"),
    ({"D.depth": -1}, "D.depth"),
    ({"g_iters": 0}, "g_iters"),
    ({"d_iters": -1}, "d_iters"),
    ({"seeds": 0}, "seeds"),
    ({"iterations": 0}, "iterations"),
    ({"iterations": 2.5}, "iterations"),
    ({"soft_labels": 0.7}, "soft_labels"),
    ({"lr_decay": "cosine"}, "lr_decay"),
    ({"lr_gamma": 1.5}, "lr_gamma"),
    ({"dtype": "float16"}, "dtype"),
    ({"device": "tpu"}, "device"),
    ({"n_points": 1}, "n_points"),
    ({"failure_threshold": -1.0}, "failure_threshold"),
])
def test_bad_values_name_field_value_and_fix(changes, field):
    with pytest.raises(ConfigError) as e:
        Config.from_dict(changes)
    msg = str(e.value)
    assert msg.startswith(f"{field} = "), msg
    assert repr(next(iter(changes.values()))) in msg or str(next(iter(changes.values()))) in msg
    assert "expected" in msg
    assert "\n" not in msg


def test_unknown_keys_fail_loudly_with_their_name():
    with pytest.raises(ConfigError, match="unknown config key 'lerning_rate'"):
        Config.from_dict({"lerning_rate": 1e-3})
    with pytest.raises(ConfigError, match="unknown key 'G.widht'"):
        Config.from_dict({"G.widht": 20})


def test_round_trip_and_flat_aliases():
    cfg = Config.from_dict({"problem": "exp", "g_lr": 0.02, "D_width": 7, "G": {"depth": 5},
                            "G.betas": [0.5, 0.9]})
    assert cfg.G.lr == 0.02 and cfg.D.width == 7 and cfg.G.depth == 5
    assert cfg.G.betas == (0.5, 0.9)
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(seeds=9).seeds == 9
    assert Config().G == NetConfig()


def test_betas_can_be_set_one_at_a_time():
    cfg = Config.from_dict({"G.beta1": 0.5, "D.beta2": 0.99})
    assert cfg.G.betas == (0.5, 0.999) and cfg.D.betas == (0.9, 0.99)
    with pytest.raises(ConfigError, match=r"G.betas = \(1.5, 0.999\)"):
        Config.from_dict({"G.beta1": 1.5})
