"""course_lib.train.fit: learning, clipping, truncated BPTT, exact resume, History and checkpoints."""

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import checkpoint as checkpoint_module
from course_lib.config import seed_everything
from course_lib.history import History
from course_lib.metrics import Accuracy, Perplexity, masked_cross_entropy
from course_lib.train import detach_state, evaluate, fit

VOCAB = 11


# ----------------------------------------------------------------------------- tiny tasks

def separable_points(n=256, seed=0):
    """Points in 2-D labelled by the side of the line x0 + 2 x1 = 0: x (n, 2), y (n,)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=generator)
    y = (x[:, 0] + 2 * x[:, 1] > 0).long()
    return TensorDataset(x, y)


def classifier():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))


class TinyLM(nn.Module):
    """Embedding -> GRU -> dropout -> Linear; forward(ids (B, T), state) -> (logits (B, T, V), state)."""

    def __init__(self, hidden=16, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.rnn = nn.GRU(8, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, ids, state=None):
        outputs, state = self.rnn(self.embed(ids), state)
        return self.out(self.drop(outputs)), state


def stream_batches(batch_size=4, steps=6, num_batches=5, seed=0):
    """Continuous-stream LM batches: row b of batch k+1 continues row b of batch k.

    The stream counts up modulo VOCAB with occasional random jumps, so it is learnable.
    Returns a list of (x (B, T), y (B, T)) with y = x shifted by one token.
    """
    generator = torch.Generator().manual_seed(seed)
    length = num_batches * steps + 1
    jumps = torch.randint(0, VOCAB, (batch_size, length), generator=generator)
    keep = torch.rand(batch_size, length, generator=generator) < 0.8
    stream = torch.zeros(batch_size, length, dtype=torch.long)
    for t in range(1, length):
        stream[:, t] = torch.where(keep[:, t], (stream[:, t - 1] + 1) % VOCAB, jumps[:, t])
    return [(stream[:, k * steps:(k + 1) * steps], stream[:, k * steps + 1:(k + 1) * steps + 1])
            for k in range(num_batches)]


def lm_loss(logits, targets):
    return masked_cross_entropy(logits, targets, ignore_index=None)  # every id is a real token


def zaremba_schedule(optimizer):
    # lr 1 for epochs 1-4, then halved after every epoch (the scheduler steps after an epoch).
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: 0.5 ** max(0, done - 3))


# ----------------------------------------------------------------------------- learning

def test_fit_lowers_the_loss_on_a_separable_task():
    seed_everything(0)
    model = classifier()
    history = fit(model, DataLoader(separable_points(), batch_size=32, shuffle=True),
                  valid_batches=DataLoader(separable_points(seed=1), batch_size=64),
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.03), loss_fn=F.cross_entropy,
                  metrics=[Accuracy()], epochs=6, device="cpu", progress=False)
    assert history.epochs["epoch"] == [1, 2, 3, 4, 5, 6]
    assert history.last("train_loss") < 0.5 * history.steps["loss"][0]
    assert history.last("valid_accuracy") > 0.9
    assert history.num_steps == 6 * 8
    assert set(history.epochs) == {"epoch", "train_loss", "train_accuracy", "valid_loss",
                                   "valid_accuracy", "lr", "seconds"}
    assert all(seconds > 0 for seconds in history.epochs["seconds"])


def test_classification_batches_with_lengths_and_masks_reach_the_model():
    """A (ids, lengths, mask, labels) batch calls model(ids, lengths, mask)."""
    calls = []

    class MaskedMean(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.out = nn.Embedding(VOCAB, 4), nn.Linear(4, 2)

        def forward(self, ids, lengths, mask):  # ids, mask: (B, T); lengths: (B,)
            calls.append((ids.shape, lengths.shape, mask.shape))
            summed = (self.embed(ids) * mask[..., None]).sum(1)
            return self.out(summed / lengths[:, None])

    ids = torch.tensor([[4, 5, 0], [6, 0, 0]])
    batch = (ids, torch.tensor([2.0, 1.0]), (ids != 0).float(), torch.tensor([1, 0]))
    model = MaskedMean()
    fit(model, [batch], optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=F.cross_entropy, device="cpu", progress=False)
    assert calls == [(torch.Size([2, 3]), torch.Size([2]), torch.Size([2, 3]))]


def test_max_steps_ends_training_mid_epoch():
    seed_everything(0)
    model = classifier()
    history = fit(model, DataLoader(separable_points(), batch_size=32), epochs=10, max_steps=11,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy,
                  device="cpu", progress=False)
    assert history.num_steps == 11
    assert history.epochs["epoch"] == [1, 2]  # 8 steps, then 3 of epoch 2


def test_scheduler_steps_once_per_epoch_with_the_zaremba_decay():
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    history = fit(model, [(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))], epochs=7,
                  optimizer=optimizer, scheduler=zaremba_schedule(optimizer),
                  loss_fn=F.cross_entropy, device="cpu", progress=False)
    assert history.epochs["lr"] == [1, 1, 1, 1, 0.5, 0.25, 0.125]


def test_step_schedulers_and_plateau_schedulers():
    batches = [(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))] * 3
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    per_step = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda steps: 0.5 ** steps)
    history = fit(model, batches, epochs=2, optimizer=optimizer, scheduler=per_step,
                  scheduler_interval="step", loss_fn=F.cross_entropy, device="cpu", progress=False)
    assert history.epochs["lr"] == [1.0, 0.5 ** 3]  # the lr at the start of each epoch

    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.1)
    history = fit(model, batches, valid_batches=batches, epochs=4, optimizer=optimizer,
                  scheduler=plateau, loss_fn=lambda logits, y: logits.sum() * 0 + 1.0,  # never improves
                  device="cpu", progress=False)
    assert history.epochs["lr"] == pytest.approx([1.0, 1.0, 0.1, 0.01])


# ----------------------------------------------------------------------------- gradient clipping

def test_clipping_caps_the_gradient_norm_and_records_the_norm_before():
    # Regression onto huge targets: the gradients are far above the threshold.
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    batches = [(x, 1000 * x.sum(1, keepdim=True))]
    model = nn.Linear(3, 1)
    history = fit(model, batches, epochs=5, clip_norm=1.0, loss_fn=F.mse_loss,
                  optimizer=torch.optim.SGD(model.parameters(), lr=1e-3), device="cpu", progress=False)
    assert min(history.steps["grad_norm"]) > 1.0
    assert max(history.steps["clipped_grad_norm"]) <= 1.0 + 1e-5
    assert history.steps["clipped_grad_norm"] == pytest.approx([1.0] * 5, rel=1e-4)


def test_without_clipping_the_two_recorded_norms_agree():
    model = nn.Linear(3, 1)
    history = fit(model, [(torch.randn(8, 3), torch.randn(8, 1))], epochs=3, loss_fn=F.mse_loss,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), device="cpu", progress=False)
    assert history.steps["grad_norm"] == history.steps["clipped_grad_norm"]


# ----------------------------------------------------------------------------- truncated BPTT

class RecordingLM(TinyLM):
    """Remembers the state each forward call received."""

    def __init__(self):
        super().__init__()
        self.received = []

    def forward(self, ids, state=None):
        self.received.append(state)
        return super().forward(ids, state)


def test_tbptt_carries_the_state_detached_and_resets_it_every_epoch():
    seed_everything(0)
    model = RecordingLM()
    fit(model, stream_batches(num_batches=3), epochs=2, carry_state=True, loss_fn=lm_loss,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5), device="cpu", progress=False)
    first_epoch, second_epoch = model.received[:3], model.received[3:]
    for epoch in (first_epoch, second_epoch):
        assert epoch[0] is None                                  # a fresh state each epoch
        for state in epoch[1:]:
            assert state.shape == (1, 4, 16)                      # (layers, B, H), carried over
            assert state.grad_fn is None and not state.requires_grad  # cut from the last batch


def test_tbptt_gradient_equals_one_batch_from_the_carried_state_values():
    """Step 2's gradient is that of batch 2 alone, started from batch 1's final state values."""
    seed_everything(0)
    model = TinyLM(dropout=0.0)  # no dropout, so that the manual computation repeats fit's exactly
    (x1, y1), (x2, y2) = stream_batches(num_batches=2)
    history = fit(model, [(x1, y1), (x2, y2)], carry_state=True, loss_fn=lm_loss,
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.0), device="cpu", progress=False)

    def grad_norm_of_batch_two(detach: bool) -> float:
        model.zero_grad()
        _, state = model(x1)
        logits, _ = model(x2, state.detach() if detach else state)
        lm_loss(logits, y2).backward()
        return float(torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]))

    assert history.steps["grad_norm"][1] == pytest.approx(grad_norm_of_batch_two(detach=True), rel=1e-6)
    # The check has teeth: backpropagating into batch 1 gives another gradient.
    assert history.steps["grad_norm"][1] != pytest.approx(grad_norm_of_batch_two(detach=False), rel=1e-3)


def test_detach_state_handles_lstm_tuples():
    h = torch.ones(1, 2, 3, requires_grad=True) * 2
    c = torch.ones(1, 2, 3, requires_grad=True) * 3
    detached = detach_state((h, c))
    assert isinstance(detached, tuple) and all(part.grad_fn is None for part in detached)
    assert torch.equal(detached[0], h) and detach_state(None) is None


# ----------------------------------------------------------------------------- exact resume

def run_classifier(checkpoint_path, epochs, seed, resume, own_generator):
    seed_everything(seed)
    model = classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed) if own_generator else None
    loader = DataLoader(separable_points(64), batch_size=16, shuffle=True, generator=generator)
    history = fit(model, loader, valid_batches=DataLoader(separable_points(32, seed=1), batch_size=32),
                  epochs=epochs, optimizer=optimizer, loss_fn=F.cross_entropy, metrics=[Accuracy()],
                  scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7),
                  checkpoint_path=checkpoint_path, resume=resume, device="cpu", progress=False)
    return history, model


@pytest.mark.parametrize("own_generator", [False, True], ids=["global-rng", "loader-generator"])
def test_resumed_classification_repeats_the_uninterrupted_run_exactly(tmp_path, own_generator):
    full, full_model = run_classifier(tmp_path / "full.pt", 4, seed=0, resume=False,
                                      own_generator=own_generator)
    run_classifier(tmp_path / "cut.pt", 2, seed=0, resume=False, own_generator=own_generator)
    # A different seed proves that everything needed comes from the checkpoint.
    resumed, resumed_model = run_classifier(tmp_path / "cut.pt", 4, seed=123, resume=True,
                                            own_generator=own_generator)
    assert resumed.steps["loss"][8:] == full.steps["loss"][8:]    # epochs 3-4, bit for bit
    assert resumed.steps == full.steps
    assert {k: v for k, v in resumed.epochs.items() if k != "seconds"} == \
           {k: v for k, v in full.epochs.items() if k != "seconds"}
    for a, b in zip(resumed_model.parameters(), full_model.parameters()):
        assert torch.equal(a, b)


def run_lm(checkpoint_path, epochs, seed, resume, crash_in_epoch=None, on_epoch_end=None):
    seed_everything(seed)
    model = TinyLM()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    train = stream_batches(num_batches=4)

    def batches_of_epoch(epoch):
        for index, batch in enumerate(train):
            if epoch == crash_in_epoch and index == 2:
                raise KeyboardInterrupt("the laptop lid closed")
            yield batch

    return fit(model, batches_of_epoch, valid_batches=stream_batches(num_batches=2, seed=1),
               epochs=epochs, carry_state=True, clip_norm=5.0, loss_fn=lm_loss,
               metrics=[Perplexity(ignore_index=None)], optimizer=optimizer,
               scheduler=zaremba_schedule(optimizer), checkpoint_path=checkpoint_path,
               resume=resume, device="cpu", progress=False, on_epoch_end=on_epoch_end)


def test_resumed_tbptt_language_model_repeats_the_uninterrupted_run_exactly(tmp_path):
    full = run_lm(tmp_path / "full.pt", 6, seed=0, resume=False)
    with pytest.raises(KeyboardInterrupt):
        run_lm(tmp_path / "cut.pt", 6, seed=0, resume=False, crash_in_epoch=4)
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["epoch"] == 3  # the last whole epoch
    resumed = run_lm(tmp_path / "cut.pt", 6, seed=7, resume=True)
    assert resumed.steps["loss"][12:] == full.steps["loss"][12:]  # epochs 4-6, bit for bit
    assert resumed.epochs["valid_perplexity"] == full.epochs["valid_perplexity"]
    assert resumed.epochs["lr"] == [1, 1, 1, 1, 0.5, 0.25]


def test_resume_without_a_checkpoint_starts_afresh(tmp_path):
    history = run_lm(tmp_path / "missing.pt", 1, seed=0, resume=True)
    assert history.epochs["epoch"] == [1]
    assert (tmp_path / "missing.pt").exists()


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "run.pt"
    run_lm(path, 1, seed=0, resume=False)
    before = path.read_bytes()

    def torch_save_that_dies(contents, file):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", torch_save_that_dies)
    with pytest.raises(OSError, match="disk full"):
        run_lm(path, 2, seed=0, resume=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left behind


# ----------------------------------------------------------------------------- on_epoch_end

def fit_classifier(epochs=3, on_epoch_end=None, progress=False):
    """Adam on the separable points, 4 batches an epoch, valid accuracy; returns (History, model)."""
    seed_everything(0)
    model = classifier()
    history = fit(model, DataLoader(separable_points(64), batch_size=16, shuffle=True),
                  valid_batches=DataLoader(separable_points(32, seed=1), batch_size=32), epochs=epochs,
                  optimizer=torch.optim.Adam(model.parameters(), lr=0.01), loss_fn=F.cross_entropy,
                  metrics=[Accuracy()], device="cpu", progress=progress, on_epoch_end=on_epoch_end)
    return history, model


# A list, not a DataLoader: starting to iterate a DataLoader draws a seed from torch's global
# generator, which would change the shuffling of the epochs after the callback.
TEST_POINTS = [separable_points(48, seed=2).tensors]


def without_seconds(epochs):
    return {name: values for name, values in epochs.items() if name != "seconds"}


def test_on_epoch_end_runs_once_per_epoch_and_its_values_become_columns():
    calls, measured = [], []

    def measure_on_test(epoch, model, row):
        # After the epoch's training and validation, with that epoch's numbers so far.
        calls.append((epoch, model, dict(row)))
        test = evaluate(model, TEST_POINTS, loss_fn=F.cross_entropy, metrics=[Accuracy()], device="cpu")
        measured.append(test)
        return {"test_accuracy": test["accuracy"], "test_loss": test["loss"], "tenfold_epoch": 10 * epoch}

    history, model = fit_classifier(epochs=3, on_epoch_end=measure_on_test)
    assert [epoch for epoch, _, _ in calls] == [1, 2, 3]
    assert all(seen is model for _, seen, _ in calls)
    for epoch, _, row in calls:  # the row it saw is the epoch's logged row, without what it added
        assert list(row) == ["epoch", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy"]
        assert row == {name: history.epochs[name][epoch - 1] for name in row}
    assert history.epochs["test_accuracy"] == [test["accuracy"] for test in measured]
    assert history.epochs["test_loss"] == [test["loss"] for test in measured]
    assert history.epochs["tenfold_epoch"] == [10, 20, 30]
    # The last value is the trained model's: evaluating it again gives the same number, bit for bit.
    again = evaluate(model, TEST_POINTS, loss_fn=F.cross_entropy, metrics=[Accuracy()], device="cpu")
    assert history.last("test_accuracy") == again["accuracy"]
    assert history.last("test_loss") == again["loss"]
    assert list(history.epochs) == ["epoch", "train_loss", "train_accuracy", "valid_loss", "valid_accuracy",
                                    "test_accuracy", "test_loss", "tenfold_epoch", "lr", "seconds"]
    # Measuring in the callback changes nothing else: the run equals one without it.
    plain, _ = fit_classifier(epochs=3)
    assert history.steps == plain.steps
    assert {name: values for name, values in without_seconds(history.epochs).items()
            if not name.startswith(("test_", "tenfold"))} == without_seconds(plain.epochs)


def test_on_epoch_end_returning_none_adds_nothing():
    epochs_seen = []
    history, _ = fit_classifier(epochs=2, on_epoch_end=lambda epoch, model, row: epochs_seen.append(epoch))
    plain, _ = fit_classifier(epochs=2)
    assert epochs_seen == [1, 2]
    assert list(history.epochs) == list(plain.epochs)
    assert without_seconds(history.epochs) == without_seconds(plain.epochs)
    assert history.steps == plain.steps


def test_on_epoch_end_values_are_printed_and_sent_to_tensorboard(monkeypatch, capsys):
    scalars = []

    class Writer:
        def add_scalar(self, name, value, step):
            scalars.append((name, value, step))

        def close(self):
            pass

    monkeypatch.setattr("course_lib.train._open_tensorboard", lambda log_dir: Writer())
    model = nn.Linear(2, 2)
    fit(model, [(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))], epochs=2,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy, device="cpu",
        tensorboard_dir="unused", on_epoch_end=lambda epoch, model, row: {"test_score": 0.25 * epoch})
    assert [(name, value, step) for name, value, step in scalars if name == "epoch/test_score"] == \
        [("epoch/test_score", 0.25, 1), ("epoch/test_score", 0.5, 2)]
    printed = capsys.readouterr()
    assert "test_score 0.25" in printed.out + printed.err and "test_score 0.5" in printed.out + printed.err


def test_on_epoch_end_is_repeated_exactly_by_a_resumed_run(tmp_path):
    def callback(calls):
        def on_epoch_end(epoch, model, row):
            calls.append(epoch)
            # A random draw, as sampling text would make: the checkpoint saves the generator after it.
            return {"epoch_squared": epoch**2, "draw": torch.rand(()).item(),
                    "train_loss_seen": row["train_loss"]}
        return on_epoch_end

    full_calls, cut_calls, resumed_calls = [], [], []
    full = run_lm(tmp_path / "full.pt", 6, seed=0, resume=False, on_epoch_end=callback(full_calls))
    with pytest.raises(KeyboardInterrupt):
        run_lm(tmp_path / "cut.pt", 6, seed=0, resume=False, crash_in_epoch=4, on_epoch_end=callback(cut_calls))
    resumed = run_lm(tmp_path / "cut.pt", 6, seed=7, resume=True, on_epoch_end=callback(resumed_calls))
    assert (full_calls, cut_calls, resumed_calls) == ([1, 2, 3, 4, 5, 6], [1, 2, 3], [4, 5, 6])
    assert resumed.epochs["epoch_squared"] == full.epochs["epoch_squared"] == [1, 4, 9, 16, 25, 36]
    assert resumed.epochs["train_loss_seen"] == full.epochs["train_loss"]
    assert resumed.epochs["draw"] == full.epochs["draw"]
    assert len(set(full.epochs["draw"])) == 6
    assert without_seconds(resumed.epochs) == without_seconds(full.epochs)
    assert resumed.steps == full.steps


def test_an_error_in_on_epoch_end_stops_fit_before_that_epoch_is_saved(tmp_path):
    def fails_in_epoch_2(epoch, model, row):
        if epoch == 2:
            raise RuntimeError("the sampler broke")
        return {"fine": 1.0}

    with pytest.raises(RuntimeError, match="the sampler broke"):
        run_lm(tmp_path / "run.pt", 3, seed=0, resume=False, on_epoch_end=fails_in_epoch_2)
    saved = torch.load(tmp_path / "run.pt", weights_only=True)
    assert saved["epoch"] == 1
    assert saved["history"]["epochs"]["fine"] == [1.0]


def test_on_epoch_end_must_return_a_dict_of_new_columns():
    model = nn.Linear(2, 2)
    batches = [(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))]

    def run(callback):
        return fit(model, batches, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                   loss_fn=F.cross_entropy, device="cpu", progress=False, on_epoch_end=callback)

    with pytest.raises(TypeError, match="must return a dict of numbers .* returned a float"):
        run(lambda epoch, model, row: 0.5)
    with pytest.raises(ValueError, match=r"returned \['lr', 'train_loss'\], which fit already records"):
        run(lambda epoch, model, row: {"train_loss": 1.0, "lr": 2.0, "test_loss": 3.0})


# ----------------------------------------------------------------------------- History, errors

def test_history_round_trips_through_json(tmp_path):
    seed_everything(0)
    model = classifier()
    history = fit(model, DataLoader(separable_points(64), batch_size=16), epochs=2,
                  optimizer=torch.optim.Adam(model.parameters()), loss_fn=F.cross_entropy,
                  metrics=[Accuracy()], device="cpu", progress=False)
    history.save(tmp_path / "history.json")
    assert json.loads((tmp_path / "history.json").read_text())["epochs"]["epoch"] == [1, 2]
    loaded = History.load(tmp_path / "history.json")
    assert loaded == history
    assert loaded.best("train_loss", mode="min") == min(history.epochs["train_loss"])
    assert loaded.table().splitlines()[0].split() == list(history.epochs)
    with pytest.raises(KeyError, match="no epoch column 'valid_loss'"):
        loaded.last("valid_loss")


def test_evaluate_returns_loss_and_metrics_and_restores_training_mode():
    model = classifier()
    results = evaluate(model, DataLoader(separable_points(40), batch_size=16), loss_fn=F.cross_entropy,
                       metrics=[Accuracy()], device="cpu")
    assert set(results) == {"loss", "accuracy"} and 0 <= results["accuracy"] <= 1
    assert model.training


def test_a_one_shot_generator_of_batches_is_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit(model, (batch for batch in [(torch.randn(2, 2), torch.tensor([0, 1]))]), epochs=2,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy,
            progress=False)


def test_a_batch_that_is_not_a_tuple_gets_a_helpful_error():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"\(\*inputs, targets\)"):
        fit(model, [{"x": torch.randn(2, 2)}], optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            loss_fn=F.cross_entropy, device="cpu", progress=False)


def test_a_diverging_loss_stops_with_advice():
    model = nn.Linear(1, 1)
    batches = [(torch.tensor([[1e30]]), torch.tensor([[1e30]]))]
    with pytest.raises(FloatingPointError, match="smaller learning rate"):
        fit(model, batches, epochs=3, optimizer=torch.optim.SGD(model.parameters(), lr=1e10),
            loss_fn=F.mse_loss, device="cpu", progress=False)


def test_tensorboard_missing_is_a_warning_not_a_failure(tmp_path):
    try:
        import tensorboard  # noqa: F401
        pytest.skip("tensorboard is installed; this test is about its absence")
    except ImportError:
        pass
    model = nn.Linear(2, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(model, [(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))],
                      optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy,
                      tensorboard_dir=tmp_path / "tb", device="cpu", progress=False)
    assert history.num_steps == 1
    assert any("tensorboard is not installed" in str(w.message) for w in caught)


def test_progress_bars_and_epoch_lines_do_not_break_training(capsys):
    model = nn.Linear(2, 2)
    fit(model, [(torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))] * 3, epochs=2,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy,
        metrics=[Accuracy()], device="cpu", progress=True)
    printed = capsys.readouterr()
    assert "epoch 2/2" in printed.out + printed.err and "train_accuracy" in printed.out + printed.err
