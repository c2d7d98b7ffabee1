"""Formal languages for chapter 9: generate sentences, recognise them, encode them for a model.

Four languages share one interface, the `Language` dataclass, and one registry, `LANGUAGES`:

* ``brackets``: Dyck words. Start with "(", then while the depth is above 0 append "(" with
  probability 7/16, else ")". The generator therefore only makes words with ONE outermost pair
  ("(()())", never "()()"); the validator accepts every balanced, non-empty string of brackets.
* ``ndfa``: the regular language ``s((abc!)*(uvw!)*(klm!)*)s``: an "s", then any number
  (zero included) of abc!, then of uvw!, then of klm!, in that order, then an "s". So "ss" and
  "sabc!abc!uvw!klm!s" belong to it, "suvw!abc!s" (wrong order) does not. The generator makes a
  smaller part of it: it picks ONE of the three words uniformly and repeats it, stopping with
  probability 1/4 after each repeat, so there is always at least one repeat and "ss" is never
  generated. It is recognised by a hand-written DFA (a transition table, as the course teaches);
  a regular expression is kept alongside to test the DFA against.
* ``english``: a toy English, a weighted context-free grammar written as a rule table
  (nonterminal -> list of (weight, expansion)); its tokens are words. Generation caps the
  recursion depth so it always ends; recognition is an Earley parser over the same table.
* ``english_chars``: the same sentences seen character by character (words joined by single
  spaces), for character-level models.

For a model, a sentence becomes ``.start`` + tokens + ``.end``, padded with ``.pad``; the ids come
from the course's `Vocabulary` (``.pad``, ``.start``, ``.end``, ``.unk`` = 0-3, then the language's
sorted tokens from id 4). Every random choice goes through a ``random.Random`` made from the
caller's seed.

    samples = generate("ndfa", 1000, seed=0)   # list of token lists
    ids, lengths = encode("ndfa", samples)     # ids: (N, T) long, lengths: (N,) long
    texts = decode("ndfa", ids)                # ["sabc!abc!s", ...]
    all(is_valid("ndfa", text) for text in texts)
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from course_lib.data.vocab import END_ID, PAD_ID, START_ID, UNK, Vocabulary

Sample = Sequence[str]  # one sentence as a sequence of tokens
Rules = dict[str, list[tuple[float, tuple[str, ...]]]]


@dataclass(frozen=True)
class Language:
    """One formal language: its tokens, a sampler and a recogniser.

    name: the key in `LANGUAGES`.
    tokens: every token a sentence may contain, sorted (special tokens excluded).
    separator: what joins tokens into text ("" for characters, " " for words).
    sample: draws one sentence (a list of tokens) using only the `random.Random` it is given.
    accepts: True iff a list of tokens is a sentence of the language.
    shortest_sample: the length, in tokens, of the shortest sentence `sample` can return.
    """

    name: str
    tokens: tuple[str, ...]
    separator: str
    sample: Callable[[random.Random], list[str]]
    accepts: Callable[[Sequence[str]], bool]
    shortest_sample: int

    def text(self, tokens: Sample) -> str:
        """The sentence as one string."""
        return self.separator.join(tokens)

    def split(self, sentence: str | Sample) -> list[str]:
        """Tokens of a sentence given as text or already as tokens."""
        if not isinstance(sentence, str) or self.separator == "":
            return list(sentence)
        # split(" "), not split(): a double space leaves an empty word, which no grammar accepts.
        return sentence.split(self.separator) if sentence else []

    def is_valid(self, sentence: str | Sample) -> bool:
        """True iff `sentence` (text or tokens) belongs to the language."""
        return self.accepts(self.split(sentence))


# ----------------------------------------------------------------------------------------------
# Dyck brackets

OPEN_PROBABILITY = 7 / 16  # below 1/2, so the depth drifts down and every word ends


def sample_brackets(rng: random.Random) -> list[str]:
    """One Dyck word: "(" and then, until the depth is 0, "(" with probability 7/16 else ")"."""
    tokens, depth = ["("], 1
    while depth > 0:
        if rng.random() < OPEN_PROBABILITY:
            tokens.append("(")
            depth += 1
        else:
            tokens.append(")")
            depth -= 1
    return tokens


def is_balanced(tokens: Sample) -> bool:
    """True iff `tokens` is a non-empty string of brackets in which every ")" closes an earlier "("."""
    depth = 0
    for token in tokens:
        if token not in ("(", ")"):
            return False
        depth += 1 if token == "(" else -1
        if depth < 0:  # a ")" with nothing open to close
            return False
    return depth == 0 and len(tokens) > 0


# ----------------------------------------------------------------------------------------------
# NDFA: s((abc!)*(uvw!)*(klm!)*)s

NDFA_WORDS = ("abc!", "uvw!", "klm!")
NDFA_STOP_PROBABILITY = 1 / 4
NDFA_REGEX = re.compile(r"s((abc!)*(uvw!)*(klm!)*)s")

# Each state is named after where the reader stands in the pattern. "abc*" means "between words,
# may still start abc!, uvw! or klm!", "uvw*" means "after a uvw!, so no abc! any more", and so on;
# "ab" means "inside abc!, having read a and b". A missing entry is a rejection.
NDFA_START_STATE = "start"
NDFA_ACCEPTING_STATES = frozenset({"end"})
NDFA_TRANSITIONS: dict[str, dict[str, str]] = {
    "start": {"s": "abc*"},
    "abc*": {"a": "a", "u": "u", "k": "k", "s": "end"},
    "uvw*": {"u": "u", "k": "k", "s": "end"},
    "klm*": {"k": "k", "s": "end"},
    "a": {"b": "ab"},
    "ab": {"c": "abc"},
    "abc": {"!": "abc*"},
    "u": {"v": "uv"},
    "uv": {"w": "uvw"},
    "uvw": {"!": "uvw*"},
    "k": {"l": "kl"},
    "kl": {"m": "klm"},
    "klm": {"!": "klm*"},
    "end": {},
}


def sample_ndfa(rng: random.Random) -> list[str]:
    """s + one word of NDFA_WORDS repeated (at least once; stop with probability 1/4 after each) + s."""
    word = rng.choice(NDFA_WORDS)
    repeats = 1
    while rng.random() >= NDFA_STOP_PROBABILITY:
        repeats += 1
    return list("s" + word * repeats + "s")


def ndfa_dfa_accepts(tokens: Sample) -> bool:
    """Run the DFA of `NDFA_TRANSITIONS` over the tokens (single characters)."""
    state = NDFA_START_STATE
    for token in tokens:
        state = NDFA_TRANSITIONS[state].get(token)
        if state is None:
            return False
    return state in NDFA_ACCEPTING_STATES


def ndfa_regex_accepts(text: str) -> bool:
    """The reference the DFA is tested against: the regular expression itself."""
    return NDFA_REGEX.fullmatch(text) is not None


# ----------------------------------------------------------------------------------------------
# Toy English: a weighted context-free grammar

def _words(*words: str) -> list[tuple[float, tuple[str, ...]]]:
    """Equally likely one-word expansions."""
    return [(1.0, (word,)) for word in words]


# Symbols that are keys here are nonterminals; every other symbol is a terminal (a word).
# No expansion is empty, which keeps the Earley recogniser below simple.
ENGLISH_RULES: Rules = {
    "SENTENCE": [
        (6, ("CLAUSE",)),
        (2, ("CLAUSE", "CONJUNCTION", "SENTENCE")),
        (1, ("CLAUSE", "CONJUNCTION", "(", "SENTENCE", ")")),
    ],
    "CLAUSE": [(1, ("NOUN_PHRASE", "VERB_PHRASE"))],
    "NOUN_PHRASE": [
        (5, ("DETERMINER", "NOUN")),
        (3, ("DETERMINER", "ADJECTIVES", "NOUN")),
        (1, ("DETERMINER", "NOUN", "PREPOSITIONAL_PHRASE")),
        (1, ("(", "NOUN_PHRASE", ")")),
    ],
    "ADJECTIVES": [(3, ("ADJECTIVE",)), (1, ("ADJECTIVE", "ADJECTIVES"))],
    "VERB_PHRASE": [
        (3, ("INTRANSITIVE_VERB",)),
        (2, ("INTRANSITIVE_VERB", "ADVERB")),
        (2, ("INTRANSITIVE_VERB", "PREPOSITIONAL_PHRASE")),
        (3, ("TRANSITIVE_VERB", "NOUN_PHRASE")),
        (1, ("TRANSITIVE_VERB", "NOUN_PHRASE", "ADVERB")),
    ],
    "PREPOSITIONAL_PHRASE": [
        (3, ("PREPOSITION", "NOUN_PHRASE")),
        (1, ("(", "PREPOSITION", "NOUN_PHRASE", ")")),
    ],
    "DETERMINER": _words("a", "the", "every", "my"),
    "ADJECTIVE": _words("busy", "small", "happy", "lazy", "tall", "green"),
    "NOUN": _words("bunny", "cat", "dog", "man", "woman", "child", "bird", "teacher"),
    "INTRANSITIVE_VERB": _words("walked", "slept", "ran", "laughed", "waited"),
    "TRANSITIVE_VERB": _words("saw", "chased", "liked", "followed", "helped"),
    "ADVERB": _words("quickly", "slowly", "quietly", "happily"),
    "PREPOSITION": _words("with", "near", "under", "behind"),
    "CONJUNCTION": _words("and", "but", "while"),
}
ENGLISH_START = "SENTENCE"
ENGLISH_MAX_DEPTH = 12  # past this depth every nonterminal takes its shortest way to words


def _cheapest_derivation(rules: Rules, cost_of_terminal: Callable[[str], float],
                         combine: Callable[[list[float]], float]) -> dict[str, float]:
    """For every nonterminal, the least over its expansions of combine(costs of the parts).

    With combine = 1 + max it is the height of the lowest derivation tree; with combine = sum it
    is the fewest terminal units a nonterminal can produce. Infinite means no derivation ends.
    Computed by relaxing every rule until nothing improves (each pass can only lower a cost).
    """
    cost = {symbol: math.inf for symbol in rules}

    def cost_of(symbol: str) -> float:
        return cost[symbol] if symbol in rules else cost_of_terminal(symbol)

    changed = True
    while changed:
        changed = False
        for symbol, options in rules.items():
            best = min(combine([cost_of(part) for part in expansion]) for _, expansion in options)
            if best < cost[symbol]:
                cost[symbol], changed = best, True
    return cost


def _check_rules(rules: Rules, start: str) -> None:
    """Refuse a table the generator or recogniser cannot handle, naming the faulty rule."""
    if start not in rules:
        raise ValueError(f"the start symbol {start!r} has no rule.")
    for symbol, options in rules.items():
        if not options:
            raise ValueError(f"{symbol} has no expansion; give it at least one (weight, expansion).")
        for weight, expansion in options:
            if not expansion:
                raise ValueError(f"{symbol} has an empty expansion; the recogniser assumes none.")
            if weight <= 0:
                raise ValueError(f"{symbol} -> {' '.join(expansion)} has weight {weight}; "
                                 "use a positive weight.")


class ContextFreeGrammar:
    """A weighted rule table with a depth-capped sampler and an Earley recogniser.

    rules: nonterminal -> list of (weight, expansion); expansions are tuples of symbols.
    start: the nonterminal every sentence derives from.
    max_depth: below this depth expansions are drawn by weight; from it on, only the expansions
    that lead to words fastest (lowest derivation tree) are allowed, so sampling always ends.
    The recogniser knows no depth cap: it accepts the whole language of the table.
    """

    def __init__(self, rules: Rules, start: str, max_depth: int):
        _check_rules(rules, start)
        self.rules, self.start, self.max_depth = rules, start, max_depth
        self.terminals = tuple(sorted({part for options in rules.values() for _, expansion in options
                                       for part in expansion if part not in rules}))
        # The height of a symbol is that of its lowest derivation tree (0 for a word). Expanding a
        # nonterminal by an expansion of minimal height strictly lowers the height of every part,
        # which is why keeping to those options past max_depth always reaches words.
        heights = _cheapest_derivation(rules, lambda terminal: 0, lambda parts: 1 + max(parts))
        endless = sorted(symbol for symbol, height in heights.items() if height == math.inf)
        if endless:
            raise ValueError(f"no derivation of {', '.join(endless)} ever reaches words.")
        self.fastest_options = {
            symbol: [(weight, expansion) for weight, expansion in options
                     if 1 + max(heights.get(part, 0) for part in expansion) == heights[symbol]]
            for symbol, options in rules.items()
        }

    def shortest_yield(self, cost_of_terminal: Callable[[str], float]) -> float:
        """The least total cost of a sentence's terminals, e.g. `lambda word: 1` for its word count."""
        return _cheapest_derivation(self.rules, cost_of_terminal, sum)[self.start]

    def sample(self, rng: random.Random) -> list[str]:
        """One sentence, as a list of terminals."""
        return self._expand(self.start, rng, depth=0)

    def _expand(self, symbol: str, rng: random.Random, depth: int) -> list[str]:
        if symbol not in self.rules:
            return [symbol]
        options = self.rules[symbol] if depth < self.max_depth else self.fastest_options[symbol]
        weights = [weight for weight, _ in options]
        _, expansion = rng.choices(options, weights=weights)[0]
        return [token for part in expansion for token in self._expand(part, rng, depth + 1)]

    def accepts(self, tokens: Sample) -> bool:
        """Earley recognition: True iff the start symbol derives exactly `tokens`.

        An item (head, expansion, dot, origin) says "head -> expansion has matched its first `dot`
        symbols over tokens[origin:i]" and lives in chart[i]. Three moves fill the chart left to
        right: predict (expect a nonterminal: add its expansions), scan (the next token is the
        terminal expected: move the dot and go to chart[i + 1]) and complete (an item is finished:
        move the dot of every item in chart[origin] that was waiting for its head).
        """
        tokens = list(tokens)
        chart: list[set] = [set() for _ in range(len(tokens) + 1)]
        for _, expansion in self.rules[self.start]:
            chart[0].add((self.start, expansion, 0, 0))
        for i in range(len(tokens) + 1):
            agenda = list(chart[i])
            while agenda:
                head, expansion, dot, origin = agenda.pop()
                if dot == len(expansion):  # complete; origin < i since no expansion is empty
                    new_items = [(waiting_head, waiting, waiting_dot + 1, waiting_origin)
                                 for waiting_head, waiting, waiting_dot, waiting_origin in chart[origin]
                                 if waiting_dot < len(waiting) and waiting[waiting_dot] == head]
                elif expansion[dot] in self.rules:  # predict
                    wanted = expansion[dot]
                    new_items = [(wanted, option, 0, i) for _, option in self.rules[wanted]]
                else:  # scan
                    if i < len(tokens) and tokens[i] == expansion[dot]:
                        chart[i + 1].add((head, expansion, dot + 1, origin))
                    new_items = []
                for item in new_items:
                    if item not in chart[i]:
                        chart[i].add(item)
                        agenda.append(item)
        return any(head == self.start and dot == len(expansion) and origin == 0
                   for head, expansion, dot, origin in chart[len(tokens)])


