"""RESULTS.md is generated from bench/results/*.json and the checkpoint records: it must not drift from them."""

from scripts import report_figures


def test_results_page_matches_the_measurement_files():
    assert report_figures.PAGE.read_text(encoding="utf-8") == report_figures.render(), (
        "RESULTS.md differs from bench/results/*.json: run `python scripts/report_figures.py` and commit RESULTS.md")


def test_percentages_never_print_nan():
    assert report_figures.pct(float("nan")) == "–" and report_figures.pct(None) == "–"
    assert report_figures.pct(0.8512) == "85.1%"
    assert "nan" not in report_figures.render().lower().replace("nanjing", "")
