from __future__ import annotations

from pathlib import Path

import pytest

from assurexray.core.config import Settings, load_settings
from assurexray.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_default_yaml_spells_out_the_built_in_defaults() -> None:
    assert load_settings(REPO / "configs" / "default.yaml") == Settings()


def test_values_override_and_others_keep_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("seed: 7\ngallery:\n  k: 5\ncompare:\n  thresholds: [0.3, 1]\n")
    settings = load_settings(path)
    assert settings.seed == 7 and settings.gallery.k == 5
    assert settings.compare.thresholds == [0.3, 1.0]
    assert settings.gallery.split == "test" and settings.model == Settings().model


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("")
    assert load_settings(tmp_path / "e.yaml") == Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gallery:\n  kk: 3\n", r"unknown key 'gallery.kk'"),
        ("colour: red\n", r"unknown key 'colour'"),
        ("gallery:\n  k: three\n", r"key 'gallery.k' must be of type int, got 'three'"),
        ("explain:\n  fast_path: 1\n", r"key 'explain.fast_path' must be of type bool"),
        ("seed: true\n", r"key 'seed' must be of type int"),
        (
            "compare:\n  thresholds: [0.5, high]\n",
            r"key 'compare.thresholds\[\]' must be of type float",
        ),
        ("model: efficientnet\n", r"model must be a mapping"),
        ("- a\n- b\n", r"the top level must be a mapping"),
        ("seed: [unclosed\n", r"not valid YAML"),
        ("gallery:\n  k: 7\n", r"key 'gallery.k' must be between 1 and 5, got 7"),
        ("explain:\n  alpha: 1.5\n", r"key 'explain.alpha' must be between 0 and 1"),
        ("infer:\n  batch_size: 0\n", r"key 'infer.batch_size' must be positive"),
        ("compare:\n  thresholds: []\n", r"key 'compare.thresholds' must be one or more"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "none.yaml")


def test_no_path_uses_project_file_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings() == Settings()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("seed: 3\n")
    assert load_settings().seed == 3


def test_rollout_settings_are_read_and_checked(tmp_path) -> None:
    from assurexray.core.config import load_settings
    from assurexray.core.errors import ConfigError

    good = tmp_path / "good.yaml"
    good.write_text("explain:\n  rollout:\n    head_fusion: max\n    discard_ratio: 0.5\n")
    settings = load_settings(good)
    assert settings.explain.rollout.head_fusion == "max"
    assert settings.explain.rollout.discard_ratio == 0.5
    assert load_settings(tmp_path / "good.yaml").explain.method == "gradcam"
    for text, key in [
        ("explain:\n  rollout:\n    head_fusion: median\n", "explain.rollout.head_fusion"),
        ("explain:\n  rollout:\n    discard_ratio: 1.0\n", "explain.rollout.discard_ratio"),
    ]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(bad)