ENGLISH_GRAMMAR = ContextFreeGrammar(ENGLISH_RULES, ENGLISH_START, ENGLISH_MAX_DEPTH)


def sample_english_characters(rng: random.Random) -> list[str]:
    """One toy-English sentence as characters: its words joined by single spaces."""
    return list(" ".join(ENGLISH_GRAMMAR.sample(rng)))


def english_characters_accepts(characters: Sample) -> bool:
    """True iff the characters spell a toy-English sentence with single spaces between words."""
    return ENGLISH_GRAMMAR.accepts("".join(characters).split(" "))


# ----------------------------------------------------------------------------------------------
# The registry and the common interface

LANGUAGES: dict[str, Language] = {
    "brackets": Language("brackets", ("(", ")"), "", sample_brackets, is_balanced, shortest_sample=2),
    "ndfa": Language("ndfa", tuple(sorted(set("s" + "".join(NDFA_WORDS)))), "", sample_ndfa,
                     ndfa_dfa_accepts, shortest_sample=len("s" + NDFA_WORDS[0] + "s")),
    "english": Language("english", ENGLISH_GRAMMAR.terminals, " ", ENGLISH_GRAMMAR.sample,
                        ENGLISH_GRAMMAR.accepts,
                        shortest_sample=int(ENGLISH_GRAMMAR.shortest_yield(lambda word: 1))),
    "english_chars": Language(
        "english_chars", tuple(sorted(set(" ".join(ENGLISH_GRAMMAR.terminals)))), "",
        sample_english_characters, english_characters_accepts,
        # every word costs its letters plus the space after it; the last word has no space
        shortest_sample=int(ENGLISH_GRAMMAR.shortest_yield(lambda word: len(word) + 1)) - 1,
    ),
}


