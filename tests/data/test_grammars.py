"""Tests of the chapter-9 languages: generators, recognisers, determinism and encoding."""

import itertools
import random

import pytest
import torch

from course_lib.data.grammars import (
    END_ID,
    ENGLISH_GRAMMAR,
    LANGUAGES,
    NDFA_TRANSITIONS,
    NDFA_WORDS,
    PAD_ID,
    START_ID,
    ContextFreeGrammar,
    decode,
    encode,
    encoding_vocabulary,
    generate,
    get_language,
    is_valid,
    ndfa_dfa_accepts,
    ndfa_regex_accepts,
    vocabulary,
)
from course_lib.data.vocab import UNK_ID

SEEDS = (0, 1, 2)

# Members written by hand, including ones the generators never make ("()()", "ss", mixed blocks).
MEMBERS = {
    "brackets": ["()", "(())", "()()", "(()(()))", "((()))()"],
    "ndfa": ["ss", "sabc!s", "sabc!abc!uvw!klm!s", "suvw!klm!klm!s", "sklm!s", "sabc!klm!s"],
    "english": [
        "the dog slept",
        "a small happy cat chased the bird quickly",
        "the dog slept ( with ( the cat ) )",
        "my child walked ( near the man ( with a bunny ) ) "
        "and ( the woman laughed but ( every bird waited ) )",
        "( the tall teacher ) saw my dog under a green bunny",
    ],
}
MEMBERS["english_chars"] = MEMBERS["english"]

NEAR_MISSES = {
    "brackets": ["", "(", ")", "(()", ")(", "()(", "())", "(()))(", "(a)", "[]", "( )"],
    "ndfa": [
        "", "s", "sabcs", "sabc!", "sabc!uvw!", "abc!", "sab!s", "sabc!!s", "sabc!ss", "ssabc!s",
        "suvw!abc!s",            # blocks in the wrong order
        "sklm!uvw!s",
        "sabc!uvw!klm!abc!s",
        "sabcabc!s", "Sabc!s", "s abc! s", "sabc!ab", "sxyz!s",
    ],
    "english": [
        "",
        "the dog",                                  # no verb
        "slept",                                    # no subject
        "dog slept",                                # no determiner
        "the the dog slept",                        # two determiners
        "the small slept",                          # adjective without a noun
        "the dog saw",                              # transitive verb without an object
        "the dog slept the cat",                    # intransitive verb with an object
        "the dog slept ( with the cat",             # unbalanced parentheses
        "the dog slept with the cat )",
        "the dog slept ) with the cat (",
        "the dog slept ( )",                        # empty parentheses
        "the dog slept and",                        # dangling conjunction
        "and the dog slept",
        "the dog slept and ( the cat ran",
        "the dog flew",                             # unknown word
        "the dog slept quickly quickly",
        "The dog slept",
        "the dog slept.",
        "the dog  slept",                           # two spaces make an empty word
        "the dog slept ",
    ],
}
NEAR_MISSES["english_chars"] = NEAR_MISSES["english"] + ["the dog(slept)", "thedog slept"]


# ---------------------------------------------------------------------------------------------
# Generators and recognisers

@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_generated_sentence_is_valid(name):
    language = LANGUAGES[name]
    for seed in SEEDS:
        for sample in generate(name, 2000, seed=seed):
            assert language.accepts(sample), (
                f"{name}, seed {seed}: generated {language.text(sample)!r} is rejected")
            assert set(sample) <= set(language.tokens)


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_hand_written_members_are_accepted(name):
    for sentence in MEMBERS[name]:
        assert is_valid(name, sentence), f"{name}: {sentence!r} should be accepted"


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_near_misses_are_rejected(name):
    for sentence in NEAR_MISSES[name]:
        assert not is_valid(name, sentence), f"{name}: {sentence!r} should be rejected"


def test_brackets_generator_makes_one_outermost_pair():
    # The validator accepts "()()", but the generator stops as soon as the depth is back to 0.
    for sample in generate("brackets", 500, seed=0):
        depths = list(itertools.accumulate(1 if token == "(" else -1 for token in sample))
        assert sample[0] == "(" and depths[-1] == 0 and 0 not in depths[:-1]


