"""The invented world of the bundled data: its words, its geography, its seeded dice.

The vocabulary (regions, towns, names, crafts, the phrases of the stories ...) is
data, in `data/world.json`: one key per list, read once into a `World`. This module
adds the few rules that tie the words together (the region a town lies in, the river
it stands on) and the seeded generators every part of `companion.synth` draws from.
Change a word in the file and `python -m companion.synth` writes a different world.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

from .config import DATA_DIR, CourseError

SEED = 2025  # the one seed of the bundled data
WORLD_FILE = DATA_DIR / "world.json"


@dataclass(frozen=True)
class World:
    """The words of the invented world; the fields are the keys of data/world.json."""

    regions: list[list[str]]  # [name, adjective, postal code]; capital: towns[i]
    towns: list[str]  # town i lies in region i % 5 and on river i % 6
    rivers: list[str]
    weather: list[str]  # town i is often weather[3 * i % 10]
    first_names: list[str]
    surnames: list[str]
    crafts: dict[str, str]  # craft -> what it makes
    animals: dict[str, list[str]]  # animal -> [what it eats, where it lives]
    numbers: list[str]  # one .. ten, in order
    months: list[str]  # in order
    seasons: list[str]
    weekdays: list[str]
    subjects: list[str]  # each has an Academy, in academy_town(subject)
    streets: list[str]
    street_kinds: list[str]  # Lane, Road ...
    trees: list[str]
    materials: list[str]  # material + object names a story's artifact
    objects: list[str]
    adjectives: list[str]
    awards: list[str]  # never a material + object: those name story artifacts
    works: list[str]
    forms: list[str]
    customs: list[str]
    # phrases of the stories, and of the corpus (so the tokenizer knows every word)
    settings: list[str]
    relations: list[str]
    skills: list[str]
    goals: list[str]
    times: list[str]
    events: list[str]
    consequences: list[str]
    powers: list[str]
    endings: list[str]

    def region_of(self, town: str) -> list[str]:
        """The [name, adjective, postal code] of the region a town lies in."""
        return self.regions[self.towns.index(town) % len(self.regions)]

    def river_of(self, town: str) -> str:
        """The river a town stands on."""
        return self.rivers[self.towns.index(town) % len(self.rivers)]

    def academy_town(self, subject: str) -> str:
        """The town of the Academy of a subject."""
        return self.towns[(3 * self.subjects.index(subject) + 7) % len(self.towns)]


@functools.cache
def world(path: Path = WORLD_FILE) -> World:
    """The invented world read from `path` (once); CourseError if missing or broken."""
    restore = "restore the course's copy: `git checkout -- data/world.json`"
    try:
        words = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CourseError(f"cannot read {path}: {error.strerror}; {restore}") from None
    except UnicodeDecodeError:
        raise CourseError(f"{path} is not UTF-8 text; {restore}") from None
    except json.JSONDecodeError as error:
        raise CourseError(f"{path} line {error.lineno}: not valid JSON ({error.msg}); "
                          f"{restore}") from None
    keys = [field.name for field in dataclasses.fields(World)]
    if not isinstance(words, dict) or set(words) != set(keys):
        got = set(words) if isinstance(words, dict) else set()
        wrong = [f"missing {k}" for k in keys if k not in got] + [
            f"unknown {k}" for k in sorted(got - set(keys))]
        raise CourseError(f"{path} must be one JSON object with the keys of "
                          f"companion.world.World ({', '.join(wrong)}); {restore}")
    return World(**words)


def part_rng(seed: int, part: str) -> random.Random:
    """An independent generator per part, so changing one part leaves the others."""
    return random.Random(f"{seed}:{part}")
