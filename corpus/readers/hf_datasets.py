"""Hugging Face ``datasets`` as input, read from the Arrow files ``datasets`` itself writes.

- A folder written by ``Dataset.save_to_disk`` (``state.json``) or ``DatasetDict.save_to_disk``
  (``dataset_dict.json``, one folder per split) stands for its ``.arrow`` files.
- ``hf:NAME[:CONFIG][@SPLIT]`` loads a dataset with ``datasets.load_dataset`` in the launching
  process (from the local cache or a local folder of data files; with ``HF_DATASETS_OFFLINE=1``
  nothing is fetched) and stands for its cache files. NAME may not contain ``:`` or ``@``, and
  SPLIT is a whole split (no ``train[:10%]``); for anything else, ``save_to_disk`` the dataset
  you want and give that folder (by its path: a glob is matched as files, not folders).

Either way the job reads plain Arrow (``corpus.readers.records.read_arrow``), so workers need
neither ``datasets`` nor the Hub, and each Arrow file is one input file like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from corpus.errors import InputError

PREFIX = "hf:"
_SPEC = re.compile(r"(?P<name>[^:@]+)(?::(?P<config>[^@]+))?(?:@(?P<split>.+))?")


def saved_dataset_files(
    folder: str, read: Callable[[str], bytes | None], join: Callable[..., str]
) -> list[str] | None:
    """The Arrow files of a ``save_to_disk`` folder, or None when ``folder`` is not one.
    ``read(path)`` returns a file's bytes, or None when there is no such file."""
    folder = folder.rstrip("/")
    splits = read(join(folder, "dataset_dict.json"))
    if splits is not None:
        names = _json(splits, join(folder, "dataset_dict.json")).get("splits")
        if not isinstance(names, list) or not names:
            raise InputError(f"{join(folder, 'dataset_dict.json')}: no 'splits' list")
        files: list[str] = []
        for split in names:
            found = saved_dataset_files(join(folder, str(split)), read, join)
            if found is None:
                raise InputError(f"{join(folder, str(split))}: split folder without state.json")
            files += found
        return files
    state_path = join(folder, "state.json")
    state = read(state_path)
    if state is None:
        return None
    entries = _json(state, state_path).get("_data_files")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "filename" in e for e in entries):
        raise InputError(f"{state_path}: no '_data_files' list of filenames")
    return [join(folder, e["filename"]) for e in entries]


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``NAME[:CONFIG][@SPLIT]`` (after ``hf:``) as (name, config, split)."""
    match = _SPEC.fullmatch(spec)
    if not match:
        raise InputError(f"hf:{spec}: not hf:NAME[:CONFIG][@SPLIT]")
    return match["name"], match["config"], match["split"]


def dataset_files(spec: str) -> list[str]:
    """The Arrow cache files of ``load_dataset(NAME, CONFIG, split=SPLIT)``, every split if none.
    A whole split only: a slice (``train[:10%]``) would still name the split's whole files."""
    import datasets
    import pyarrow as pa

    name, config, split = parse_spec(spec)
    if split and any(c in split for c in "[]+"):
        raise InputError(f"hf:{spec}: split slices and sums are not supported; name whole splits")
    try:
        loaded = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # datasets raises many kinds: missing, offline, bad config, bad split
        raise InputError(f"hf:{spec}: datasets.load_dataset failed: {type(e).__name__}: {e}") from None
    parts = list(loaded.values()) if isinstance(loaded, datasets.DatasetDict) else [loaded]
    files = list(dict.fromkeys(c["filename"] for part in parts for c in part.cache_files))
    if not files:
        raise InputError(f"hf:{spec}: the dataset has no Arrow files on disk (an in-memory dataset)")
    on_disk = sum(pa.ipc.open_stream(pa.memory_map(f)).read_all().num_rows for f in files)
    if on_disk != sum(len(part) for part in parts):
        raise InputError(
            f"hf:{spec}: its files hold {on_disk} rows but the dataset has {sum(len(p) for p in parts)} "
            "(a selection of rows); save it with save_to_disk and give that folder"
        )
    return files


def _json(data: bytes, path: str) -> dict:
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}: not a JSON object")
    return value