def test_ndfa_generator_repeats_one_word_at_least_once():
    for sample in generate("ndfa", 500, seed=0):
        body = "".join(sample)[1:-1]
        assert body and any(body == word * (len(body) // len(word)) for word in NDFA_WORDS)
    assert "ss" not in {"".join(sample) for sample in generate("ndfa", 2000, seed=1)}


def _ndfa_test_strings():
    """Strings around the NDFA language: all short strings, members, every one-edit change of a member."""
    alphabet = vocabulary("ndfa")
    strings = {"".join(chars) for length in range(5) for chars in itertools.product(alphabet, repeat=length)}
    abc, uvw, klm = NDFA_WORDS
    members = {"s" + abc * i + uvw * j + klm * k + "s" for i, j, k in itertools.product(range(5), repeat=3)}
    members |= {"".join(sample) for sample in generate("ndfa", 300, seed=5)}
    strings |= members
    strings |= {"s" + "".join(words) + "s" for words in itertools.product(NDFA_WORDS, repeat=3)}  # any order
    for text in members:
        for position in range(len(text)):
            strings.add(text[:position] + text[position + 1:])  # delete
            swapped = text[position + 1:position + 2] + text[position]
            strings.add(text[:position] + swapped + text[position + 2:])  # swap neighbours
            for char in alphabet:
                strings.add(text[:position] + char + text[position + 1:])  # substitute
                strings.add(text[:position] + char + text[position:])  # insert
    return sorted(strings)


def test_ndfa_dfa_agrees_with_the_regular_expression():
    strings = _ndfa_test_strings()
    accepted = [text for text in strings if ndfa_regex_accepts(text)]
    assert len(accepted) > 100 and len(strings) - len(accepted) > 50_000  # both sides well covered
    disagreements = [text for text in strings if ndfa_dfa_accepts(text) != ndfa_regex_accepts(text)]
    assert disagreements == []


def test_ndfa_transition_table_is_closed():
    states = set(NDFA_TRANSITIONS)
    assert all(target in states for moves in NDFA_TRANSITIONS.values() for target in moves.values())
    assert {token for moves in NDFA_TRANSITIONS.values() for token in moves} == set(vocabulary("ndfa"))


def test_english_character_view_is_the_word_view_joined_by_spaces():
    words = generate("english", 200, seed=4)
    characters = generate("english_chars", 200, seed=4)
    assert ["".join(chars) for chars in characters] == [" ".join(sentence) for sentence in words]


def test_depth_cap_makes_an_exploding_grammar_terminate():
    # S -> S S ten times as often as S -> x: without the cap the expected size is infinite.
    grammar = ContextFreeGrammar({"S": [(10, ("S", "S")), (1, ("x",))]}, "S", max_depth=5)
    for seed in range(20):
        sentence = grammar.sample(random.Random(seed))
        assert 1 <= len(sentence) <= 2**6 and set(sentence) == {"x"}
        assert grammar.accepts(sentence)
    assert not grammar.accepts([]) and not grammar.accepts(["x", "y"])


@pytest.mark.parametrize("rules, message", [
    ({"S": [(1, ())]}, "empty expansion"),
    ({"S": [(1, ("A",))], "A": []}, "no expansion"),
    ({"S": [(0, ("x",))]}, "positive weight"),
    ({"S": [(1, ("S", "x"))]}, "ever reaches words"),
    ({"A": [(1, ("x",))]}, "start symbol"),
])
def test_broken_rule_tables_are_refused(rules, message):
    with pytest.raises(ValueError, match=message):
        ContextFreeGrammar(rules, "S", max_depth=5)


def test_english_rule_table_covers_the_course_ingredients():
    rules = ENGLISH_GRAMMAR.rules
    for category in ("DETERMINER", "ADJECTIVE", "NOUN", "INTRANSITIVE_VERB", "TRANSITIVE_VERB",
                     "ADVERB", "PREPOSITION", "CONJUNCTION"):
        assert category in rules
    sentences = [" ".join(sample) for sample in generate("english", 2000, seed=0)]
    assert any(" ( " in sentence and " ) )" in sentence for sentence in sentences)  # nested parentheses


# ---------------------------------------------------------------------------------------------
# Determinism, vocabulary, errors

@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_seeds_decide_the_samples(name):
    random.seed(99)
    global_state = random.getstate()
    assert generate(name, 50, seed=0) == generate(name, 50, seed=0)
    assert generate(name, 50, seed=0) != generate(name, 50, seed=1)
    assert generate(name, 50, seed=random.Random(0)) == generate(name, 50, seed=0)
    rng = random.Random(3)
    assert generate(name, 20, seed=rng) != generate(name, 20, seed=rng)  # a Random is advanced
    assert random.getstate() == global_state  # the global generator is never touched


def test_vocabularies_are_sorted_and_fixed():
    assert vocabulary("brackets") == ["(", ")"]
    assert vocabulary("ndfa") == ["!", "a", "b", "c", "k", "l", "m", "s", "u", "v", "w"]
    for name in LANGUAGES:
        tokens = vocabulary(name)
        assert tokens == sorted(set(tokens))
    assert vocabulary("english_chars") == sorted(set(" ".join(vocabulary("english"))))
    assert {"(", ")", "the", "and"} <= set(vocabulary("english"))


def test_special_token_ids():
    assert (PAD_ID, START_ID, END_ID, UNK_ID) == (0, 1, 2, 3)
    for name in LANGUAGES:
        names = encoding_vocabulary(name).itos
        assert names == [".pad", ".start", ".end", ".unk"] + vocabulary(name)


def test_unknown_language_lists_the_known_ones():
    with pytest.raises(ValueError, match="brackets, english, english_chars, ndfa"):
        get_language("dyck")
    assert get_language(LANGUAGES["ndfa"]) is LANGUAGES["ndfa"]


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_max_len_redraws_long_samples(name):
    language = LANGUAGES[name]
    samples = generate(name, 300, seed=0, max_len=language.shortest_sample + 10)
    assert all(len(sample) <= language.shortest_sample + 10 for sample in samples)
    assert all(language.accepts(sample) for sample in samples)
    shortest = generate(name, 3, seed=0, max_len=language.shortest_sample)  # the bound is reachable
    assert all(len(sample) == language.shortest_sample for sample in shortest)
    with pytest.raises(ValueError, match="below the shortest sentence"):
        generate(name, 1, seed=0, max_len=language.shortest_sample - 1)


# ---------------------------------------------------------------------------------------------
# Encoding

@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_encode_decode_round_trip(name):
    language = LANGUAGES[name]
    samples = generate(name, 300, seed=2)
    ids, lengths = encode(name, samples)
    assert ids.dtype == torch.long and lengths.dtype == torch.long
    assert ids.shape == (300, max(map(len, samples)) + 2)
    assert lengths.tolist() == [len(sample) + 2 for sample in samples]
    rows = torch.arange(300)
    assert (ids[:, 0] == START_ID).all() and (ids[rows, lengths - 1] == END_ID).all()
    padding = torch.arange(ids.shape[1]) >= lengths[:, None]
    assert (ids[padding] == PAD_ID).all() and (ids[~padding] != PAD_ID).all()
    assert (ids != UNK_ID).all()
    texts = decode(name, ids)
    assert texts == [language.text(sample) for sample in samples]
    assert all(is_valid(name, text) for text in texts)
    assert torch.equal(encode(name, texts)[0], ids)  # text in, same ids out


def test_encoding_by_hand():
    ids, lengths = encode("brackets", ["()", "(())"])
    assert ids.tolist() == [[1, 4, 5, 2, 0, 0], [1, 4, 4, 5, 5, 2]] and lengths.tolist() == [4, 6]
    ids, _ = encode("english", [["the", "dog", "flew"]])
    assert ids[0, 3].item() == UNK_ID
    ids, lengths = encode("ndfa", [])
    assert ids.shape == (0, 0) and lengths.shape == (0,)


def test_decode_reads_model_output():
    open_, close = encoding_vocabulary("brackets").encode("()")
    rows = [
        [START_ID, open_, close, END_ID, open_],          # stops at .end
        [open_, open_, close, close, PAD_ID, close],      # no .start (a completion), stops at .pad
        [START_ID, open_, START_ID, close],               # a stray .start is kept, so it is invalid
        [START_ID, open_, 99, close],                     # an id beyond the vocabulary reads as .unk
        [START_ID, open_, open_, close],                  # no .end: cut off at the length limit
    ]
    texts = decode("brackets", rows)
    assert texts == ["()", "(())", "(.start)", "(.unk)", "(()"]
    assert [is_valid("brackets", text) for text in texts] == [True, True, False, False, False]


def test_encode_and_decode_explain_wrong_shapes():
    with pytest.raises(TypeError, match="wrap it in a list"):
        encode("ndfa", "sabc!s")
    with pytest.raises(ValueError, match=r"ids must be \(N, T\)"):
        decode("ndfa", torch.tensor([START_ID, END_ID]))
