"""course_lib.sample: temperature and top-k sampling, greedy decoding, batched completion."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.sample import generate, next_token_probabilities, sample_next, sample_text

END_ID = 2  # the course's `.end`
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, -1.0])  # V = 6 categories
# Chi-square critical value for 6 categories (dof = 6 - 1 = 5) at p = 0.001, from the standard
# chi-square table (upper tail): P(chi2_5 > 20.515) = 0.001. scipy is not a course dependency.
CHI2_CRITICAL_DOF5_P001 = 20.515
DRAWS = 20_000


def chi_square(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
    expected = probabilities * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def draw_counts(temperature, seed=0):
    generator = torch.Generator().manual_seed(seed)
    ids = sample_next(LOGITS.expand(DRAWS, -1), temperature, generator=generator)  # (DRAWS,)
    return torch.bincount(ids, minlength=len(LOGITS)).double()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_samples_follow_softmax_of_logits_over_t(temperature):
    expected = torch.softmax(LOGITS.double() / temperature, dim=0)
    statistic = chi_square(draw_counts(temperature), expected)
    assert statistic < CHI2_CRITICAL_DOF5_P001, (
        f"T={temperature}: chi-square {statistic:.2f} >= {CHI2_CRITICAL_DOF5_P001} (dof 5, p=0.001)")


def test_the_chi_square_check_notices_the_wrong_temperature():
    wrong = torch.softmax(LOGITS.double() / 1.0, dim=0)  # draws made at T = 2
    assert chi_square(draw_counts(2.0), wrong) > CHI2_CRITICAL_DOF5_P001


def test_sampling_with_a_seeded_generator_repeats():
    assert torch.equal(draw_counts(1.0, seed=3), draw_counts(1.0, seed=3))


def test_temperature_zero_is_exactly_argmax():
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, 0.0), logits.argmax(dim=-1))
    assert torch.equal(next_token_probabilities(logits, 0.0), F.one_hot(logits.argmax(-1), 10).float())


def test_negative_temperature_is_refused_with_an_explanation():
    with pytest.raises(ValueError, match=r"temperature must be >= 0 \(0 means greedy"):
        sample_next(LOGITS[None], -0.5)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate(CountingModel(), [[1]], max_new_tokens=3, temperature=-1)


def test_top_k_never_samples_outside_the_k_largest_logits():
    logits = torch.randn(10, generator=torch.Generator().manual_seed(1))
    ids = sample_next(logits.expand(5000, -1), 5.0, top_k=3, generator=torch.Generator().manual_seed(2))
    assert set(ids.tolist()) == set(logits.topk(3).indices.tolist())


def test_top_k_keeps_exactly_k_tokens_even_with_ties():
    probabilities = next_token_probabilities(torch.zeros(1, 8), 1.0, top_k=2)
    assert int((probabilities > 0).sum()) == 2
    assert probabilities.sum().item() == pytest.approx(1.0)


# ----------------------------------------------------------------------------- generation

class CountingModel:
    """A fake LM that always predicts "the previous id + 1 (mod 8)": ids (B, T) -> logits (B, T, 8)."""

    def __call__(self, ids, state):
        return 10.0 * F.one_hot((ids + 1) % 8, 8).float(), state


def test_batched_generation_stops_each_row_at_end_on_its_own():
    rows = generate(CountingModel(), [[5], [1], [3]], max_new_tokens=6, temperature=0, end_id=END_ID)
    assert rows == [[6, 7, 0, 1, 2],          # reached .end after 5 tokens; .end is kept last
                    [2],                        # .end at once
                    [4, 5, 6, 7, 0, 1]]         # no .end within 6 tokens


class TinyLM(nn.Module):
    """Embedding -> GRU or LSTM (batch_first) -> Linear; forward(ids (B, T), state) -> (logits, state)."""

    def __init__(self, vocab=12, cell=nn.GRU):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, 8)
        self.rnn = cell(8, 32, batch_first=True)
        self.out = nn.Linear(32, vocab)

    def forward(self, ids, state=None):
        outputs, state = self.rnn(self.embed(ids), state)
        return self.out(outputs), state  # logits: (B, T, V)


def manual_completion(model, prompt, steps, temperature=0.0, generator=None):
    """The textbook loop, one prompt at a time: read the prompt, then feed back each new token."""
    with torch.no_grad():
        logits, state = model(torch.tensor([prompt]))
        new = []
        for _ in range(steps):
            token = sample_next(logits[:, -1], temperature, generator=generator)  # (1,)
            new.append(int(token))
            logits, state = model(token[:, None], state)
    return new


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM])
def test_batched_completion_of_uneven_prompts_matches_the_manual_loop(cell):
    model = TinyLM(cell=cell)
    prompts = [[4, 5, 6, 7], [3, 9, 9, 1, 5, 6, 10], [8]]
    rows = generate(model, prompts, max_new_tokens=10, temperature=0)
    assert rows == [manual_completion(model, prompt, 10) for prompt in prompts]


def test_sampled_completion_matches_the_manual_loop_with_the_same_generator():
    model = TinyLM()
    row = generate(model, [[4, 5, 6]], max_new_tokens=15, temperature=1.5,
                   generator=torch.Generator().manual_seed(5))[0]
    assert row == manual_completion(model, [4, 5, 6], 15, 1.5, torch.Generator().manual_seed(5))


def test_a_one_token_step_function_works_with_single_token():
    model = TinyLM(cell=nn.LSTM)

    def step(ids, state):  # ids: (B,) -> logits (B, V)
        logits, state = model(ids[:, None], state)
        return logits[:, 0], state

    prompts = [[4, 5, 6], [7]]
    assert generate(step, prompts, max_new_tokens=8, temperature=0, single_token=True) == \
           generate(model, prompts, max_new_tokens=8, temperature=0)


def test_generation_restores_the_training_mode_and_rejects_empty_prompts():
    model = TinyLM()
    model.train()
    generate(model, torch.tensor([[1, 4]]), max_new_tokens=2)
    assert model.training
    with pytest.raises(ValueError, match="at least one token"):
        generate(model, [[]], max_new_tokens=2)


class CharVocab:
    def __init__(self, alphabet):
        self.alphabet = alphabet

    def encode(self, text):
        return [self.alphabet.index(ch) for ch in text]

    def decode(self, ids):
        return "".join(self.alphabet[i] for i in ids)


def test_sample_text_returns_the_prompt_and_its_continuation():
    vocab = CharVocab("abcdefghijkl")  # 12 characters for TinyLM's 12 ids
    model = TinyLM()
    text = sample_text(model, vocab, "abc", length=20, temperature=0.8,
                       generator=torch.Generator().manual_seed(0))
    assert text.startswith("abc") and len(text) == 23
    again = sample_text(model, vocab, "abc", length=20, temperature=0.8,
                        generator=torch.Generator().manual_seed(0))
    assert text == again
    greedy = sample_text(model, vocab, "abc", length=5, temperature=0)
    assert greedy == "abc" + vocab.decode(manual_completion(model, vocab.encode("abc"), 5))
    with pytest.raises(ValueError, match="encodes to no tokens"):
        sample_text(model, vocab, "", length=5)


def test_sample_text_with_the_course_char_corpus_and_vocabulary():
    from course_lib.data.text import char_corpus

    corpus = char_corpus("abcdefghijkl" * 3)  # 12 characters: encode gives a tensor, decode a str
    model = TinyLM()
    text = sample_text(model, corpus, "abc", length=6, temperature=0)
    assert text == "abc" + corpus.decode(manual_completion(model, [0, 1, 2], 6))
    # A Vocabulary's decode gives a list of characters; they are joined.
    assert sample_text(model, corpus.vocab, "abc", length=6, temperature=0) == text
