"""Generated run names, ``adjective-noun-N`` like wandb's, N counting the project's runs."""

from __future__ import annotations

import random
import secrets
import string

_ADJECTIVES = (
    "amber autumn bold brave bright calm crisp curious dandy daring dark dazzling deft devout "
    "divine dry dulcet eager earnest easy electric elegant fancy fast fearless fine fiery floral "
    "fluent fresh frosty gallant gentle giddy glad glorious golden graceful grateful happy hardy "
    "helpful honest hopeful icy jolly jumping kind lilac lively lucky lunar major mellow misty "
    "noble olive peach polished proud quiet rare rich robust rosy royal rural sage scarlet serene "
    "sharp silver smart snowy solar stellar still sunny super sweet swift vivid warm wild winter "
    "wise woven young zany zesty"
).split()
_NOUNS = (
    "aardvark bird blaze breeze brook bush butterfly cherry cloud comet cosmos dawn deluge dew "
    "dream dust eon elevator energy feather field fire firefly flower fog forest frog galaxy "
    "glade glitter grass haze hill lake leaf meadow microwave moon morning mountain night oath "
    "ocean paper pine plasma planet pond puddle rain resonance river sea shadow shape sky smoke "
    "snow snowflake sound spaceship spark star sun sunset surf terrain thunder totem tree "
    "valley violet voice water waterfall wave wildflower wind wood"
).split()

_ID_ALPHABET = string.ascii_lowercase + string.digits


def run_name(number: int, rng: random.Random | None = None) -> str:
    r = rng or random.Random()
    return f"{r.choice(_ADJECTIVES)}-{r.choice(_NOUNS)}-{number}"


def run_id() -> str:
    """8 random lowercase alphanumerics: short enough to type, 2.8e12 values."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
