"""VGGish (Hershey et al. 2017) in torch, for the paper's genre-accuracy embedding, with weights from a local file.

Architecture (the standard VGGish): a log-mel patch (1, 96, 64) -- 96 frames of 10 ms (0.96 s) x 64 mel bands at
16 kHz -- through conv3x3 64, pool, conv 128, pool, conv 256, conv 256, pool, conv 512, conv 512, pool (every conv
followed by ReLU, pools 2x2), then fc 12288 -> 4096 -> 4096 -> 128 with ReLU. One 128-d vector per 0.96-s patch.

Weights: the state-dict layout of the torchvggish port (harritaylor/torchvggish, ``vggish-10086976.pth``), which is
the common format: ``features.{0,3,6,8,11,13}.{weight,bias}`` and ``embeddings.{0,2,4}.{weight,bias}``. A file
saved from that package's whole ``VGGish`` module may also hold the AudioSet PCA post-processor
(``pproc._pca_matrix`` (128, 128), ``pproc._pca_means`` (128, 1)); it is then applied as the package does (PCA,
clip to [-2, 2], quantise to 0..255). Nothing is downloaded: :func:`load_vggish` reads a path and names it in every
error (missing file, missing/unexpected keys, wrong shapes).

Front-end (librosa, following VGGish's ``vggish_input``): resample to 16 kHz, |STFT| with a 25-ms periodic Hann
window (400 samples), 10-ms hop (160), FFT 512, no centre padding; 64 HTK mel bands 125-7500 Hz (unnormalised
triangles); log(mel + 0.01); non-overlapping patches of 96 frames. librosa's mel matrix is not bit-identical to
VGGish's own, so embeddings differ slightly from the TensorFlow release. A segment is the **mean of its patch
embeddings** (the paper does not say how it pooled; a 2-s segment gives 2 patches).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
WINDOW, HOP, N_FFT = 400, 160, 512
MEL_BANDS, FMIN, FMAX = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
PATCH_FRAMES = 96  # 0.96 s
EMBEDDING_SIZE = 128
_LAYERS = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")


class VGGishWeightsError(ValueError):
    """A VGGish weights file that is missing or does not fit the architecture; the message names the file."""


class VGGish(nn.Module):
    """(N, 1, 96, 64) log-mel patches -> (N, 128) embeddings (before the optional PCA post-processing)."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for width in _LAYERS:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(nn.Linear(512 * 4 * 6, 4096), nn.ReLU(True), nn.Linear(4096, 4096),
                                        nn.ReLU(True), nn.Linear(4096, EMBEDDING_SIZE), nn.ReLU(True))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        if patches.ndim != 4 or patches.shape[1:] != (1, PATCH_FRAMES, MEL_BANDS):
            raise ValueError(f"VGGish takes (N, 1, {PATCH_FRAMES}, {MEL_BANDS}) patches, got {tuple(patches.shape)}")
        x = self.features(patches)  # (N, 512, 6, 4)
        # Flatten in (time, frequency, channel) order, as the TensorFlow model (and the torch port) does.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)


def log_mel_patches(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono audio -> (P, 96, 64) log-mel patches (non-overlapping 0.96-s windows; a partial last one is dropped)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"VGGish takes mono audio, got shape {audio.shape}")
    if sample_rate != SAMPLE_RATE:
        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    frames = 1 + (len(audio) - WINDOW) // HOP if len(audio) >= WINDOW else 0
    if frames < PATCH_FRAMES:
        raise ValueError(f"{len(audio) / SAMPLE_RATE:.3f} s of audio is shorter than one VGGish patch "
                         f"({(WINDOW + (PATCH_FRAMES - 1) * HOP) / SAMPLE_RATE:.3f} s)")
    spectrum = np.abs(librosa.stft(audio, n_fft=N_FFT, hop_length=HOP, win_length=WINDOW, window="hann",
                                   center=False))
    mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=MEL_BANDS, fmin=FMIN, fmax=FMAX, htk=True,
                                    norm=None)
    log_mel = np.log(mel_basis @ spectrum + LOG_OFFSET).T  # (frames, 64)
    count = len(log_mel) // PATCH_FRAMES
    return log_mel[:count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, MEL_BANDS).astype(np.float32)


def load_vggish(path: str | Path) -> tuple[VGGish, dict[str, torch.Tensor] | None]:
    """Read VGGish weights (torchvggish layout) from ``path``; returns the model and the PCA parameters, if any."""
    path = Path(path)
    if not path.is_file():
        raise VGGishWeightsError(f"VGGish weights {path} do not exist (give the path of a torchvggish-layout .pth, "
                                 "e.g. vggish-10086976.pth; nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user error
        raise VGGishWeightsError(f"VGGish weights {path} cannot be read as a torch file: {error}") from error
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise VGGishWeightsError(f"VGGish weights {path} hold a {type(state).__name__}, not a state dict")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    pca = {key: state.pop(key) for key in ("pproc._pca_matrix", "pproc._pca_means") if key in state}
    model = VGGish()
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise VGGishWeightsError(f"VGGish weights {path} do not have the torchvggish key layout: missing "
                                 f"{missing[:6]}{' ...' if len(missing) > 6 else ''}, unexpected "
                                 f"{unexpected[:6]}{' ...' if len(unexpected) > 6 else ''}")
    wrong = [f"{key} {tuple(state[key].shape)} (expected {tuple(value.shape)})" for key, value in expected.items()
             if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        raise VGGishWeightsError(f"VGGish weights {path} have wrong shapes: {'; '.join(wrong[:4])}")
    if pca and (len(pca) != 2 or tuple(pca["pproc._pca_matrix"].shape) != (EMBEDDING_SIZE, EMBEDDING_SIZE)
                or tuple(pca["pproc._pca_means"].shape) not in ((EMBEDDING_SIZE, 1), (EMBEDDING_SIZE,))):
        raise VGGishWeightsError(f"VGGish weights {path}: the PCA post-processor needs pproc._pca_matrix (128, 128) "
                                 f"and pproc._pca_means (128, 1), got {({k: tuple(v.shape) for k, v in pca.items()})}")
    model.load_state_dict({key: value.float() for key, value in state.items()})
    return model.eval(), ({k: v.float() for k, v in pca.items()} or None)


class VGGishEmbedder:
    """The genre-accuracy embedder the paper used, with user-supplied weights: mean of the patch embeddings."""

    sample_rate = SAMPLE_RATE
    standardise = False  # the paper: plain Euclidean distance between the embeddings

    def __init__(self, path: str | Path, device: str = "cpu"):
        self.path = Path(path)
        self.model, self.pca = load_vggish(self.path)
        self.device = torch.device(device)
        self.model.to(self.device)
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:12]
        self.name = f"vggish ({self.path.name}, sha256 {digest}{', PCA' if self.pca else ''})"

    def embed_patches(self, patches: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = self.model(torch.from_numpy(patches)[:, None].to(self.device)).cpu()
        if self.pca is not None:  # the AudioSet release's post-processing (as torchvggish applies it)
            out = (self.pca["pproc._pca_matrix"] @ (out.T - self.pca["pproc._pca_means"].reshape(-1, 1))).T
            out = torch.round((out.clamp(-2.0, 2.0) + 2.0) * (255.0 / 4.0))
        return out.numpy().astype(np.float32)

    def embed(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.embed_patches(log_mel_patches(audio, sample_rate)).mean(axis=0)
