"""The shortcut report's verdict: plain sentences, each number beside its null and interval."""

from __future__ import annotations

from typing import Any

from assurexray.core.text import number, percent, with_interval


def _p(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3g}"


def verdict(report: dict[str, Any]) -> list[str]:
    """Sentences for the terminal and the report, from the report's sections."""
    out: list[str] = []
    if report.get("interrupted"):
        out.append(
            f"Interrupted after {report['num_images']} images: the numbers below describe "
            "those images only, and no flag is set."
        )
    flags = report.get("flags", [])
    arts = report["artefacts"]
    out.append(
        f"Artefacts (markers, text, rulers, stamps) were found on "
        f"{arts['images_with_artefacts']} of {report['num_images']} images ({arts['detector']})."
    )
    att = report["attention"]
    if att.get("n_images"):
        verb = "more" if "artefact_attention" in flags else "not clearly more"
        out.append(
            "Attention on artefacts: "
            f"{_share(att['mass_on_artefacts'], att['mass_on_artefacts_ci'])} of the heatmap on "
            f"{_share(att['area_on_artefacts'], att['area_on_artefacts_ci'])} "
            f"of the image: enrichment {with_interval(att['enrichment'], att['enrichment_ci'])} "
            f"(1 = as much as their size; the same shapes moved elsewhere in the same band: "
            f"combined p = {_p(att['p_value'])}), so {verb} than chance."
        )
    off = att["off_anatomy"]
    verb = "more" if "off_anatomy_attention" in flags else "not clearly more"
    out.append(
        f"Off the anatomy: {with_interval(off['mass'], off['mass_ci'], as_percent=True)} of the "
        f"heatmap on {with_interval(off['area'], off['area_ci'], as_percent=True)} of the image "
        f"(enrichment {with_interval(off['enrichment'], off['enrichment_ci'])}, p = "
        f"{_p(off['p_value'])}), {verb} than its share."
    )
    cf = report["counterfactual"]
    if cf.get("n_images"):
        verb = "changes" if "artefact_reliance" in flags else "does not materially change"
        effect = number(report["settings"]["min_effect"])
        why = (
            ""
            if "artefact_reliance" in flags
            else f" (a flag needs p below half the level and an excess of at least {effect} "
            "in |Δp| or flip rate)"
        )
        delta = with_interval(
            cf["mean_delta_probability"], cf["mean_delta_probability_ci"], digits=3
        )
        out.append(
            f"Removing the artefacts (inpainted, {cf['n_images']} images) flips "
            f"{with_interval(cf['flip_rate'], cf['flip_rate_ci'], as_percent=True)} of the "
            f"predictions and moves the explained class's probability by "
            f"{delta}; "
            f"inpainting the same shapes elsewhere flips "
            f"{with_interval(cf['control_flip_rate'], cf['control_flip_rate_ci'], as_percent=True)}"
            f" and moves it by {number(cf['control_mean_delta_probability'], 3)} (Wilcoxon p = "
            f"{_p(cf['p_value'])}, McNemar p = {_p(cf['mcnemar_p_value'])}): the removal "
            f"{verb} the predictions more than the control{why}."
        )
    probe = report["site_probe"]
    if probe.get("status") == "ok":
        meta = probe.get("metadata") or {}
        meta_text = (
            f"; from metadata alone {number(meta.get('balanced_accuracy'))}"
            if meta.get("status") == "ok"
            else ""
        )
        verb = "encode" if "site_encoded" in flags else "do not clearly encode"
        out.append(
            f"The center is predicted from the model's features with balanced accuracy "
            f"{with_interval(probe['balanced_accuracy'], probe['ci'])} (chance "
            f"{number(probe['chance'])}, permutation p = {_p(probe['p_value'])}{meta_text}): "
            f"the features {verb} the hospital. Predictable is not used (Glocker et al. 2023)."
        )
    else:
        out.append(f"Site probe skipped: {probe.get('reason')}.")
    sub = report["subgroups"]
    if sub.get("status") == "ok":
        gaps = [
            f"{col} = {t['group']}: {percent(t['accuracy'])} vs {percent(t['rest_accuracy'])}"
            for col, entry in sub["columns"].items()
            for t in entry["gap"]["tests"]
            if t["flagged"]
        ]
        out.append(
            "Subgroups clearly below the rest: " + "; ".join(gaps) + "."
            if gaps
            else "No subgroup is clearly less accurate than the rest."
        )
    else:
        out.append(f"Subgroups skipped: {sub.get('reason')}.")
    for cls, entry in report["strategies"].items():
        for c in entry.get("clusters", []):
            if c["suspect"]:
                out.append(
                    f"Strategy {cls} #{c['cluster']} ({c['size']} images) sits on artefacts or "
                    f"the border and mostly comes from center {c['dominant_center']}: "
                    f"{c['reason']}."
                )
    out.append(
        "Flags: "
        + (", ".join(flags) if flags else "none")
        + f" (level {report['settings']['alpha']})."
    )
    return out


def _share(value: float | None, bounds: list[float] | None) -> str:
    """A share as a percentage with one decimal: artefacts often cover well under 1 %."""
    return with_interval(value, bounds, as_percent=True, digits=1)
