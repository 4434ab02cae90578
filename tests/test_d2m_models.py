"""Model shapes and parameter counts against the reference (D2M_GAN_REFERENCE.md section 3).

Full-size networks are built on the meta device (shapes and counts without memory or compute); small widths run
for real. Official-code parameter counts were measured by instantiating the official modules (d2m_modules*.py).
"""

from __future__ import annotations

import pytest
import torch

from d2m_train.models import (D2MGenerator, MotionEncoder, MultiScaleDiscriminator, VQGenerator, VisualModule,
                              flatten_latent, input_length_for, stack_output_length)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


OFFICIAL = dict(res_units=4, norm="none")
OFFICIAL_D = dict(ndf=32, first_kernel=16, penultimate_channels=512)


@pytest.mark.parametrize("name, build, params", [
    ("TikTok high G", lambda: VQGenerator("high", 1024 + 2048, **OFFICIAL), 21_780_970),
    # The official AIST++ counts include the genre Embedding(10, 256) (2,560), built outside VQGenerator here.
    ("AIST high G", lambda: VQGenerator("high", 1024 + 2048 + 256, **OFFICIAL), 22_310_378 - 2_560),
    ("AIST low G", lambda: VQGenerator("low", 3328, low_length="linear", **OFFICIAL), 108_694_092 - 2_560),
    # The released TikTok low G has no input Linear (101,873,740 params, crashes); ours adds Linear(3072 -> 2048).
    ("TikTok low G, working", lambda: VQGenerator("low", 3072, low_length="linear", **OFFICIAL),
     101_873_740 + 3072 * 2048 + 2048),
    ("TikTok motion encoder", lambda: MotionEncoder(60, 75, arch="official", **OFFICIAL), 31_154_305),
    ("AIST motion encoder", lambda: MotionEncoder(120, 219, arch="official", **OFFICIAL), 31_361_665),
    ("discriminator ndf 32", lambda: MultiScaleDiscriminator(3, **OFFICIAL_D), 9_212_358),
])
def test_official_variants_have_the_official_parameter_counts(name, build, params):
    with torch.device("meta"):
        assert count(build()) == params, name


def test_paper_variant_parameter_counts():
    """Paper defaults (3-unit stacks, no normalisation of the main convs, T7 motion kernels, T11 ndf-16 D): the numbers
    we report. BatchNorm adds a weight and a bias per channel of each normalised conv, weight norm a gain per output
    channel: the widths of Tables A.8/A.9 (high 32..512; low 32..1024 and the 1024 head)."""
    high, low = 32 + 64 + 128 + 256 + 512, 32 + 64 + 128 + 256 + 512 + 1024 + 1024
    with torch.device("meta"):
        assert count(VQGenerator("high", 3072)) == 20_029_098
        assert count(VQGenerator("low", 3072)) == 103_812_050
        assert count(VQGenerator("high", 3072, norm="batch")) == 20_029_098 + 2 * high
        assert count(VQGenerator("low", 3072, norm="batch")) == 103_812_050 + 2 * low
        assert count(VQGenerator("low", 3072, norm="weight")) == 103_812_050 + low
        assert count(MotionEncoder(60, 75)) == 26_759_297
        assert count(MultiScaleDiscriminator()) == 16_924_086


@pytest.mark.parametrize("config", ["aist_low", "tiktok_low", "aist_high", "tiktok_high"])
def test_paper_configs_start_with_an_unsaturated_generator(config):
    """With BatchNorm after the 1024-wide head conv (fan-in 40960 into a k40 conv) over a third of the low
    generator's tanh outputs start beyond +-0.99, where tanh passes almost no gradient; the paper configs' reading
    (Tables A.8/A.9: no normalisation) starts below 5 %."""
    from d2m_train.builders import get_generator
    from d2m_train.config import load_config
    from d2m_train.data.segments import MOTION_SHAPES, VISUAL_SHAPE
    from d2m_train.models.generator import tanh_saturation

    torch.manual_seed(0)
    shares = {}
    for norm in ("paper", "batch") if config.endswith("low") else ("paper",):
        cfg = load_config(f"d2m_train/configs/{config}.yaml",
                          [] if norm == "paper" else [f"model.generator.norm={norm}"])
        generator = get_generator(cfg).train()
        frames, joint_dim = MOTION_SHAPES[cfg.data.dataset]
        with torch.no_grad(), tanh_saturation(generator.vq_generator) as measured:
            generator(motion=torch.randn(4, frames, joint_dim), video=torch.randn(4, *VISUAL_SHAPE))
        shares[norm] = measured[0]
    assert shares["paper"] < 0.05
    if "batch" in shares:
        assert shares["batch"] > 0.2  # the check sees a saturated generator


@pytest.mark.parametrize("level, length", [("high", 344), ("low", 1378)])
@pytest.mark.parametrize("variant", [{}, dict(low_length="linear", **OFFICIAL)])
def test_full_size_generators_emit_the_jukebox_latent(level, length, variant):
    with torch.device("meta"):
        out = VQGenerator(level, 3072, **variant)(torch.zeros(2, 1, 3072))
    assert out.shape == (2, 64, length)


