"""From per-image findings to the report's sections and flags.

Each flag is set only when its test says so at ``alpha`` (see README, "shortcuts"):

* ``artefact_attention``: Fisher-combined permutation p < alpha AND the enrichment
  interval above ``min_enrichment`` (:func:`~assurexray.shortcuts.attention.flag_attention`).
* ``off_anatomy_attention``: one-sided Wilcoxon of mass - area > 0 off the body mask,
  p < alpha, AND the enrichment interval above ``min_enrichment``.
* ``artefact_reliance``: removal versus control, Wilcoxon on |dp| or exact McNemar on
  flips, each at alpha / 2, AND an excess of at least ``min_effect``.
* ``site_encoded``: probe permutation p < alpha AND ``min_effect`` over chance.
* ``subgroup_gap``: a subgroup below the rest, Holm-corrected Fisher p < alpha / number of
  metadata columns, AND a gap of at least ``min_effect``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from assurexray.shortcuts.attention import AttentionSummary, RegionAttention, flag_attention
from assurexray.shortcuts.attention import summarise_attention as summarise
from assurexray.shortcuts.options import ShortcutsOptions
from assurexray.shortcuts.reliance import flag_reliance, reliance_effects
from assurexray.shortcuts.site_probe import flag_site_encoded, site_probe
from assurexray.shortcuts.strategies import describe_clusters, spectral_strategies
from assurexray.shortcuts.subgroups import subgroup_gap, subgroup_table

#: Metadata columns kept from the data set's table, when present.
METADATA_COLUMNS = ("center", "site", "angle", "gender", "age")
#: The site probe reads the pooled features through at most this many principal components,
#: and at most one per :data:`IMAGES_PER_COMPONENT` images (PCA is unsupervised: no center
#: enters it). A logistic regression on 1280 separable dimensions takes seconds per fit (the
#: null needs a thousand), and with more standardised components than a fold can support
#: the probe fits noise and falls below chance even on a site it could read.
PROBE_COMPONENTS = 32
IMAGES_PER_COMPONENT = 10
#: Fewest non-zero differences for the off-anatomy Wilcoxon test (as in reliance).
MIN_PAIRS = 5


def region_keys(summary: AttentionSummary, p_value: float | None) -> dict[str, Any]:
    """One region's attention summary under plain keys, each interval beside its value."""
    return {
        "n_images": summary.n_defined,
        "mass": summary.mean_mass,
        "mass_ci": summary.mass_ci,
        "area": summary.mean_area,
        "area_ci": summary.area_ci,
        "enrichment": summary.enrichment,
        "enrichment_ci": summary.enrichment_ci,
        "peak_rate": summary.peak_rate,
        "peak_rate_ci": summary.peak_ci,
        "p_value": p_value,
    }


def excess_p(items: Sequence[RegionAttention]) -> float | None:
    """One-sided Wilcoxon signed-rank p of ``mass - area > 0`` over the images."""
    d = np.array([r.mass - r.area for r in items if r.mass is not None], dtype=float)
    if np.count_nonzero(d) < MIN_PAIRS:
        return None
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="greater").pvalue)


