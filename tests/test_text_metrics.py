import pytest

from helpers.text_metrics import distinct_n, repetition_rate


def test_distinct_n():
    assert distinct_n(["abcd"], 1) == 1.0
    assert distinct_n(["aaaa"], 1) == 0.25
    assert distinct_n(["abab", "abab"], 2) == pytest.approx(2 / 6)
    assert distinct_n([""], 2) == 0.0
    with pytest.raises(ValueError):
        distinct_n("abc", 1)


def test_repetition_rate():
    assert repetition_rate(["abcdefg"], 3) == 0.0
    assert repetition_rate(["的的的的的"], 2) == pytest.approx(3 / 4)
    assert repetition_rate(["abcabc"], 3) == pytest.approx(1 / 4)
    with pytest.raises(ValueError):
        repetition_rate("abc")


def test_copies_stretch():
    from helpers.text_metrics import copies_stretch

    corpus = "这家酒店的服务非常好。"
    assert copies_stretch("我觉得这家酒店的服务", corpus, 6)
    assert not copies_stretch("服务一般", corpus, 6)
    assert not copies_stretch("很好", corpus, 6)  # shorter than the window
    with pytest.raises(ValueError):
        copies_stretch("abc", corpus, 0)
    with pytest.raises(TypeError):
        copies_stretch(None, corpus, 3)
