"""Adversarial stability: FGSM and PGD equal captum.robust called directly, the L∞ budget in
grey levels, SSIM 1 for a map that ignores the input, and the share of flipped predictions."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from captum.robust import FGSM, PGD

from assurexray.evaluation.adversarial import adversarial_batch, normalised_budget
from assurexray.evaluation.baselines import centre_map
from assurexray.evaluation.stability import adversarial_ssim

SIZE = 32
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def normalise(grey: torch.Tensor) -> torch.Tensor:
    """An ``N×1×S×S`` grey image in [0, 1], replicated and normalised as the pipeline does."""
    mean = torch.tensor(MEAN)[None, :, None, None]
    std = torch.tensor(STD)[None, :, None, None]
    return (grey.expand(-1, 3, -1, -1) - mean) / std


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("test_efficientnet", pretrained=False, num_classes=3).eval()


@pytest.fixture(scope="module")
def grey() -> torch.Tensor:
    generator = torch.Generator().manual_seed(3)
    return torch.rand(3, 1, SIZE, SIZE, generator=generator) * 0.8 + 0.1


class MeanGrey(torch.nn.Module):
    """Class 0 when the mean grey level is above 0.5, class 1 below; margin = distance to 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = (x[:, 0] * STD[0] + MEAN[0]).mean(dim=(1, 2))
        return torch.stack([level - 0.5, 0.5 - level], dim=1) * 100


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_equal_captum_called_directly(tiny, grey, attack):
    targets = [0, 1, 2]
    perturbed, kept = adversarial_batch(
        tiny,
        normalise(grey),
        targets,
        attack=attack,
        epsilon=2,
        mean=MEAN,
        std=STD,
        steps=3,
        step_size=1,
    )

    def on_grey(g):
        return tiny(normalise(g))

    target = torch.tensor(targets)
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    if attack == "fgsm":
        direct = FGSM(on_grey, loss, lower_bound=0, upper_bound=1).perturb(grey, 2 / 255, target)
        by_hand = grey.clone().requires_grad_(True)  # x + ε sign(∇ CE), clipped to [0, 1]
        loss(on_grey(by_hand), target).sum().backward()
        step = torch.where(by_hand.grad.abs() > 1e-6, by_hand.grad.sign(), 0)  # Captum's 1e-6
        expected = (grey + 2 / 255 * step).clamp(0, 1)
        torch.testing.assert_close(direct, expected, atol=1e-6, rtol=0)
    else:
        direct = PGD(on_grey, loss, lower_bound=0, upper_bound=1).perturb(
            grey, radius=2 / 255, step_size=1 / 255, step_num=3, target=target
        )
    torch.testing.assert_close(perturbed, normalise(direct), atol=1e-5, rtol=0)
    with torch.no_grad():
        predicted = tiny(normalise(direct)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(kept, predicted == np.array(targets))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_the_perturbation_keeps_to_the_budget_in_grey_levels(tiny, grey, attack):
    batch = normalise(grey)
    perturbed, _ = adversarial_batch(
        tiny, batch, [0, 0, 0], attack=attack, epsilon=2, mean=MEAN, std=STD
    )
    change = perturbed - batch  # normalised units: 2/255/std[c] at most in channel c
    budget = torch.tensor(normalised_budget(2, STD))
    assert torch.all(change.abs().amax(dim=(0, 2, 3)) <= budget + 1e-5)
    pixels = change * torch.tensor(STD)[None, :, None, None]  # back in pixel units
    assert pixels.abs().max() <= 2 / 255 + 1e-6
    assert pixels.abs().max() >= 2 / 255 - 1e-6  # and the attack uses the budget
    torch.testing.assert_close(pixels[:, 0], pixels[:, 2], atol=1e-6, rtol=0)  # still grey
    assert normalised_budget(2, STD) == pytest.approx([2 / 255 / s for s in STD])


def test_a_map_that_ignores_the_input_is_perfectly_stable(tiny, grey):
    batch = normalise(grey)

    def fixed(x):
        return {"fixed": np.repeat(centre_map(SIZE)[None], len(x), axis=0)}, tiny(x)

    with torch.no_grad():
        predicted = [int(p) for p in tiny(batch).argmax(dim=1)]
    original, _ = fixed(batch)
    values, flipped = adversarial_ssim(
        fixed, tiny, batch, original, predicted, mean=MEAN, std=STD, epsilon=2, steps=2
    )
    assert len(flipped) == 2 * len(batch)
    assert len(values["fixed"]) == flipped.count(False) > 0
    assert min(values["fixed"]) == pytest.approx(1.0)


def test_the_flip_share_on_a_constructed_case():
    """Mean grey 0.505 and 0.495 are within 2/255 (0.0078) of the decision at 0.5: they flip;
    0.6 and 0.4 cannot."""
    levels = torch.tensor([0.505, 0.6, 0.4, 0.495])
    batch = normalise(levels[:, None, None, None].expand(-1, 1, SIZE, SIZE).clone())
    model = MeanGrey()
    predicted = [0, 0, 1, 1]
    for attack in ("fgsm", "pgd"):
        _, kept = adversarial_batch(
            model, batch, predicted, attack=attack, epsilon=2, mean=MEAN, std=STD
        )
        np.testing.assert_array_equal(kept, [False, True, True, False])
        _, kept = adversarial_batch(  # 1 grey level (0.0039) flips neither
            model, batch, predicted, attack=attack, epsilon=1, mean=MEAN, std=STD
        )
        assert kept.all()

    def maps(x):
        return {"image": (x[:, 0] * STD[0] + MEAN[0]).numpy()}, model(x)

    original, _ = maps(batch)
    values, flipped = adversarial_ssim(
        maps, model, batch, original, predicted, mean=MEAN, std=STD, epsilon=2
    )
    assert flipped == [True, False, False, True] * 2  # share 0.5
    assert len(values["image"]) == 4  # two kept images × two attacks


def test_bad_attacks_are_refused(tiny, grey):
    with pytest.raises(ValueError, match="unknown attack"):
        adversarial_batch(
            tiny, normalise(grey), [0] * 3, attack="cw", epsilon=2, mean=MEAN, std=STD
        )
    coloured = torch.randn(1, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match="grey"):
        adversarial_batch(tiny, coloured, [0], attack="fgsm", epsilon=2, mean=MEAN, std=STD)
