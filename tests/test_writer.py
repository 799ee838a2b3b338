"""The background writer: order kept, errors per item, bounded, nothing lost on Ctrl-C."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from assurexray.engine.file_writers import (
    BackgroundWriter,
    WriteInterrupted,
    WriterPlan,
    plan_writers,
)


def test_outcomes_come_back_in_order_with_errors_per_item() -> None:
    def write(n: int) -> int:
        time.sleep(0.01 * (n % 3))  # uneven work
        if n == 4:
            raise OSError("disk full")
        return n * n

    writer = BackgroundWriter(write, ahead=3)
    outcomes = []
    for n in range(8):
        outcomes.extend(writer.submit(n))
        assert len(writer._pending) <= 3  # bounded: the caller waits beyond `ahead`
    outcomes.extend(writer.finish())
    assert [item for item, _ in outcomes] == list(range(8))
    assert [o for _, o in outcomes if not isinstance(o, Exception)] == [0, 1, 4, 9, 25, 36, 49]
    failed = [(item, o) for item, o in outcomes if isinstance(o, Exception)]
    assert len(failed) == 1 and failed[0][0] == 4 and str(failed[0][1]) == "disk full"


def test_work_runs_off_the_calling_thread() -> None:
    threads: list[str] = []
    writer = BackgroundWriter(lambda _: threads.append(threading.current_thread().name))
    writer.submit(1)
    writer.finish()
    assert threads and threads[0] != threading.current_thread().name


def test_an_interrupted_finish_records_every_unwritten_item(monkeypatch) -> None:
    release = threading.Event()
    writer = BackgroundWriter(lambda n: release.wait(5) and n, ahead=10)
    for n in range(3):
        writer.submit(n)
    calls = 0
    original = writer._collect

    def interrupted_once():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyboardInterrupt  # a second Ctrl-C while waiting for the writer
        return original()

    monkeypatch.setattr(writer, "_collect", interrupted_once)
    outcomes = writer.finish()
    release.set()
    assert writer.interrupted
    assert [item for item, _ in outcomes] == [0, 1, 2]
    assert all(isinstance(o, WriteInterrupted) for _, o in outcomes)


def _images_and_model(tmp_path: Path, checkpoint: Path, count: int):
    """``count`` grey PNGs in ``tmp_path/in`` and the tiny model, opened on the CPU."""
    from conftest import write_gray_png

    from assurexray.engine.model_opening import ModelOptions, open_model

    files = [write_gray_png(tmp_path / "in" / f"x{n}.png", seed=n) for n in range(count)]
    return files, open_model(ModelOptions(checkpoint), "cpu")


def _explained_batches(files: list[Path], model):
    from assurexray.engine.jobs import StreamOptions
    from assurexray.engine.streaming import explain_batches

    stream = StreamOptions(batch_size=2, workers=1)
    return explain_batches(files, model.explainer, model.preprocess, stream)


def _write_results(batches, files: list[Path], model, output: Path, *, take_turns: bool):
    """Run infer's ``process`` on ``batches`` with two writer threads; return its run."""
    from assurexray.inference.infer import InferRun, RenderOptions, process
    from assurexray.inference.infer_inputs import output_names

    run = InferRun(output, model.class_names, {})
    return process(
        batches,
        output_names(files),
        run,
        method="gradcam",
        target_layers=["bn2"],
        render=RenderOptions(),
        writers=WriterPlan(threads=2, take_turns=take_turns),
    )


@pytest.mark.parametrize("take_turns", [False, True], ids=["beside", "in-turns"])
def test_infer_ctrl_c_keeps_every_finished_image_whole(
    tmp_path: Path, tiny_checkpoint: Path, take_turns: bool
) -> None:
    """Ctrl-C after a batch of two: both have all their files and are in the batch files."""
    files, model = _images_and_model(tmp_path, tiny_checkpoint, 4)

    def interrupted_after_two():
        for n, batch in enumerate(_explained_batches(files, model)):
            if n == 1:
                raise KeyboardInterrupt
            yield batch

    output = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _write_results(interrupted_after_two(), files, model, output, take_turns=take_turns)
    summary = json.loads((tmp_path / "out" / "batch_results.json").read_text())
    assert summary["num_processed"] == 2 and summary["num_failed"] == 0
    for record in summary["results"]:
        outputs = record["outputs"]
        assert set(outputs) == {"overlay", "heatmap", "json"}
        assert all(Path(p).is_file() for p in outputs.values())
        assert record["notes"] == []
    assert not (tmp_path / "out" / "x2.json").exists()


def test_writers_run_at_once_and_drain_returns_every_outcome_in_order() -> None:
    both_started = threading.Barrier(2, timeout=5)  # broken unless two writes overlap

    def write(n: int) -> int:
        both_started.wait()
        return n

    writer = BackgroundWriter(write, threads=2)
    outcomes = writer.submit(0) + writer.submit(1)  # may return what is already written
    outcomes += writer.drain()  # waits for the rest
    assert outcomes == [(0, 0), (1, 1)]
    assert writer.drain() == [] and writer.finish() == []


@pytest.mark.parametrize(
    ("on_cpu", "model_threads", "cores", "plan"),
    [
        (True, 2, 2, WriterPlan(threads=2, take_turns=True)),  # the model uses every core
        (True, 1, 2, WriterPlan(threads=1, take_turns=False)),  # one core left for writing
        (True, 2, 16, WriterPlan(threads=4, take_turns=False)),
        (False, 2, 8, WriterPlan(threads=4, take_turns=False)),  # GPU: half the cores
        (False, 1, 1, WriterPlan(threads=1, take_turns=False)),
    ],
)
def test_writer_plan(on_cpu: bool, model_threads: int, cores: int, plan: WriterPlan) -> None:
    assert plan_writers(on_cpu=on_cpu, model_threads=model_threads, cores=cores) == plan


def test_in_turns_every_batch_is_written_before_the_next_forward_pass(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    files, model = _images_and_model(tmp_path, tiny_checkpoint, 6)
    written_before_next: list[bool] = []

    def checked_batches():
        done: list[Path] = []
        for batch in _explained_batches(files, model):
            jsons = [tmp_path / "out" / f"{path.stem}.json" for path in done]
            written_before_next.append(all(json_file.is_file() for json_file in jsons))
            done += [item.image.path for item in batch]
            yield batch

    run = _write_results(checked_batches(), files, model, tmp_path / "out", take_turns=True)
    assert written_before_next == [True, True, True]
    assert [Path(r["image_path"]).name for r in run.results] == [f.name for f in files]
