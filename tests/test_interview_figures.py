"""The interview bank quotes measured figures only through placeholders, and those agree with bench/results."""

import importlib.util
import json
import re

import pytest
import yaml

from helpers import results
from helpers.interview import figures, load_bank
from helpers.interview.bank import BankError, parse_entry
from lesson_sources import ROOT

# A number that looks measured: a percentage, a multiple ("4.1x", "3 倍"), a size, points, a number with thousands
# separators, or a decimal. Every such literal in the bank is a placeholder or is declared in the entry's
# `constants` (definitions, paper values, settings, arithmetic), so no course measurement is typed by hand.
FIGURE_LIKE = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s?(?:%|x\b|倍|KB|MB|GB|KiB|MiB|GiB| points|个百分点)"
    r"|(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+\.\d+(?![\w.])")


def raw_entries():
    for path in sorted(figures.bank_files()):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
            yield path.name, entry


def entry_texts(entry):
    texts = [entry["question"][lang] + "\n" + entry["answer"][lang] for lang in ("zh", "en")]
    for choice in entry.get("choices", []):
        texts += [choice["text"][lang] + "\n" + choice["why"][lang] for lang in ("zh", "en")]
    return texts


def test_the_snapshot_agrees_with_the_measurement_files():
    shipped = figures.read_snapshot()
    measured = figures.measure_snapshot(figures.bank_placeholders())
    stale = {key: (shipped.get(key, "absent"), value) for key, value in measured.items() if shipped.get(key, "absent") != value}
    assert not stale, ("helpers/interview/figures.json disagrees with bench/results (shipped, measured): "
                       f"{stale}. Run `python -m helpers.interview.figures`.")
    assert set(shipped) == set(measured), "the snapshot holds figures no question quotes: refresh it"


def test_every_placeholder_names_a_file_a_key_and_a_format_that_work():
    bodies = figures.bank_placeholders()
    assert len(bodies) >= 30
    for body in bodies:
        figures.resolve(body)  # raises FigureError naming the placeholder otherwise


def test_no_measured_figure_is_typed_by_hand():
    offenders = {}
    for name, entry in raw_entries():
        constants = set(entry.get("constants", []))
        for text in entry_texts(entry):
            for match in FIGURE_LIKE.finditer(figures.PLACEHOLDER.sub(" ", text)):
                if match.group(0).strip() not in constants:
                    offenders.setdefault(f"{name}:{entry['id']}", set()).add(match.group(0).strip())
    assert not offenders, ("numbers that look measured but are neither placeholders nor declared constants: "
                           f"{offenders}. Quote a course measurement as {{{{results/<file>.json:<path>:<format>}}}}.")


def test_declared_constants_occur_in_their_entry():
    for name, entry in raw_entries():
        text = "\n".join(entry_texts(entry))
        for constant in entry.get("constants", []):
            assert constant in text, f"{name}:{entry['id']} declares {constant!r}, which it does not quote"


def test_filled_bank_has_no_placeholder_left():
    for question in load_bank():
        for text in [*question.question.values(), *question.answer.values()]:
            assert "{{" not in text and "}}" not in text, question.id


