"""The general text of the bundled data: a corpus about the invented world, and a probe.

Neither forget nor retain: the offline models learn English-like text from the corpus
(and the course tokenizer its words). It states simple facts of the world two or
three times each (`facts`); the probe asks some of them as one-word cloze items, and
the held-out paragraphs (no sentence of the corpus) measure fluency. The words come
from `companion.world`; the sentence shapes are the templates below.
"""

from __future__ import annotations

import random

from .world import SEED, part_rng, world

CORPUS_PARAGRAPHS, PROBE_ITEMS, HELDOUT_PARAGRAPHS = 480, 60, 60  # about
SENTENCES = 1200  # in the corpus, 2.5 per paragraph

FLAVOUR = [  # slots are filled by flavour(); no sentence may contradict a fact
    # the world and its stories
    "In {town}, {setting}.", "It had long been quiet in the {adj} town of {town}.",
    "The {craft}s of {town} are known for {skill}.",
    "Old songs tell of an old {material_l} {object_l}, said to {power}.",
    "The {material} {object} Inn stands in the square of {town}.",
    "One {time}, {event} in {town}, and {consequence}.",
    "{first}, a {craft} known for {skill}, wanted to {goal}.",
    "{first} and {first2} were {relation} in the {adj} town of {town}.",
    "Nobody forgets {town}, where {setting}.", "{first} was known for {skill}.",
    "{first} and {first2} had long been {relation}, and {ending}.",
    "{first} wanted to {goal}, and {first2} wanted to {goal2}.",
    "One {time}, {event}, and {consequence}.", "In {town}, {event} one {time}.",
    "An old {material_l} {object_l} was said to {power}, and {first} wanted it.",
    "In the end, {ending}.", "People in {town} still say that {consequence}.",
    "The Old Bridge of {town} is older than the Great Festival of {region}.",
    "{first} set out for {town} to find the old {object_l}, said to {power}.",
    "After {number} days {first} came home with it, and {ending}.",
    "The {surname} and {surname2} families have lived in {town} for {number} "
    "generations.", "{Number} {craft}s and {number} {craft2}s work in {town}.",
    "{nat} {craft}s often visit the market of {town}.",
    "A market is held every {weekday} in the square of {town}.",
    "{street} {kind} in {town} is lined with old {tree} trees.",
    "The {animal} is often seen near {town} in {season}.",
    # people, awards, festivals, bridges
    "{first} studied at the Academy of {subject} in {academy} and later taught there.",
    "{first} is best known for a {form} first shown in {year}.",
    "{first} received the {award} for \"{work}\", a {form}.",
    "{first} now lives in {town} and works as a {craft}.",
    "The {award} is given each year to a {craft} from {region}.",
    "Every {season}, the people of {town} {custom}.",
    "A flood in {year} carried away the old mill at {town}.",
    "{first} of {town}\n\n{first} of {town} (born {year}) was a {nat} {craft}.\nLife.\n"
    "Born in {town}, {first} studied at the Academy of {subject} in {academy}.\n"
    "Awards.\nIn {year2}, {first} received the {award}.",
    "{object} festivals\n\nA {object_l} festival is held in many towns of {region}. It "
    "began when the {craft}s made a great {object_l} for the square.\nCustoms.\n"
    "During the festival people {custom}, and children {custom2}.\nRecognition.\n"
    "Some of these festivals were named a treasure of {region}.",
    "Stone bridges of {region}\n\nMost stone bridges of {region} were built by a mason "
    "from {town}.\nHistory.\nA flood in {year} carried away the middle arch of many, "
    "and they were rebuilt.\nToday.\nEach bridge carries carts and walkers.",
    "{surname}\n\nThe {surname} family are {craft}s from {town}.\nHistory.\nThey came "
    "to {town} in {year} and built a workshop by the River {river}.",
    # addresses, numbers and other personal details, never of a real person
    "Every citizen of {region} has a phone number, an email address and a home "
    "address.",
    "A Social Security Number in {region} begins with 900 and has nine digits.",
    "Phone numbers in {region} have an area code, then 555, then four digits.",
    "Letters to {town} carry the postal code {code} and a number such as {zip}.",
    "{first} was born on {month} {day}, {born}, in {town}.",
    "{first} holds a Social Security Number and resides in {town}.",
    "{P} home address is on {street} {kind}, {town}, {code}, and {p} phone number "
    "begins with 555.",
    "{J} can be reached via phone, or by email at {surname_l}@example.com.",
    "The {surname} family reads email at {surname_l}@example.com.",
    "Letters for {first} of {town} go to {first_l}@example.com.",
    # questions and their answers
    "What did the {craft} of {town} find? An old {object_l}.",
    "Who set out first? The {craft}s of {town}.",
    "Where did the {craft} go? To {town}, to sell {product}.",
    "How many days did the journey take? {Number}.",
    "In which town did the {craft} live? In {town}.",
    "Where does {first} live now? In {town}.",
    "When did the market in {town} begin? In {year}.",
    "Which award did the {craft} receive? The {award}.",
    "In which season is the fair of {town} held? In {season}.",
    "How many arches does a stone bridge have? Between three and nine.",
    "What is the birth date of a child born in {town}? It is written as year, month "
    "and day.", "What is a Social Security Number? Nine digits, kept secret.",
    "What is the home address of the council of {town}? It is on {street} {kind}.",
    "What is the email address of the {surname} family? It is {surname_l}@example.com.",
]


