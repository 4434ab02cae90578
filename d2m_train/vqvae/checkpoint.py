"""Loading and saving VQ-VAE weights in the JukeBox layout.

Accepted files (always read with ``torch.load(weights_only=True)``, nothing is executed):
- the released JukeBox checkpoint ``vqvae.pth.tar`` (a dict with 'hps', 'model', 'opt', 'step'; 'model' keys maybe
  prefixed 'module.'; 'hps' is a ``jukebox.hparams.Hyperparams``, read here as a plain dict without jukebox);
- a D2M-GAN ``vqvae_*.pt`` (a bare JukeBox state_dict);
- what ``save_vqvae`` writes: {'format', 'hps' (plain dict of ``VQVAEHParams``), 'model', 'step', 'metrics'}.
Foreign files carry no hyperparameters we can use, so they are read as the JukeBox 5b VQ-VAE; the codebook size
is taken from ``bottleneck.level_blocks.0.k``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from d2m_train.vqvae.hparams import JUKEBOX_5B, VQVAEHParams
from d2m_train.vqvae.jukebox import JukeboxVQVAE
from tiktok_dm.model.atomic import atomic_path

FORMAT = "d2m-train/jukebox-vqvae/v1"


class VQVAECheckpointError(ValueError):
    """The VQ-VAE file is missing, unreadable or not in the JukeBox layout."""


class _JukeboxHyperparams(dict):
    """Stands in for ``jukebox.hparams.Hyperparams`` (a dict subclass) while unpickling: becomes a plain dict."""

    def __new__(cls, *args, **kwargs):
        return dict()


def read_vqvae_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """(state_dict with any 'module.' prefix removed, our hyperparameters or None)."""
    path = Path(path)
    if not path.is_file():
        raise VQVAECheckpointError(
            f"VQ-VAE checkpoint {path} does not exist. Give the released JukeBox file (vqvae.pth.tar from "
            "openaipublic .../jukebox/models/5b/) or train one offline with `d2m-train vqvae`.")
    try:
        with torch.serialization.safe_globals([(_JukeboxHyperparams, "jukebox.hparams.Hyperparams")]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure is reported the same way
        raise VQVAECheckpointError(
            f"{path}: cannot be read as a torch checkpoint of tensors ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200]}). Re-save only its state_dict, e.g. "
            "torch.save(torch.load(p, weights_only=False)['model'], 'vqvae_state.pt') where jukebox is installed."
        ) from None
    if not isinstance(data, dict):
        raise VQVAECheckpointError(f"{path}: expected a dict, got {type(data).__name__}")
    hps = None
    if "model" in data and isinstance(data["model"], dict):
        if data.get("format") == FORMAT:
            hps = data.get("hps")
        data = data["model"]
    state = {(key[len("module."):] if key.startswith("module.") else key): value for key, value in data.items()}
    if not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise VQVAECheckpointError(f"{path}: the model entry is not a state_dict of tensors")
    return state, hps


def load_vqvae(path: str | Path, hparams: VQVAEHParams | None = None, device: str | torch.device = "cpu"
               ) -> JukeboxVQVAE:
    """A frozen (eval, no grad) VQ-VAE from ``path``; every key and shape must match the JukeBox layout."""
    state, saved_hps = read_vqvae_file(path)
    if hparams is None:
        if saved_hps is not None:
            hparams = VQVAEHParams.from_dict(saved_hps)
        else:
            codebook = state.get("bottleneck.level_blocks.0.k")
            hparams = (dataclasses.replace(JUKEBOX_5B, l_bins=codebook.shape[0], emb_width=codebook.shape[1])
                       if codebook is not None and codebook.dim() == 2 else JUKEBOX_5B)
    model = JukeboxVQVAE(hparams)
    check_state_dict(model, state, path)
    model.load_state_dict(state)
    for block in model.bottleneck.level_blocks:
        block.initialised = True
    model.requires_grad_(False).eval()
    return model.to(device)


def check_state_dict(model: JukeboxVQVAE, state: dict[str, torch.Tensor], path: str | Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = [f"{path} is not a JukeBox VQ-VAE state of the expected layout ({len(expected)} entries, "
                 f"file has {len(state)})"]
        if missing:
            parts.append(f"missing {len(missing)}: {', '.join(missing[:4])}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {', '.join(unexpected[:4])}")
        if wrong:
            parts.append("wrong shapes: " + ", ".join(f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
                                                        for k in wrong[:4]))
        raise VQVAECheckpointError("; ".join(parts))


def save_vqvae(model: JukeboxVQVAE, path: str | Path, step: int = 0, metrics: dict | None = None) -> Path:
    """Write ``model`` atomically in the JukeBox layout, with plain-dict hyperparameters."""
    payload = {"format": FORMAT, "hps": model.hparams.to_dict(), "model": model.state_dict(), "step": step,
               "metrics": metrics or {}}
    return atomic_torch_save(payload, path)


def atomic_torch_save(payload: object, path: str | Path) -> Path:
    """``torch.save`` to a temp file in the same folder, then rename over ``path`` (tiktok_dm's atomic writes)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)