def test_course_facts_parameter_counts_reproduce():
    """The counts depend on helpers/finetune_strategies.py's PEFT settings: if those change, the file must too.
    (Split sizes and the tokenizer are frozen and tested in test_data.py and test_tokenization.py.)"""
    spec = importlib.util.spec_from_file_location("course_facts", ROOT / "bench" / "course_facts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = json.loads((ROOT / "bench" / "results" / "course_facts.json").read_text(encoding="utf-8"))["models"]
    fresh = module.model_facts(with_sizes=False)
    assert fresh["bert_classifier_parameters"] == stored["bert_classifier_parameters"]
    assert fresh["head_parameters"] == stored["head_parameters"]
    for method, counts in fresh["peft"].items():
        assert counts["trainable"] == stored["peft"][method]["trainable"], f"{method}: run python bench/course_facts.py"
        assert counts["adapter_only"] == stored["peft"][method]["adapter_only"], method
        assert counts["trainable_percent"] == pytest.approx(stored["peft"][method]["trainable_percent"]), method


def test_placeholder_syntax_and_lookup(tmp_path):
    assert figures.parse_placeholder("results/a.json:x.y:.1%") == ("results/a.json", "x.y", ".1%")
    assert figures.parse_placeholder("checkpoints/course-bert:totals.tokens") == ("checkpoints/course-bert", "totals.tokens", "")
    data = {"rows": [{"labels": 100, "acc": 0.5}, {"labels": 500, "acc": 0.7}], "nested": {"a b": [1, 2, 3]}}
    assert figures.lookup(data, "rows[labels=500].acc") == 0.7
    assert figures.lookup(data, "nested.a b[2]") == 3
    with pytest.raises(figures.FigureError, match="no key 'missing'"):
        figures.lookup(data, "rows[labels=500].missing", "here")
    with pytest.raises(figures.FigureError, match="matches 0 elements"):
        figures.lookup(data, "rows[labels=7].acc")
    with pytest.raises(figures.FigureError, match="source must be"):
        figures.parse_placeholder("README.md:x")
    with pytest.raises(figures.FigureError, match="source:path:format"):
        figures.parse_placeholder("results/a.json")


def test_resolve_tells_a_missing_file_from_a_lesson_not_yet_measured(tmp_path):
    folder = tmp_path / "bench" / "results"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text(json.dumps({"a": 0.25, "s": "text"}))
    assert figures.resolve("results/x.json:a:.0%", tmp_path) == 0.25
    assert figures.resolve("results/lesson03_cpu.json:figures.a", tmp_path) is None
    with pytest.raises(figures.FigureError, match="does not exist"):
        figures.resolve("results/y.json:a", tmp_path)
    with pytest.raises(figures.FigureError, match="format"):
        figures.resolve("results/x.json:s:.1%", tmp_path)


def test_fill_writes_values_and_not_measured_in_each_language():
    snapshot = {"results/x.json:a": 0.253, "results/lesson03_cpu.json:figures.b": None}
    assert figures.fill("acc {{results/x.json:a:.1%}}", "en", snapshot) == "acc 25.3%"
    assert figures.fill("{{results/lesson03_cpu.json:figures.b:.1%}}", "zh", snapshot) == "（尚未测量）"
    assert figures.fill("{{results/lesson03_cpu.json:figures.b:.1%}}", "en", snapshot) == "(not measured yet)"
    with pytest.raises(figures.FigureError, match="not in the figures snapshot"):
        figures.fill("{{results/x.json:zzz}}", "en", snapshot)


def test_an_unknown_placeholder_in_an_entry_is_a_bank_error():
    entry = {"id": "demo", "lesson": "00", "topic": "general", "difficulty": 1, "tags": ["demo"],
             "question": {"zh": "问？", "en": "Q?"},
             "answer": {"zh": "{{results/none.json:a}}", "en": "A."}}
    with pytest.raises(BankError, match="python -m helpers.interview.figures"):
        parse_entry(entry, figures={})
    with pytest.raises(BankError, match="constants"):
        parse_entry({**entry, "answer": {"zh": "答", "en": "A"}, "constants": [15]}, figures={})


def test_lesson_figures_are_recorded_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(results.RECORD_ENV_VAR, raising=False)
    assert results.record_lesson_figures("05", {"x": 1.0}, "cpu", directory=tmp_path) is None
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(results.RECORD_ENV_VAR, "1")
    path = results.record_lesson_figures("05", {"x": float("nan"), "y": [1, 2]}, "cpu", directory=tmp_path)
    record = json.loads(path.read_text())
    assert path.name == "lesson05_cpu.json" and record["figures"] == {"x": None, "y": [1, 2]}
    assert record["hardware"] and record["command"].endswith("--profile cpu 05")
    with pytest.raises(ValueError, match="two-digit"):
        results.record_lesson_figures("5", {"x": 1}, "cpu", directory=tmp_path)
    with pytest.raises(ValueError, match="non-empty dict"):
        results.record_lesson_figures("05", {}, "cpu", directory=tmp_path)
    with pytest.raises(TypeError, match="cannot record"):
        results.record_lesson_figures("05", {"x": object()}, "cpu", directory=tmp_path)
