"""The dataset card (the dataset folder's README.md) through huggingface_hub's card tools, and its checks.

The template (``tiktok_dm/templates/dataset_card.md``, the same text as the repository's DATASET_CARD.md)
holds the prose and the fixed metadata (pretty name, task categories, tags, licence name, the gated-access
prompt and fields). The build adds what it knows: the size category from the row count, the licence from
``export.license``, the ``configs`` and ``dataset_info`` YAML that ``datasets.load_dataset`` reads. The
header is a ``DatasetCardData`` and the card a ``DatasetCard``, so the YAML is what the Hub's own tools
write and read.

``card_problems`` is what ``tiktok-dm publish`` checks before any upload (and ``--dry-run`` prints): the
header parses as the Hub parses it, a size category the Hub knows, a licence with its name and link when it
is "other", gated-access fields (the dancers are identifiable people), data files that exist.
"""

from __future__ import annotations

import io
from pathlib import Path
from string import Template
from typing import Any

import yaml

from tiktok_dm.config import ExportConfig

CARD_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "dataset_card.md"
SPLITS = ("train", "test")
# The Hub's size categories (the upper bound of each, in rows).
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
LARGEST_SIZE_CATEGORY = "n>1T"


def size_category(rows: int) -> str:
    """The Hub's size category of a dataset of ``rows`` rows (its largest config)."""
    return next((name for bound, name in SIZE_CATEGORIES if rows < bound), LARGEST_SIZE_CATEGORY)


def render_card(features: dict[str, Any], sizes: dict[str, dict[str, int]], nbytes: dict[str, dict[str, int]],
                export: ExportConfig, figures: dict[str, Any]) -> str:
    """The dataset's README.md: the template filled with this build's figures, its header as the Hub's card data."""
    from huggingface_hub import DatasetCard, DatasetCardData

    header, body = split_front_matter(CARD_TEMPLATE.read_text(), CARD_TEMPLATE)
    header["license"] = export.license
    header.setdefault("pretty_name", export.dataset_name)
    header["size_categories"] = [size_category(max(sum(split.values()) for split in sizes.values()))]
    header["configs"] = [{
        "config_name": name, **({"default": True} if name == "clips" else {}),
        "data_files": [{"split": split, "path": f"data/{name}/{split}-*.parquet"} for split in SPLITS],
    } for name in features]
    header["dataset_info"] = [{
        "config_name": name, "features": features[name]._to_yaml_list(),
        "splits": [{"name": split, "num_bytes": nbytes[name][split], "num_examples": sizes[name][split]}
                   for split in SPLITS],
    } for name in features]
    text = Template(body).safe_substitute({key: _format_figure(value) for key, value in figures.items()})
    data = DatasetCardData(**header)
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n{text}"))


def card_problems(folder: Path) -> list[str]:
    """What is wrong with the card of the dataset folder ``folder`` (empty: nothing)."""
    from huggingface_hub import DatasetCard

    readme = folder / "README.md"
    if not readme.is_file():
        return [f"{readme}: no dataset card (tiktok-dm build writes it with the dataset)"]
    try:
        data = DatasetCard.load(readme).data.to_dict()
    except Exception as error:  # the card tools raise several types for a header they cannot read
        return [f"{readme}: the header does not parse as a dataset card ({type(error).__name__}: {error})"]
    problems = []
    known_sizes = {name for _, name in SIZE_CATEGORIES} | {LARGEST_SIZE_CATEGORY}
    sizes = data.get("size_categories") or []
    if not sizes or any(size not in known_sizes for size in sizes):
        problems.append(f"size_categories {sizes} is not one of the Hub's ({', '.join(sorted(known_sizes))})")
    if not data.get("license"):
        problems.append("no license")
    elif data["license"] == "other" and not (data.get("license_name") and data.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    link = data.get("license_link")
    if link and "://" not in link and not (folder / link).is_file():
        problems.append(f"license_link {link} is not a file of the dataset folder")
    if not data.get("task_categories"):
        problems.append("no task_categories")
    if not (data.get("extra_gated_prompt") and data.get("extra_gated_fields")):
        problems.append("no gated-access prompt and fields (extra_gated_prompt, extra_gated_fields): the dancers are "
                        "identifiable people")
    for config in data.get("configs") or []:
        for files in config.get("data_files") or []:
            if not list(folder.glob(files["path"])):
                problems.append(f"config {config.get('config_name')!r}, split {files.get('split')!r}: no file matches "
                                f"{files['path']}")
    if not data.get("configs"):
        problems.append("no configs (datasets.load_dataset would not find the clips and segments configs)")
    return problems


def split_front_matter(text: str, source: Path | str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---\n"):
        raise ValueError(f"{source}: a dataset card must start with a YAML header between '---' lines")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(io.StringIO(header)) or {}, body


def _format_figure(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
