"""JukeBox key compatibility (reference section 5) with checkpoints saved in the released layout, loader errors,
codebook mechanics and the offline VQ-VAE's training objective."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from click.testing import CliRunner

from d2m_train.cli import cli
from d2m_train.vqvae import (JUKEBOX_5B, JukeboxVQVAE, VQVAECheckpointError, VQVAEHParams, load_vqvae, save_vqvae)
from d2m_train.vqvae.train import estimate_bandwidth, vqvae_loss


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def jukebox_5b_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return JukeboxVQVAE(JUKEBOX_5B).state_dict()


def test_5b_layout_matches_the_released_checkpoint(jukebox_5b_state):
    state = jukebox_5b_state
    assert len(state) == 669
    assert sum(v.numel() for k, v in state.items() if not k.endswith(".k")) == 1_485_763
    for level, (enc, dec) in enumerate([(104, 106), (94, 96), (132, 134)]):
        assert sum(k.startswith(f"encoders.{level}.") for k in state) == enc
        assert sum(k.startswith(f"decoders.{level}.") for k in state) == dec
        assert state[f"bottleneck.level_blocks.{level}.k"].shape == (2048, 64)
    assert state["encoders.0.level_blocks.0.model.0.0.weight"].shape == (64, 1, 4)
    assert state["encoders.2.level_blocks.0.model.0.0.weight"].shape == (32, 1, 4)
    assert state["decoders.2.out.weight"].shape == (1, 64, 3)
    assert state["encoders.1.level_blocks.1.model.2.weight"].shape == (64, 32, 3)  # block 1's final k3 conv
    assert state["encoders.0.level_blocks.0.model.1.1.model.7.model.3.weight"].shape == (64, 64, 1)  # depth 8
    assert state["decoders.1.level_blocks.1.model.2.1.weight"].shape == (32, 64, 4)  # ConvTranspose (in, out, k)
    assert state["decoders.1.level_blocks.0.model.0.weight"].shape == (32, 64, 3)
    params = {level: (sum(v.numel() for k, v in state.items() if k.startswith(f"encoders.{level}.")),
                      sum(v.numel() for k, v in state.items() if k.startswith(f"decoders.{level}.")))
              for level in range(3)}
    assert params == {0: (441_856, 458_177), 1: (116_384, 124_641), 2: (168_224, 176_481)}


@pytest.fixture
def fake_jukebox(monkeypatch):
    """A stand-in ``jukebox.hparams.Hyperparams`` so the test can pickle a checkpoint like the released one."""
    package, module = types.ModuleType("jukebox"), types.ModuleType("jukebox.hparams")

    class Hyperparams(dict):
        def __getattr__(self, name):
            return self[name]

    Hyperparams.__module__, Hyperparams.__qualname__ = "jukebox.hparams", "Hyperparams"
    module.Hyperparams = Hyperparams
    package.hparams = module
    monkeypatch.setitem(sys.modules, "jukebox", package)
    monkeypatch.setitem(sys.modules, "jukebox.hparams", module)
    return Hyperparams


def test_loads_a_checkpoint_saved_in_the_released_layout(tmp_path, jukebox_5b_state, fake_jukebox, monkeypatch):
    """{'hps': jukebox Hyperparams, 'model': {'module.' + key}, 'opt', 'step'}, read without jukebox installed."""
    path = tmp_path / "vqvae.pth.tar"
    hps = fake_jukebox(levels=3, downs_t=(3, 2, 2), l_bins=2048, sr=44100)
    torch.save({"hps": hps, "model": {f"module.{k}": v for k, v in jukebox_5b_state.items()}, "opt": None,
                "step": 123}, path)
    monkeypatch.delitem(sys.modules, "jukebox")
    monkeypatch.delitem(sys.modules, "jukebox.hparams")
    model = load_vqvae(path)
    assert model.hparams == JUKEBOX_5B
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, jukebox_5b_state[key]), key
    assert model.encode(torch.zeros(1, 44100), 2).shape == (1, 64, 344)


def test_loads_a_bare_state_dict_like_the_d2m_files(tmp_path, jukebox_5b_state):
    torch.save(jukebox_5b_state, tmp_path / "vqvae_high.pt")
    assert len(load_vqvae(tmp_path / "vqvae_high.pt").state_dict()) == 669


def test_missing_and_incompatible_checkpoints_fail_clearly(tmp_path, jukebox_5b_state):
    with pytest.raises(VQVAECheckpointError, match="does not exist.*d2m-train vqvae"):
        load_vqvae(tmp_path / "absent.pth.tar")
    state = dict(jukebox_5b_state)
    state.pop("decoders.2.out.bias")
    state["decoders.1.out.weight"] = torch.zeros(1, 32, 3)
    torch.save({"model": state}, tmp_path / "bad.pt")
    with pytest.raises(VQVAECheckpointError, match=r"missing 1: decoders\.2\.out\.bias.*wrong shapes: "
                                                   r"decoders\.1\.out\.weight \(1, 32, 3\) != \(1, 64, 3\)"):
        load_vqvae(tmp_path / "bad.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(VQVAECheckpointError, match="cannot be read"):
        load_vqvae(tmp_path / "text.pt")
    result = CliRunner().invoke(cli, ["vqvae-check", str(tmp_path / "bad.pt")])
    assert result.exit_code == 2 and "missing 1" in result.output


def test_our_small_checkpoint_round_trips_with_its_hyperparameters(tmp_path):
    hparams = VQVAEHParams(l_bins=32, width=4, depth=1, multipliers=(1, 1, 1))
    model = JukeboxVQVAE(hparams)
    model.bottleneck.level_blocks[1].k.normal_()
    path = save_vqvae(model, tmp_path / "vqvae.pt", step=7)
    loaded = load_vqvae(path)
    assert loaded.hparams == hparams
    assert torch.equal(loaded.bottleneck.level_blocks[1].k, model.bottleneck.level_blocks[1].k)
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file
    result = CliRunner().invoke(cli, ["vqvae-check", str(path)])
    assert result.exit_code == 0 and "hops [8, 32, 128], codebooks 32x64" in result.output


def test_quantise_is_nearest_row_and_straight_through_passes_gradient():
    model = JukeboxVQVAE(VQVAEHParams(l_bins=4, width=4, depth=1, multipliers=(1, 1, 1)))
    block = model.bottleneck.level_blocks[0]
    block.k.copy_(torch.eye(4, 64) * 10)
    x = torch.zeros(1, 64, 3)
    x[0, 2, 0], x[0, 0, 1], x[0, 3, 2] = 9.0, 4.0, 20.0
    assert block.quantise(x).tolist() == [[2, 0, 3]]
    x.requires_grad_(True)
    out = block.straight_through(x)
    torch.testing.assert_close(out.detach(), block.dequantise(torch.tensor([[2, 0, 3]])))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))


def test_ema_codebook_update_and_training_objective():
    torch.manual_seed(0)
    model = JukeboxVQVAE(VQVAEHParams(l_bins=8, width=4, depth=1, multipliers=(1, 1, 1))).train()
    audio = 0.3 * torch.randn(2, 4096)
    bandwidth = estimate_bandwidth(audio)
    loss, metrics = vqvae_loss(model, audio, bandwidth, multispectral=1.0, linf=0.02, levels=(1,))
    assert model.bottleneck.level_blocks[1].initialised and not model.bottleneck.level_blocks[0].initialised
    assert set(metrics) == {"l1_l2", "l1_spec", "l1_commit", "l1_usage", "loss"}
    loss.backward()
    assert model.encoders[1].level_blocks[0].model[0][0].weight.grad is not None  # through the straight-through
    assert model.encoders[0].level_blocks[0].model[0][0].weight.grad is None  # level 0 not trained