def attention_section(
    frame: pd.DataFrame, regions: list[dict[str, RegionAttention]], o: ShortcutsOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """Attention on artefacts (images that have some), off the anatomy and on the border."""
    with_art = [i for i, r in enumerate(regions) if r["artefacts"].area > 0]
    groups = {"predicted": frame["predicted"].astype(str).tolist()}
    groups.update({c: frame[c].astype(str).tolist() for c in metadata_columns(frame)})
    art = summarise(
        [regions[i]["artefacts"] for i in with_art],
        {k: [v[i] for i in with_art] for k, v in groups.items()},
        o.seed,
        p_values=[None if pd.isna(v) else float(v) for v in frame["p_value"].iloc[with_art]],
    )
    art_flag = flag_attention(art, o.alpha, o.min_enrichment)
    out: dict[str, Any] = {
        "n_images": len(with_art),
        "mass_on_artefacts": art.mean_mass,
        "mass_on_artefacts_ci": art.mass_ci,
        "area_on_artefacts": art.mean_area,
        "area_on_artefacts_ci": art.area_ci,
        "enrichment": art.enrichment,
        "enrichment_ci": art.enrichment_ci,
        "peak_on_artefact_rate": art.peak_rate,
        "peak_on_artefact_rate_ci": art.peak_ci,
        "p_value": art.combined_p,
        "p_method": "Fisher's combination of per-image permutation p-values",
        "decision": art_flag.reason,
        "per_class": {k: v.to_dict() for k, v in art.groups.get("predicted", {}).items()},
        "per_subgroup": {
            col: {k: v.to_dict() for k, v in levels.items()}
            for col, levels in art.groups.items()
            if col != "predicted"
        },
    }
    reasons = {"artefact_attention": art_flag.reason} if art_flag.flagged else {}
    for name in ("off_anatomy", "border"):
        items = [r[name] for r in regions]
        summary = summarise(items, None, o.seed)
        p = excess_p(items)
        out[name] = region_keys(summary, p)
        out[name]["p_method"] = "one-sided Wilcoxon signed-rank of mass - area > 0"
        low = summary.enrichment_ci[0] if summary.enrichment_ci else None
        if name == "off_anatomy" and p is not None and p < o.alpha:
            if low is not None and low > o.min_enrichment:
                reasons["off_anatomy_attention"] = (
                    f"p = {p:.3g} < {o.alpha}; enrichment interval low {low:.3g} > "
                    f"{o.min_enrichment}"
                )
    return out, reasons


def counterfactual_section(
    frame: pd.DataFrame, names: Sequence[str], o: ShortcutsOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """Removal versus control on the images with artefacts whose both arms were predicted."""
    used = frame[frame["p_removed"].notna() & frame["p_control"].notna()]
    without_control = int((frame["p_removed"].notna() & frame["p_control"].isna()).sum())
    if used.empty:
        note = "no image with artefacts" if not without_control else "no control placed"
        return {"n_images": 0, "note": note, "without_control": without_control}, {}
    result = reliance_effects(
        used["p_baseline"].tolist(),
        used["p_removed"].tolist(),
        used["p_control"].tolist(),
        used["predicted_baseline"].tolist(),
        used["predicted_removed"].tolist(),
        used["predicted_control"].tolist(),
        seed=o.seed,
    )
    decision = flag_reliance(result, o.alpha, o.min_effect, o.min_effect)
    a, c = result.artefact, result.control
    out = {
        "n_images": result.n,
        "without_control": without_control,
        "flip_rate": a.flip_rate,
        "flip_rate_ci": a.flip_ci,
        "mean_delta_probability": a.mean_dp,
        "mean_delta_probability_ci": a.dp_ci,
        "mean_abs_delta_probability": a.mean_abs_dp,
        "mean_abs_delta_probability_ci": a.abs_dp_ci,
        "mean_delta_log_odds": a.mean_dlogodds,
        "mean_delta_log_odds_ci": a.dlogodds_ci,
        "control_flip_rate": c.flip_rate,
        "control_flip_rate_ci": c.flip_ci,
        "control_mean_delta_probability": c.mean_dp,
        "control_mean_delta_probability_ci": c.dp_ci,
        "control_mean_abs_delta_probability": c.mean_abs_dp,
        "p_value": result.wilcoxon.p_value,
        "mcnemar_p_value": result.mcnemar.p_value,
        "tests": {"wilcoxon": result.wilcoxon.__dict__, "mcnemar": result.mcnemar.__dict__},
        "flips": a.flips,
        "control_flips": c.flips,
        "decision": decision.reason,
    }
    return out, ({"artefact_reliance": decision.reason} if decision.flagged else {})


def strategies_section(
    frame: pd.DataFrame, maps: np.ndarray, o: ShortcutsOptions
) -> dict[str, Any]:
    """SpRAy per predicted class; a suspect cluster sits on artefacts/border and one center."""
    out: dict[str, Any] = {}
    for name in sorted(frame["predicted"].unique()):
        idx = np.flatnonzero((frame["predicted"] == name).to_numpy())
        clusters = spectral_strategies(
            maps[idx], grid=o.grid, n_neighbors=o.knn, min_size=o.min_cluster, seed=o.seed
        )
        sub = frame.iloc[idx]
        known = sub["label"].notna().all()
        described = describe_clusters(
            clusters,
            sub["mass_artefacts_or_border"].tolist(),
            correct=sub["correct"].astype(bool).tolist() if known else None,
            center=sub["center"].astype(str).tolist() if "center" in sub else None,
        )
        out[str(name)] = {
            **clusters.to_dict(),
            "images": sub["image_id"].astype(str).tolist(),
            "clusters": [d.__dict__ for d in described],
        }
    return out


def metadata_columns(frame: pd.DataFrame) -> list[str]:
    """Metadata columns with at least two known values."""
    return [
        c
        for c in METADATA_COLUMNS
        if c in frame and frame[c].notna().any() and frame[c].dropna().nunique() >= 2
    ]


def subgroup_section(
    frame: pd.DataFrame, names: Sequence[str], o: ShortcutsOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """Accuracy per subgroup of every metadata column (labels and metadata needed)."""
    columns = metadata_columns(frame)
    if frame["label"].isna().any():
        return {"status": "skipped", "reason": "no labels (--images)"}, {}
    if not columns:
        return {"status": "skipped", "reason": "no metadata columns with two or more values"}, {}
    level = o.alpha / len(columns)
    out: dict[str, Any] = {"status": "ok", "alpha_per_column": level, "columns": {}}
    flagged: list[str] = []
    for col in columns:
        table = subgroup_table(frame, col, "label", "predicted", list(names))
        gap = subgroup_gap(table, level, o.min_effect)
        out["columns"][col] = {"table": table.to_dict(), "gap": gap.to_dict()}
        flagged += [f"{col} = {g}" for g in gap.flagged_groups]
    if "center" in columns:
        out["center_by_class"] = pd.crosstab(frame["center"], frame["label"]).to_dict()
    reasons = {"subgroup_gap": "below the rest: " + ", ".join(flagged)} if flagged else {}
    return out, reasons


def probe_section(
    frame: pd.DataFrame, features: np.ndarray | None, o: ShortcutsOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """Can a linear probe tell the center from the pooled features? (and from metadata)"""
    if features is None:
        return {"status": "skipped", "reason": "the model has no linear classifier to tap"}, {}
    if "center" not in metadata_columns(frame):
        return {"status": "skipped", "reason": "no center column with two or more centers"}, {}
    known = frame["center"].notna().to_numpy()
    others = [c for c in metadata_columns(frame) if c != "center"]
    meta = frame.loc[known, others].reset_index(drop=True) if others else None
    x = features[known]
    components = min(PROBE_COMPONENTS, max(2, len(x) // IMAGES_PER_COMPONENT), x.shape[1])
    if components < x.shape[1]:
        from sklearn.decomposition import PCA

        x = PCA(components, random_state=o.seed).fit_transform(x)
    from sklearn import config_context
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # A thousand tiny fits: BLAS threads would only contend, and re-validating the same
    # finite arrays at every fit costs more than the fit.
    with threadpool_limits(1), config_context(assume_finite=True, skip_parameter_validation=True):
        result = site_probe(
            x,
            frame.loc[known, "center"].astype(str).tolist(),
            folds=o.probe_folds,
            permutations=o.probe_permutations,
            seed=o.seed,
            metadata=meta,
        )
    decision = flag_site_encoded(result, o.alpha, o.min_effect)
    out = {**result.to_dict(), "decision": decision.reason, "components": int(x.shape[1])}
    out["note"] = (
        "'predictable' is not 'used' (Glocker et al. 2023): the counterfactual removal is "
        "the test of use"
    )
    return out, ({"site_encoded": decision.reason} if decision.flagged else {})