def get_language(language: str | Language) -> Language:
    """The `Language` registered under a name (a `Language` is passed through)."""
    if isinstance(language, Language):
        return language
    if language not in LANGUAGES:
        known = ", ".join(sorted(LANGUAGES))
        raise ValueError(f"unknown language {language!r}; the known languages are {known}.")
    return LANGUAGES[language]


def vocabulary(language: str | Language) -> list[str]:
    """The language's tokens, sorted (characters for brackets, ndfa and english_chars; words for english)."""
    return list(get_language(language).tokens)


def encoding_vocabulary(language: str | Language) -> Vocabulary:
    """The token <-> id map of `encode` and `decode`: the 4 special tokens, then `vocabulary(language)`."""
    return Vocabulary(vocabulary(language))


def generate(language: str | Language, n: int, seed: int | random.Random,
             max_len: int | None = None) -> list[list[str]]:
    """Draw `n` sentences (token lists) from the language's generator.

    seed: an int (a fresh `random.Random(seed)` is used) or a `random.Random` (it is advanced).
    max_len: if given, sentences longer than this many tokens are redrawn, not cut (a cut sentence
    would be invalid); the result follows the generator's distribution conditioned on the length.
    """
    language = get_language(language)
    if max_len is not None and max_len < language.shortest_sample:
        raise ValueError(f"max_len={max_len} is below the shortest sentence {language.name} generates "
                         f"({language.shortest_sample} tokens); no sample could be kept.")
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    samples = []
    while len(samples) < n:
        sample = language.sample(rng)
        if max_len is None or len(sample) <= max_len:
            samples.append(sample)
    return samples


