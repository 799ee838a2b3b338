"""The table of the tests behind the ``shortcuts`` flags, for its page
(:mod:`assurexray.reporting.shortcut_page`): one row per test, the measured value beside
its null or chance with its interval, the p-value, the level and whether the flag is set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from assurexray.core.text import number, percent, with_interval

TEST_COLUMNS = ["test", "measured", "null / chance", "p-value", "level", "flag"]


def p_value(value: Any) -> str:
    return "" if value is None else f"{value:.3g}"


def share(value: Any, interval: Any) -> str:
    return with_interval(value, interval, as_percent=True)


def _flag(name: str | None, flags: Sequence[str]) -> str:
    if name is None:
        return "not a flag"
    return f"yes ({name})" if name in flags else "no"


def _skipped(test: str, entry: Mapping[str, Any], why: str = "") -> list[str]:
    reason = why or entry.get("reason") or entry.get("note") or "not run"
    return [test, f"skipped: {reason}", "", "", "", ""]


def test_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """One row per test: measured beside its null, the p-value, the level, the flag."""
    flags = report.get("flags", [])
    alpha = report.get("settings", {}).get("alpha", 0.05)
    level = f"{alpha:g}"
    att = report.get("attention", {})
    rows: list[list[str]] = []
    if att.get("n_images"):
        rows += [
            [
                f"attention on artefacts ({att['n_images']} images): heatmap mass vs area",
                share(att.get("mass_on_artefacts"), att.get("mass_on_artefacts_ci")),
                share(att.get("area_on_artefacts"), att.get("area_on_artefacts_ci")),
                p_value(att.get("p_value")),
                level,
                _flag("artefact_attention", flags),
            ],
            [
                "attention on artefacts: enrichment (mass / area)",
                with_interval(att.get("enrichment"), att.get("enrichment_ci")),
                "1 (as much as their size)",
                "",
                "",
                "",
            ],
        ]
    else:
        rows.append(_skipped("attention on artefacts", att, "no image with artefacts"))
    for key, name, flag in (
        ("off_anatomy", "off the anatomy", "off_anatomy_attention"),
        ("border", "border band", None),
    ):
        region = att.get(key) or {}
        if not region.get("n_images"):
            rows.append(_skipped(name, region, "no image analysed"))
            continue
        rows.append(
            [
                f"{name}: heatmap mass vs area (enrichment "
                f"{with_interval(region.get('enrichment'), region.get('enrichment_ci'))})",
                share(region.get("mass"), region.get("mass_ci")),
                share(region.get("area"), region.get("area_ci")),
                p_value(region.get("p_value")),
                level if flag else "",
                _flag(flag, flags),
            ]
        )
    rows += _counterfactual_rows(report.get("counterfactual", {}), flags, alpha)
    rows += _probe_rows(report.get("site_probe", {}), flags, level)
    rows += _gap_rows(report.get("subgroups", {}), flags)
    return rows


def _counterfactual_rows(
    cf: Mapping[str, Any], flags: Sequence[str], alpha: float
) -> list[list[str]]:
    if not cf.get("n_images"):
        return [_skipped("counterfactual removal vs control", cf)]
    half = f"{alpha / 2:g}"
    n = cf["n_images"]
    return [
        [
            f"artefacts removed vs control ({n} images): predictions flipped (McNemar)",
            share(cf.get("flip_rate"), cf.get("flip_rate_ci")),
            share(cf.get("control_flip_rate"), cf.get("control_flip_rate_ci")),
            p_value(cf.get("mcnemar_p_value")),
            half,
            _flag("artefact_reliance", flags),
        ],
        [
            "artefacts removed vs control: mean |Δp| (Wilcoxon)",
            with_interval(
                cf.get("mean_abs_delta_probability"), cf.get("mean_abs_delta_probability_ci")
            ),
            number(cf.get("control_mean_abs_delta_probability")),
            p_value(cf.get("p_value")),
            half,
            _flag("artefact_reliance", flags),
        ],
        [
            "artefacts removed vs control: mean Δp of the explained class",
            with_interval(cf.get("mean_delta_probability"), cf.get("mean_delta_probability_ci")),
            with_interval(
                cf.get("control_mean_delta_probability"),
                cf.get("control_mean_delta_probability_ci"),
            ),
            "",
            "",
            "",
        ],
    ]


def _probe_rows(probe: Mapping[str, Any], flags: Sequence[str], level: str) -> list[list[str]]:
    if probe.get("status") != "ok":
        return [_skipped("site probe (center from the features)", probe)]
    rows = [
        [
            f"site probe: center from the features ({probe.get('n')} images, balanced accuracy)",
            with_interval(probe.get("balanced_accuracy"), probe.get("ci")),
            f"{number(probe.get('chance'))} chance; permutation null mean "
            f"{number(probe.get('null_mean'))}",
            p_value(probe.get("p_value")),
            level,
            _flag("site_encoded", flags),
        ]
    ]
    meta = probe.get("metadata") or {}
    if meta.get("status") == "ok":
        rows.append(
            [
                "site probe: features vs metadata alone (balanced accuracy)",
                with_interval(probe.get("balanced_accuracy"), probe.get("ci")),
                f"{with_interval(meta.get('balanced_accuracy'), meta.get('ci'))} from metadata",
                p_value(meta.get("p_value")),
                "",
                "not a flag",
            ]
        )
    return rows


def _gap_rows(sub: Mapping[str, Any], flags: Sequence[str]) -> list[list[str]]:
    if sub.get("status") != "ok":
        return [_skipped("subgroup gap", sub)]
    rows = []
    for column, entry in sub.get("columns", {}).items():
        tests = [t for t in entry["gap"]["tests"] if t.get("p_holm") is not None]
        if not tests:
            continue
        worst = min(tests, key=lambda t: t["p_holm"])
        rows_by_group = {r["group"]: r for r in entry.get("table", {}).get("rows", [])}
        interval = rows_by_group.get(worst["group"], {}).get("accuracy_ci")
        flagged = worst["flagged"] and "subgroup_gap" in flags
        rows.append(
            [
                f"subgroup gap: {column} = {worst['group']} ({worst['n']} images) vs the rest, "
                "accuracy (Fisher, Holm)",
                share(worst.get("accuracy"), interval),
                f"{percent(worst.get('rest_accuracy'))} the rest",
                p_value(worst["p_holm"]),
                f"{sub.get('alpha_per_column', 0):.3g}",
                "yes (subgroup_gap)" if flagged else "no",
            ]
        )
    return rows or [_skipped("subgroup gap", sub, "no subgroup to compare")]
