"""Typed, validated experiment configuration (one small nested YAML -> dataclasses; dumped into the run dir).

Every default is the **paper's** setting; each official-code difference is a named field (see the comments and
``d2m_train/configs/*.yaml``). Unknown keys and wrong types fail with the dotted path of the offending key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from d2m_train.losses.generator import LossWeights
from tiktok_dm.model.overrides import apply_override, set_value

DATASETS = ("tiktok", "aistplus")
VISUAL_SOURCES = ("auto", "precomputed", "frame_stats", "none")


def _choice(value: object, choices: tuple, name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


@dataclasses.dataclass
class DataConfig:
    dataset: str = "tiktok"  # tiktok: motion (60, 75); aistplus: motion (120, 219)
    build_dir: str | None = None  # a tiktok-dm build (segments.csv); or:
    official_lists: str | None = None  # a folder of the official {tiktok|aist}_{audio|motion|video}_{split}_segment.txt
    # or the Hugging Face dataset tiktok-dm publishes (BUILD/dataset, or a Hub id): its `segments` config,
    # unpacked once into hf_cache_dir/<content key> (default ~/.cache/tiktok_dm/hf_segments); no visual features.
    hf_dataset: str | None = None
    hf_cache_dir: str | None = None
    root: str | None = None  # what the official lists' ./tiktok/... paths are relative to (default: the list folder)
    train_split: str = "train"
    test_split: str = "test"
    # precomputed: the (1, 2048) arrays the official video lists name (I3D in the paper); frame_stats: our offline
    # feature computed from the clip videos of a build (a deviation); none: the paper's "w/o V" setting;
    # auto: precomputed with official lists, frame_stats with a build.
    visual: str = "auto"
    features_dir: str | None = None  # where frame_stats features are read/written (default RUN_DIR/features)
    use_motion: bool = True  # false: the paper's "w/o M" setting

    def __post_init__(self):
        _choice(self.dataset, DATASETS, "data.dataset")
        _choice(self.visual, VISUAL_SOURCES, "data.visual")
        sources = [name for name in ("build_dir", "official_lists", "hf_dataset") if getattr(self, name)]
        if len(sources) > 1:
            raise ValueError(f"give one data source, not {' and '.join('data.' + s for s in sources)}")
        if not self.use_motion and self.visual == "none":
            raise ValueError("data.use_motion false and data.visual none leaves the generator no input")


@dataclasses.dataclass
class MotionConfig:
    arch: str = "paper"  # paper (Table A.7: kernels 6/3/3/3/4) | official (6/4/4/4, no extra 1024 conv)
    hidden: int = 800  # per-frame Linear width (from the code; the paper's table omits it)
    channels: tuple[int, int, int] = (256, 512, 1024)
    out_dim: int = 1024
    res_units: int = 3  # paper 3 (dilations 1, 3, 9); official 4 (1, 3, 9, 27)
    norm: str = "batch"  # paper mentions batch norm; official none; weight: weight-normalised convs


@dataclasses.dataclass
class GeneratorConfig:
    channels: tuple[int, ...] | None = None  # None: high (32, 64, 128, 256, 512), low (... 512, 1024)
    res_units: int = 3  # official 4
    # none: plain main convs, as Tables A.8/A.9 (no normalisation) and the release; batch: BatchNorm1d after each
    # (the paper's text mentions normalisation): 36-38 % of the low generator's tanh outputs saturated at init,
    # batch 4 and 16, both low configs; weight: weight-normalised main convs. none and weight: 0.0 %.
    norm: str = "none"
    sigma: float = 100.0  # tanh output scale (Table 5 "w/o scaling": 1)
    low_length: str = "conv"  # low level only: conv (paper order, tanh last) | linear (official Linear(1045->1378))
    genre_dim: int = 0  # official AIST++: 256 (Embedding(10, 256) of the ground-truth genre; not in the paper)
    visual_layers: int = 0  # G_v: 0 = identity (official; the paper gives no table)
    latent_dim: int = 64


@dataclasses.dataclass
class DiscriminatorConfig:
    num_scales: int = 3
    ndf: int = 16  # Table A.11; official 32
    n_layers: int = 4
    downsampling_factor: int = 4
    first_kernel: int = 15  # official 16
    penultimate_channels: int = 1024  # official 512
    max_channels: int = 1024
    reshape: bool = True  # temporal reshape (B, 64, T) -> (B, 1, 64T); Table 5 "w/o reshape": false


@dataclasses.dataclass
class ModelConfig:
    level: str = "high"  # high: JukeBox top level (hop 128, 64x344); low: middle level (hop 32, 64x1378)
    motion: MotionConfig = dataclasses.field(default_factory=MotionConfig)
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)

    def __post_init__(self):
        _choice(self.level, ("high", "low"), "model.level")
        _choice(self.motion.arch, ("paper", "official"), "model.motion.arch")
        _choice(self.motion.norm, ("batch", "none", "weight"), "model.motion.norm")
        _choice(self.generator.norm, ("batch", "none", "weight"), "model.generator.norm")
        _choice(self.generator.low_length, ("conv", "linear"), "model.generator.low_length")


@dataclasses.dataclass
class VQVAETrainConfig:
    steps: int = 20000
    batch_size: int = 8
    lr: float = 3e-4
    log_every: int = 50
    multispectral: float = 1.0  # JukeBox: multispectral 1.0, lmix l2 1.0 + linf 0.02, commit 0.02
    linf: float = 0.02
    crop: int | None = None  # train on random crops of this many samples (JukeBox sample_length); None: 44100
    levels: tuple[int, ...] | None = None  # levels whose loss is trained (None: all, as JukeBox)


@dataclasses.dataclass
class VQVAEConfig:
    path: str | None = None  # the JukeBox-layout checkpoint (--vqvae PATH)
    hparams: dict | None = None  # for `d2m-train vqvae`: VQVAEHParams fields; None = the JukeBox 5b VQ-VAE
    train: VQVAETrainConfig = dataclasses.field(default_factory=VQVAETrainConfig)


@dataclasses.dataclass
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)


@dataclasses.dataclass
class TrainConfig:
    batch_size: int = 16
    epochs: int = 3000  # official: 3000 epochs (TikTok 149 it/epoch, AIST++ 415)
    max_steps: int | None = None  # stop earlier than epochs * batches_per_epoch
    seed: int = 0
    num_workers: int = 4
    device: str = "auto"  # auto: cuda when present
    amp: str = "auto"  # auto: bf16 autocast on CUDA, off on CPU | bf16 | fp16 | off
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_last: int = 3
    deterministic: bool = False  # torch.use_deterministic_algorithms (CUDA: bit-exact resume, slower)
    # CPU intra-op threads (0: torch's default). On a loaded machine 1 can be ~10x faster than 2: OpenMP threads
    # that spin at barriers while the OS schedules other work (measured on the 2-core CI kind).
    cpu_threads: int = 0
    # The logged steps' metrics also as TensorBoard scalars in RUN/tensorboard (`tensorboard --logdir RUN`), next to
    # metrics.csv; needs the tensorboard package (the [train] extra).
    tensorboard: bool = True
    # At every checkpoint, this many fixed training segments generated by the current generator (decoded by the VQ-VAE)
    # and their real music, as TensorBoard audio (0: none).
    tensorboard_audio: int = 2
    # At the first step of a fresh run the log says which share of the generator's tanh outputs lie beyond +-0.99
    # (where tanh passes almost no gradient); above this share it warns that the generator starts saturated.
    max_init_saturation: float = 0.05

    def __post_init__(self):
        _choice(self.amp, ("auto", "bf16", "fp16", "off"), "train.amp")
        for name in ("batch_size", "epochs", "log_every", "checkpoint_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass
class Config:
    name: str = "d2m"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    vqvae: VQVAEConfig = dataclasses.field(default_factory=VQVAEConfig)
    loss: LossWeights = dataclasses.field(default_factory=LossWeights)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def config_path(name_or_path: str | Path) -> Path:
    """A config file: the path when it exists (from wherever the command runs), else the shipped config of that
    name (``cpu_smoke``, ``tiktok_low.yaml``: d2m_train/configs/, installed with the package)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = SHIPPED_CONFIGS / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    if path.parent == Path(".") or path.parent == Path("d2m_train/configs"):
        if shipped.is_file():
            return shipped
    names = ", ".join(sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.yaml")))
    raise FileNotFoundError(f"config {name_or_path} does not exist (not a file here, nor a shipped config: {names})")


def load_config(path: str | Path, overrides: typing.Sequence[str] = (),
                settings: typing.Mapping[str, object] | None = None) -> Config:
    """Read a YAML config (a path, or the name of a shipped one: :func:`config_path`). ``settings`` are typed
    values by dotted key, set as they are (the command line's paths: no text round trip); then ``overrides``,
    ``dotted.key=value`` strings (values parsed as YAML: ``--set``), which win."""
    path = config_path(path)
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    for key, value in (settings or {}).items():
        set_value(values, key, str(value) if isinstance(value, Path) else value)
    for override in overrides:
        apply_override(values, override)
    return config_from_dict(values)


def config_from_dict(values: dict) -> Config:
    return _build(Config, values, "")


def dump_config(config: Config, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return path


def _build(cls: type, values: object, where: str):
    if not isinstance(values, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    names = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(_join(where, k) for k in unknown)}; known: {sorted(names)}")
    kwargs = {name: _convert(hints[name], value, _join(where, name)) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"{where or 'config'}: {error}") from None


def _convert(tp, value, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, where)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {args}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ValueError(f"{where} must have {len(args)} entries, got {value!r}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a mapping, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"{where} must be a string, got {value!r}")
        return value
    raise ValueError(f"{where}: unsupported type {tp}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