def is_valid(language: str | Language, sentence: str | Sample) -> bool:
    """True iff `sentence` (text, or a list of tokens) belongs to the language."""
    return get_language(language).is_valid(sentence)


def encode(language: str | Language, sentences: Sequence[str | Sample]) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn sentences into a padded batch: .start + token ids + .end, then .pad up to the longest.

    sentences: N sentences, as token lists or as text. Tokens outside the vocabulary become .unk.
    Returns ids: (N, T) long with T = the longest sentence + 2, and lengths: (N,) long, the number
    of non-pad positions of each row (.start and .end included).
    """
    if isinstance(sentences, str):
        raise TypeError(f"encode takes a list of sentences, got one string {sentences[:30]!r}; "
                        "wrap it in a list.")
    language = get_language(language)
    ids_of = encoding_vocabulary(language).encode
    rows = [[START_ID, *ids_of(language.split(sentence)), END_ID] for sentence in sentences]
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
    width = int(lengths.max()) if rows else 0
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    filled = torch.arange(width) < lengths[:, None]  # (N, T): True where a row has a token
    ids[filled] = torch.tensor(list(itertools.chain.from_iterable(rows)), dtype=torch.long)
    return ids, lengths


def decode(language: str | Language, ids: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
    """Turn rows of ids back into text.

    ids: (N, T), a tensor or lists of ints of any lengths (e.g. a model's samples). A leading
    .start is dropped and each row ends at its first .end or .pad. Any other special token, or an
    id outside the vocabulary, is written as its name (".unk", ...) so that the text fails
    `is_valid` instead of silently passing.
    """
    if isinstance(ids, torch.Tensor) and ids.dim() != 2:
        raise ValueError(f"ids must be (N, T), got shape {tuple(ids.shape)}; "
                         "for one sequence pass ids[None].")
    language = get_language(language)
    names = encoding_vocabulary(language).itos
    texts = []
    for row in ids:
        row = [int(index) for index in row]
        if row and row[0] == START_ID:
            row = row[1:]
        tokens = []
        for index in row:
            if index in (END_ID, PAD_ID):
                break
            tokens.append(names[index] if 0 <= index < len(names) else UNK)
        texts.append(language.text(tokens))
    return texts