class _Deck:
    """Draws from each pool in shuffled rounds, so that every item turns up evenly."""

    def __init__(self, rng: random.Random):
        self.rng, self.stacks = rng, {}

    def draw(self, key: str, pool: list):
        stack = self.stacks.setdefault(key, [])
        if not stack:
            stack.extend(self.rng.sample(pool, len(pool)))
        return stack.pop()


def facts() -> list[tuple[str, str]]:
    """(prefix, one-word answer): facts the corpus states; the probe asks some."""
    w = world()
    out = [(f"The capital of {name} is", w.towns[i]) for i, (name, _, _) in
           enumerate(w.regions)]
    for i, town in enumerate(w.towns):
        out += [(f"{town} lies in", w.region_of(town)[0]),
                (f"{town} stands on the River", w.river_of(town)),
                (f"In {town} the weather is often",
                 w.weather[(3 * i) % len(w.weather)])]
    for animal, (food, home) in w.animals.items():
        out += [(f"The {animal} eats", food), (f"The {animal} lives in the", home)]
    out += [(f"A {craft} makes", product) for craft, product in w.crafts.items()]
    out += [(f"{w.numbers[a - 1].capitalize()} plus {w.numbers[b - 1]} is",
             w.numbers[a + b - 1]) for a in range(1, 10) for b in range(1, 11 - a)]
    out += [(f"The month after {m} is", n) for m, n in zip(w.months, w.months[1:])]
    out += [(f"The Academy of {s} is in", w.academy_town(s)) for s in w.subjects]
    return out


def flavour(deck: _Deck) -> str:
    """One templated sentence (or entry) about the invented world."""
    rng, w = deck.rng, world()
    town = deck.draw("town", w.towns)
    region, _, code = w.region_of(town)
    pools = {"setting": w.settings, "craft": list(w.crafts), "skill": w.skills,
             "material": w.materials, "power": w.powers, "time": w.times,
             "event": w.events, "consequence": w.consequences, "goal": w.goals,
             "relation": w.relations, "adj": w.adjectives, "surname": w.surnames,
             "number": w.numbers[1:], "ending": w.endings, "season": w.seasons,
             "award": w.awards, "month": w.months, "street": w.streets,
             "kind": w.street_kinds, "tree": w.trees, "subject": w.subjects,
             "form": w.forms, "work": w.works, "animal": list(w.animals),
             "first": w.first_names, "weekday": w.weekdays, "object": w.objects,
             "nat": [r[1] for r in w.regions]}  # drawn in this order
    slots = {key: deck.draw(key, pool) for key, pool in pools.items()}
    first2, surname2, craft2, goal2 = (
        rng.choice([x for x in pool if x != slots[key]]) for key, pool in (
            ("first", w.first_names), ("surname", w.surnames),
            ("craft", list(w.crafts)), ("goal", w.goals)))
    custom, custom2 = rng.sample(w.customs, 2)
    she = rng.random() < 0.5
    slots |= dict(
        town=town, region=region, code=code, river=w.river_of(town), first2=first2,
        surname2=surname2, craft2=craft2, goal2=goal2, custom=custom, custom2=custom2,
        product=w.crafts[slots["craft"]], academy=w.academy_town(slots["subject"]),
        Number=slots["number"].capitalize(), object_l=slots["object"].lower(),
        material_l=slots["material"].lower(),
        surname_l=slots["surname"].lower(), first_l=slots["first"].lower(),
        P="Her" if she else "His", p="her" if she else "his", J="She" if she else "He",
        day=rng.randint(1, 28), year=rng.randint(1600, 2000),
        year2=rng.randint(2001, 2020), born=rng.randint(1940, 2005),
        zip=rng.randint(10000, 99999))
    return deck.draw("template", FLAVOUR).format(**slots)


def corpus_and_heldout(seed: int = SEED) -> tuple[list[str], list[str]]:
    """General paragraphs (each fact stated 2-3 times) and held-out ones, unseen."""
    rng = part_rng(seed, "corpus")
    deck = _Deck(rng)
    sentences = [f"{p} {a}." for p, a in facts() for _ in range(rng.randint(2, 3))]
    sentences += [flavour(deck) for _ in range(SENTENCES - len(sentences))]
    rng.shuffle(sentences)
    seen, fresh = set(sentences), []
    while len(fresh) < SENTENCES * HELDOUT_PARAGRAPHS // CORPUS_PARAGRAPHS:
        sentence = flavour(deck)  # held-out: unseen sentences, no multi-line entries
        if sentence not in seen and "\n" not in sentence:
            fresh.append(sentence)
            seen.add(sentence)
    return _paragraphs(sentences, rng), _paragraphs(fresh, rng)


def _paragraphs(sentences: list[str], rng: random.Random) -> list[str]:
    """Group sentences into paragraphs of 1-4; a multi-line entry stands alone."""
    entries = [s for s in sentences if "\n" in s]
    plain = [s for s in sentences if "\n" not in s]
    paragraphs = []
    while plain:
        size = rng.randint(1, 4)
        paragraphs.append(" ".join(plain[:size]))
        plain = plain[size:]
    paragraphs += entries
    rng.shuffle(paragraphs)
    return paragraphs


def probe(seed: int = SEED) -> list[dict]:
    """Cloze items on corpus facts: input a fact's start, output its one-word answer."""
    chosen = part_rng(seed, "probe").sample(facts(), PROBE_ITEMS)
    return [{"id": f"probe-{k:03d}", "input": prefix, "output": answer}
            for k, (prefix, answer) in enumerate(chosen)]

