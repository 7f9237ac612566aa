"""The city registry as a folder, one file per city (``config/cities/<id>.yaml``).

Each file is one city's mapping (the ``City`` model), named after the city's id. The order of the
registry: the ids listed in the folder's optional ``ORDER`` file first, in that order, then every other
city file by file name, so a new city needs only its own file. Every error names the file it is about
(a city's file, or ``ORDER``) and, for a bad value, the city and the field.
"""

from __future__ import annotations

from pathlib import Path

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.registry import City, Registry, _describe
from hotline_eval.errors import ConfigError

ORDER_FILE = "ORDER"
# the single-file registry's `version`; a folder has no top-level document to carry one
FOLDER_VERSION = 1
EXPECT = "a mapping: one city (id, name_en, ..., portals, sources)"


def read_order(folder: Path) -> list[str]:
    """The ids ``ORDER`` lists (one a line; blank lines and ``#`` comments skipped); [] without the file."""
    path = folder / ORDER_FILE
    if not path.exists():
        return []
    ids: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        city_id = line.split("#", 1)[0].strip()
        if not city_id:
            continue
        if city_id in ids:
            raise ConfigError(f"{path}, line {number}: city {city_id!r} listed twice")
        if not (folder / f"{city_id}.yaml").is_file():
            raise ConfigError(f"{path}, line {number}: no city file {city_id}.yaml for {city_id!r}")
        ids.append(city_id)
    return ids


def city_files(folder: Path) -> list[Path]:
    """The folder's city files in registry order: those ``ORDER`` lists, then the others by name."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{folder}: no city files (<city id>.yaml) in the city registry folder")
    rank = {city_id: index for index, city_id in enumerate(read_order(folder))}
    return sorted(files, key=lambda path: (rank.get(path.stem, len(rank)), path.name))


def load_city(path: Path) -> City:
    """One city file, validated; its ``id`` must be the file's stem."""
    def describe(loc: tuple[int | str, ...], raw: dict, _text: str) -> str:
        # the registry's wording (city, field, a source by its id); a file without an id is its stem
        return _describe(("cities", 0, *loc), {"cities": [{"id": path.stem, **raw}]})

    city = load_yaml_model(path, City, what="city registry", describe=describe, expect=EXPECT)
    if city.id != path.stem:
        raise ConfigError(f"{path}: the file of city {city.id!r} must be named {city.id}.yaml "
                          "(a city file's name is its id)")
    return city


def load_city_folder(folder: Path) -> Registry:
    """Every city file of ``folder`` as one registry; a source id used by two cities names both files."""
    files = city_files(folder)
    cities = [load_city(path) for path in files]
    seen: dict[str, Path] = {}
    for path, city in zip(files, cities, strict=True):
        for source in city.sources:
            if source.id in seen:
                raise ConfigError(f"{path}: source id {source.id!r} of city {city.id!r} is already used in "
                                  f"{seen[source.id]}")
            seen[source.id] = path
    return Registry(version=FOLDER_VERSION, cities=cities)
