"""Losses that can fail: hinge values on known inputs, feature-matching weights, the reference mel, and the
gradient of the wav/mel terms reaching the generator through the straight-through synthesizer."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from d2m_train.losses import (GeneratorLoss, LogMelSpectrogram, LossWeights, feature_matching_loss, hinge_d_loss,
                              hinge_g_loss)
from d2m_train.models import VQGenerator
from d2m_train.vqvae import JukeboxVQVAE, LevelSynthesizer, VQVAEHParams


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def outputs(*logits):
    """Discriminator outputs with one feature map (ones) before each logits map."""
    return [[torch.ones(1, 2, 3), torch.tensor(value, dtype=torch.float32).view(1, 1, -1)] for value in logits]


def test_hinge_discriminator_loss_on_known_logits():
    real = outputs([2.0, 0.5, -1.0], [1.0])  # relu(1 - x): 0, 0.5, 2 -> mean 2.5/3 ; scale 2: 0
    fake = outputs([-2.0, 0.0, 1.0], [-0.5])  # relu(1 + x): 0, 1, 2 -> mean 1 ; scale 2: 0.5
    assert hinge_d_loss(real, fake).item() == pytest.approx(2.5 / 3 + 0 + 1.0 + 0.5)


def test_hinge_generator_loss_on_known_logits():
    assert hinge_g_loss(outputs([1.0, 3.0], [-2.0])).item() == pytest.approx(-2.0 + 2.0)


def test_feature_matching_weight_and_detach():
    fake = [[torch.full((1, 1, 4), 1.0, requires_grad=True), torch.zeros(1, 1, 2)] for _ in range(3)]
    real = [[torch.full((1, 1, 4), 0.5, requires_grad=True), torch.zeros(1, 1, 2)] for _ in range(3)]
    loss = feature_matching_loss(fake, real, n_layers=4)
    assert loss.item() == pytest.approx(3 * (1 / 3) * (4 / 5) * 0.5)  # official weight 0.2667 per map
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None


def test_mel_matches_librosa_slaney_reference():
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(44100)).astype(np.float32)
    mel = LogMelSpectrogram()(torch.from_numpy(audio)[None])
    assert mel.shape == (1, 128, 172)
    padded = np.pad(audio, 384, mode="reflect")
    spec = np.abs(librosa.stft(padded, n_fft=1024, hop_length=256, win_length=1024, center=False))
    expected = np.log10(np.maximum(librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128) @ spec, 1e-5))
    np.testing.assert_allclose(mel[0].numpy(), expected, atol=2e-3)
    # The decoded prediction is shorter (44032 / 44096 samples) and still gives 172 frames.
    assert LogMelSpectrogram()(torch.zeros(2, 1, 44032)).shape == (2, 128, 172)
    assert LogMelSpectrogram()(torch.zeros(2, 1, 44096)).shape == (2, 128, 172)


def tiny_synthesizer(level: str = "high") -> LevelSynthesizer:
    torch.manual_seed(0)
    vqvae = JukeboxVQVAE(VQVAEHParams(l_bins=16, width=4, depth=1, multipliers=(1, 1, 1)))
    for block in vqvae.bottleneck.level_blocks:
        block.k.normal_()
    return LevelSynthesizer(vqvae, level)


def fake_d(latent):
    flat = latent.reshape(latent.shape[0], 1, -1)
    return [[flat[..., :8], flat[..., :4].mean(-1, keepdim=True)]]


@pytest.mark.parametrize("term", ["wav", "mel"])
@pytest.mark.parametrize("decoder_gradient", [True, False])
def test_wav_and_mel_gradients_reach_the_generator_unless_the_release_is_asked(term, decoder_gradient):
    """Paper reading: the terms train the generator. Release (decoder_gradient false): the same values in the total
    and the log, no gradient."""
    synth = tiny_synthesizer()
    torch.manual_seed(0)
    generator = VQGenerator("high", 32, channels=(2, 2, 2, 2, 2), sigma=1.0)
    audio = 0.3 * torch.randn(2, 44100)
    targets = synth.targets(audio)
    only = {name: 0.0 for name in ("adv", "fm", "c", "c_continuous", "wav", "mel")} | {term: 1.0}
    loss_fn = GeneratorLoss(LossWeights(**only, decoder_gradient=decoder_gradient), synth, n_layers=1)
    latent = generator(torch.randn(2, 1, 32))
    total, terms = loss_fn(latent, fake_d(latent), fake_d(targets.continuous), targets, audio)
    paper_total, _ = GeneratorLoss(LossWeights(**only), synth, n_layers=1)(latent, fake_d(latent),
                                                                            fake_d(targets.continuous), targets, audio)
    assert total.item() == pytest.approx(terms[f"g_{term}"].item()) == pytest.approx(paper_total.item())
    assert total.item() > 0
    total.backward()  # (the terms weighted 0 still hang on the graph: gradients exist, zero without the decode's)
    grads = [p.grad for p in generator.parameters()]
    assert all(g is not None for g in grads)
    assert (sum(g.abs().sum().item() for g in grads) > 0) is decoder_gradient
    assert all(p.grad is None for p in synth.parameters())  # the VQ-VAE stays frozen


def test_without_straight_through_the_official_decode_has_no_gradient():
    """The official path (argmin tokens decoded under no_grad) cannot train the generator: what we fix."""
    synth = tiny_synthesizer()
    latent = torch.randn(1, 64, 344, requires_grad=True)
    with torch.no_grad():
        official = synth.decode(synth.vqvae.dequantise(synth.vqvae.quantise(latent, 2), 2))
    assert not official.requires_grad
    ours = synth.synthesize(latent)
    torch.testing.assert_close(ours, official)  # same forward value
    ours.abs().mean().backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0


def test_codebook_loss_targets_the_lookup_of_the_real_audio():
    synth = tiny_synthesizer("low")
    audio = 0.3 * torch.randn(1, 44100)
    targets = synth.targets(audio)
    assert targets.continuous.shape == targets.quantised.shape == (1, 64, 1378)
    torch.testing.assert_close(targets.quantised,
                               synth.vqvae.bottleneck.level_blocks[1].k[targets.codes[0]].t()[None])
    weights = LossWeights(adv=0, fm=0, c=15, c_continuous=0, wav=0, mel=0)
    latent = targets.quantised + 0.5
    total, terms = GeneratorLoss(weights, synth, n_layers=1)(latent, fake_d(latent), fake_d(latent), targets, audio)
    assert terms["g_code"].item() == pytest.approx(0.5) and total.item() == pytest.approx(7.5)
    assert "g_wav" not in terms  # wav/mel skipped (no decode) when both weights are 0


def test_paper_weights_are_the_defaults():
    assert LossWeights() == LossWeights(adv=1.0, fm=3.0, c=15.0, c_continuous=0.0, wav=40.0, mel=15.0,
                                        decoder_gradient=True)