def test_layer_lengths_match_the_official_trace():
    assert [stack_output_length("high", 2058)] == [344]
    assert stack_output_length("low", 2048) == 1045  # official, before Linear(1045 -> 1378)
    assert stack_output_length("low", 3072) == 1301  # the released TikTok low: its shape error
    assert input_length_for("low", 1378) == 3378 and stack_output_length("low", 3378) == 1378


@pytest.mark.parametrize("arch", ["paper", "official"])
def test_motion_encoders(arch):
    with torch.device("meta"):
        assert MotionEncoder(60, 75, arch=arch)(torch.zeros(3, 60, 75)).shape == (3, 1, 1024)
        assert MotionEncoder(120, 219, arch=arch)(torch.zeros(3, 120, 219)).shape == (3, 1, 1024)
    with pytest.raises(ValueError, match=r"\(B, 60, 75\)"):
        MotionEncoder(60, 75, hidden=64, channels=(4, 4, 4), out_dim=8)(torch.zeros(1, 120, 219))


@pytest.mark.parametrize("length, logits", [(344, (86, 43, 22)), (1378, (345, 173, 87))])
def test_discriminator_windows_per_scale(length, logits):
    """Official D on the reshaped latent (22016 / 88192 samples): 86/43/22 and 345/173/87 logits."""
    with torch.device("meta"):
        outputs = MultiScaleDiscriminator(3, **OFFICIAL_D)(torch.zeros(2, 64, length))
        paper = MultiScaleDiscriminator()(torch.zeros(2, 64, length))
    assert tuple(o[-1].shape[-1] for o in outputs) == logits
    assert tuple(o[-1].shape[-1] for o in paper) == logits
    assert all(len(o) == 7 and o[-1].shape[:2] == (2, 1) for o in outputs)
    assert [f.shape[1] for f in paper[0]] == [16, 64, 256, 1024, 1024, 1024, 1]  # Table A.11
    assert [f.shape[1] for f in outputs[0]] == [32, 128, 512, 1024, 1024, 512, 1]


def test_temporal_reshape_is_channel_major():
    latent = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert flatten_latent(latent)[0, 0].tolist() == list(range(12))  # channel 0's 4 frames, then channel 1's ...
    no_reshape = MultiScaleDiscriminator(1, reshape=False, ndf=8, max_channels=32, penultimate_channels=16)
    assert no_reshape(torch.randn(1, 64, 344))[0][-1].shape == (1, 1, 2)  # 344 frames / 4**4, vs 86 windows


def test_small_generator_runs_end_to_end_with_gradients():
    torch.manual_seed(0)
    vq = VQGenerator("low", 16 + 2048 + 8, channels=(4, 4, 8, 8, 8, 8))
    generator = D2MGenerator(vq, MotionEncoder(60, 75, hidden=64, channels=(4, 4, 8), out_dim=16),
                             VisualModule(2048, layers=1), torch.nn.Embedding(10, 8))
    latent = generator(torch.randn(2, 60, 75), torch.randn(2, 1, 2048), torch.tensor([1, 7]))
    assert latent.shape == (2, 64, 1378)
    assert latent.abs().max() <= 100.0  # tanh scaled by sigma
    latent.square().mean().backward()
    assert all(p.grad is not None for p in generator.parameters())


def test_visual_only_and_motion_only_generators():
    vq = VQGenerator("high", 2048, channels=(4, 4, 4, 4, 4))
    assert D2MGenerator(vq, visual=VisualModule())(video=torch.zeros(1, 1, 2048)).shape == (1, 64, 344)
    with pytest.raises(ValueError, match="video input"):
        D2MGenerator(vq, visual=VisualModule())(motion=torch.zeros(1, 60, 75))
    with pytest.raises(ValueError, match="needs motion, visual"):
        D2MGenerator(vq)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="low_length"):
        VQGenerator("low", 10, low_length="pad")
    with pytest.raises(ValueError, match="5 conv widths"):
        VQGenerator("high", 10, channels=(1, 2))
    with pytest.raises(ValueError, match="norm"):
        VQGenerator("high", 10, norm="layer")
    with pytest.raises(ValueError, match="divisible"):
        MultiScaleDiscriminator(ndf=12, max_channels=40)


@pytest.mark.parametrize("variant", [{}, dict(low_length="linear", norm="none", res_units=4)])
def test_the_latent_scale_runs_in_float32_under_bf16_autocast(variant):
    """In bf16, sigma * tanh moved in steps of 0.25-0.5 for |latent| >= 32. The head runs in float32 (CPU autocast
    stands in for CUDA's here)."""
    torch.manual_seed(0)
    generator = VQGenerator("low" if variant else "high", 32, channels=(4,) * (6 if variant else 5), **variant)
    fused = torch.randn(2, 1, 32)
    reference = generator(fused)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        latent = generator(fused)
    assert latent.dtype == torch.float32
    on_bf16_grid = (latent == latent.to(torch.bfloat16).float()).float().mean().item()
    assert on_bf16_grid < 0.5  # float32 values, not bf16 ones widened
    torch.testing.assert_close(latent, reference, atol=0.2 * generator.sigma / 100 + 0.05, rtol=0.05)
