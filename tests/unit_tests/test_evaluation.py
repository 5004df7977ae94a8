"""Tests of the evaluation pipeline: gold files, `evaluate` on real stores, the chart, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from langchain_core.documents import Document

from langchain_course_skills import (
    E5Embeddings,
    load_esco_skills,
)
from langchain_course_skills.cli import main
from langchain_course_skills.evaluation import (
    REPORT_METRICS,
    GoldQuery,
    GoldSet,
    GoldSetError,
    SkillIndex,
    evaluation_collection_name,
    grouped_metrics_table,
    load_gold,
    load_gold_set,
    parse_gold,
    plot_metric_panels,
    plot_metrics,
    resolve_relevant,
    sync_evaluation_store,
)
from langchain_course_skills.store import skill_collection
from langchain_course_skills.views import SINGLE_VIEW
from tests.conftest import DECORTE
from tests.support.evaluation import HASKELL, OBVIOUS, jsonl, write_gold

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = 40  # skills in the small slice


@pytest.fixture(scope="module")
def small_slice(tmp_path_factory: pytest.TempPathFactory, esco_slice: Path) -> Path:
    """The first 40 ESCO skills (with Haskell and "install heat pump"), for quick CLI runs."""
    path = tmp_path_factory.mktemp("esco-small") / "skills_en.csv"
    with esco_slice.open(encoding="utf-8", newline="") as source:
        rows = list(csv.reader(source))[: SMALL + 1]
    with path.open("w", encoding="utf-8", newline="") as target:
        csv.writer(target).writerows(rows)
    return path


# --- gold files -------------------------------------------------------------------------------


def test_parse_gold_reads_query_and_relevant_ids_or_labels() -> None:
    gold = parse_gold(jsonl({"query": "Haskell course", "relevant": [HASKELL, "Erlang"]}))
    assert gold == [GoldQuery("1", "Haskell course", (HASKELL, "Erlang"), line=1)]


def test_parse_gold_reads_the_finetuning_format_with_pos_as_relevant() -> None:
    gold = parse_gold(jsonl({"query": "Weinseminar", "pos": ["taste wines"], "neg": ["Haskell"]}))
    assert gold[0].relevant == ("taste wines",)  # neg is not relevant


def test_load_gold_reads_the_decorte_files_as_sentence_and_uris() -> None:
    gold = load_gold(DECORTE / "tech_validation.jsonl")
    first = json.loads((DECORTE / "tech_validation.jsonl").read_text("utf-8").splitlines()[0])
    assert len(gold) == 75
    assert gold[0].query == first["sentence"]
    assert gold[0].relevant == tuple(first["uris"])


def test_parse_gold_takes_ids_from_the_id_field_else_the_line_number() -> None:
    lines = ["", *jsonl({"id": "wine", "query": "q", "relevant": ["a"]})]
    lines += jsonl({"query": "q2", "relevant": ["b", "b"]})
    gold = parse_gold(lines)
    assert [(q.query_id, q.line) for q in gold] == [("wine", 2), ("3", 3)]  # blank line 1
    assert gold[1].relevant == ("b",)  # duplicates count once


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["query", "relevant"]', "expected a JSON object"),
        ('{"relevant": ["a"]}', "no query text"),
        ('{"query": "  ", "relevant": ["a"]}', "must be a non-empty string"),
        ('{"query": "q"}', "no relevant skills"),
        ('{"query": "q", "relevant": []}', "is empty"),
        ('{"query": "q", "relevant": "a"}', "must be a list"),
        ('{"query": "q", "pos": ["a", 3]}', "every entry must be"),
        ('{"id": "1", "query": "q", "relevant": ["a"]}', "also on line 1"),
    ],
)
def test_parse_gold_names_the_line_of_a_malformed_record(bad_line: str, message: str) -> None:
    good = jsonl({"query": "fine", "relevant": ["a"]})
    with pytest.raises(GoldSetError, match=message) as info:
        parse_gold([*good, bad_line], source="gold.jsonl")
    assert "gold.jsonl, line 2" in str(info.value)


def test_load_gold_rejects_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(GoldSetError, match="empty.jsonl has no queries"):
        load_gold(empty)


def test_load_gold_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GoldSetError, match="does not exist"):
        load_gold(tmp_path / "missing.jsonl")


def test_resolve_relevant_matches_ids_and_labels_ignoring_case() -> None:
    labels = {"u1": "Taste wines", "u2": "Haskell", "u3": "Erlang"}
    gold = parse_gold(jsonl({"query": "q", "relevant": ["u2", "  TASTE WINES ", "erlang"]}))
    assert resolve_relevant(gold, labels) == {"1": frozenset({"u1", "u2", "u3"})}


def test_skill_index_finds_an_id_or_the_skills_a_name_stands_for() -> None:
    index = SkillIndex({"u1": ["Taste wines", "passage: taste wines"], "u2": ["taste  WINES"]})

    assert index.find("u2") == ["u2"]
    assert index.find("  TASTE wines ") == ["u1", "u2"]  # case and runs of white space ignored
    assert index.find("wine") == []


def test_load_gold_set_resolves_a_file_against_the_taxonomy_documents(tmp_path: Path) -> None:
    skills = [
        Document(id="u1", page_content="Haskell: a language", metadata={"label": "Haskell"}),
        Document(id="u2", page_content="taste wines", metadata={}),  # no label: its text
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(jsonl({"query": "q", "relevant": ["haskell", "Taste Wines"]})))

    gold = load_gold_set(path, skills)

    assert gold == GoldSet({"1": "q"}, {"1": frozenset({"u1", "u2"})})


def test_gold_set_error_lives_in_errors_and_keeps_its_old_import_path() -> None:
    from langchain_course_skills import errors
    from langchain_course_skills.evaluation import gold

    assert GoldSetError is errors.GoldSetError is gold.GoldSetError
    assert issubclass(GoldSetError, errors.CourseSkillsError)


def test_resolve_relevant_lists_entries_that_are_not_in_the_store_with_lines() -> None:
    labels = {"u1": "Haskell"}
    gold = parse_gold(
        jsonl(
            {"query": "q1", "relevant": ["haskell"]},
            {"query": "q2", "relevant": ["Haskel", "u1"]},
            {"query": "q3", "relevant": ["http://example.org/nope"]},
        )
    )
    with pytest.raises(GoldSetError, match="2 relevant entries") as info:
        resolve_relevant(gold, labels)
    assert "line 2 (id 2): 'Haskel'" in str(info.value)
    assert "line 3 (id 3): 'http://example.org/nope'" in str(info.value)


def test_resolve_relevant_without_strict_drops_unknown_entries_and_empty_queries() -> None:
    gold = parse_gold(
        jsonl({"query": "q1", "relevant": ["haskell", "x"]}, {"query": "q2", "relevant": ["y"]})
    )
    assert resolve_relevant(gold, {"u1": "Haskell"}, strict=False) == {"1": frozenset({"u1"})}


# --- evaluate on real stores ------------------------------------------------------------------


def test_skill_collection_reaches_the_chroma_collection_behind_a_store(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    # The one place that reads langchain-chroma's private `_collection`: fails if it changes.
    import chromadb

    report = sync_evaluation_store(
        load_esco_skills(esco_slice)[:5], tiny_embeddings, persist_directory=tmp_path
    )
    collection = skill_collection(report.store)

    assert isinstance(collection, chromadb.Collection)
    assert collection.name == report.collection
    assert report.skills == 5
    assert collection.count() == report.total  # passages: each skill in the default views


def test_sync_evaluation_store_reuses_the_collection_of_a_configuration(
    tmp_path: Path, esco_slice: Path, tiny_embeddings: E5Embeddings
) -> None:
    labels = load_esco_skills(esco_slice)[:40]
    first = sync_evaluation_store(labels, tiny_embeddings, persist_directory=tmp_path)
    again = sync_evaluation_store(labels, tiny_embeddings, persist_directory=tmp_path)
    assert first.skills == 40
    assert (first.added, again.added, again.unchanged) == (first.total, 0, first.total)
    assert skill_collection(first.store).name == evaluation_collection_name(
        tiny_embeddings, "{preferredLabel}"
    )
    described = load_esco_skills(esco_slice, passage_template="{preferredLabel}: {description}")
    other = sync_evaluation_store(described[:40], tiny_embeddings, persist_directory=tmp_path)
    assert skill_collection(other.store).name != skill_collection(first.store).name
    assert (other.skills, other.added) == (40, other.total)
    label_only = sync_evaluation_store(
        labels, tiny_embeddings, persist_directory=tmp_path, views=SINGLE_VIEW
    )
    assert (label_only.added, label_only.total) == (40, 40)  # its own collection
    assert label_only.collection not in (first.collection, other.collection)


def test_evaluation_collection_name_depends_on_model_precision_and_template(
    tiny_embeddings: E5Embeddings, tiny_bi_encoder: Path
) -> None:
    name = evaluation_collection_name(tiny_embeddings, "{preferredLabel}")
    bf16 = E5Embeddings(model_name=str(tiny_bi_encoder), precision="bf16")
    assert name.startswith("eval-") and len(name) == len("eval-") + 10
    assert name == evaluation_collection_name(tiny_embeddings, "{preferredLabel}")
    assert name != evaluation_collection_name(tiny_embeddings, "{preferredLabel}: {description}")
    assert name != evaluation_collection_name(bf16, "{preferredLabel}")
    assert name != evaluation_collection_name(tiny_embeddings, "{preferredLabel}", SINGLE_VIEW)


# --- exact search -----------------------------------------------------------------------------


# --- chart and table --------------------------------------------------------------------------


def test_plot_metrics_writes_a_png(tmp_path: Path) -> None:
    metrics = {
        "base": dict.fromkeys(REPORT_METRICS, 0.4),
        "tuned": dict.fromkeys(REPORT_METRICS, 0.6),
    }
    path = plot_metrics(metrics, tmp_path / "charts" / "metrics.png", title="gold")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_plot_metric_panels_writes_one_png_for_several_evaluation_sets(tmp_path: Path) -> None:
    rows = {"base": dict.fromkeys(REPORT_METRICS, 0.4), "tuned": dict.fromkeys(REPORT_METRICS, 0.6)}

    path = plot_metric_panels({"tech": rows, "house": rows}, tmp_path / "panels.png", title="x")

    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000


def test_plot_metric_panels_rejects_an_empty_panel(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="metrics is empty"):
        plot_metric_panels({"tech": {}}, tmp_path / "m.png")


def test_plot_metrics_rejects_results_without_the_metrics(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="none of the metrics"):
        plot_metrics({"base": {"ndcg@3": 0.5}}, tmp_path / "m.png")


def test_grouped_metrics_table_has_a_column_for_the_evaluation_set() -> None:
    metrics = {"tech": {"base": {"rp@5": 0.5}, "tuned": {"rp@5": 0.632}}, "house": {"base": {}}}

    table = grouped_metrics_table(metrics, ["rp@5"], labels=("set", "model"), markdown=True)

    assert table.splitlines() == [
        "| set | model | rp@5 |",
        "|---|---|---:|",
        "| tech | base | 50.0 |",
        "| tech | tuned | 63.2 |",  # 0.632 in percent
        "| house | base | - |",  # a metric a row lacks
    ]


# --- command line -----------------------------------------------------------------------------


def test_cli_evaluate_compares_templates_and_reranker_and_writes_results(
    tmp_path: Path,
    small_slice: Path,
    tiny_bi_encoder: Path,
    tiny_cross_encoder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gold = write_gold(tmp_path / "gold.jsonl", OBVIOUS[:2])
    out = tmp_path / "out"
    common = ["evaluate", str(gold), "--db", str(tmp_path / "db"), "--taxonomy-file"]
    common += [str(small_slice), "--model", str(tiny_bi_encoder), "--precision", "fp32", "-k", "10"]
    common += ["--views", "label"]  # one passage per skill: templates compared as they are
    templates = ["--passage-template", "{preferredLabel}", "--passage-template", "{description}"]
    rerank = ["--rerank", "--reranker", str(tiny_cross_encoder), "--out", str(out)]

    status = main([*common, *templates, *rerank])

    assert status == 0
    names = [
        "{preferredLabel}",
        "{description}",
        "{preferredLabel} + reranker",
        "{description} + reranker",
    ]
    summary = json.loads((out / "metrics.json").read_text("utf-8"))
    assert (summary["queries"], summary["k"]) == (2, 10)
    assert sorted(summary["configurations"]) == sorted(names)
    for configuration in summary["configurations"].values():
        assert set(REPORT_METRICS) <= set(configuration["metrics"])
        assert configuration["queries"] == 2
    records = [json.loads(line) for line in (out / "queries.jsonl").read_text("utf-8").splitlines()]
    assert len(records) == 4 * 2
    assert len(records[0]["retrieved"]) == 10 and records[0]["relevant"] == [HASKELL]
    chart = (out / "metrics.png").read_bytes()
    assert chart.startswith(PNG_SIGNATURE) and len(chart) > 1000
    printed = capsys.readouterr().out
    assert "configuration" in printed and "{description} + reranker" in printed

    # Running again reuses both collections: nothing is embedded.
    assert main([*common, *templates, "--out", str(out)]) == 0
    assert f"0 skills embedded, {SMALL} reused" in capsys.readouterr().err


def test_cli_evaluate_scores_an_existing_collection(
    tmp_path: Path,
    small_slice: Path,
    tiny_bi_encoder: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "db"
    index = ["index", str(small_slice), "--db", str(db), "--model", str(tiny_bi_encoder)]
    assert main([*index, "--precision", "fp32"]) == 0
    gold = write_gold(tmp_path / "gold.jsonl", OBVIOUS[:2])
    out = tmp_path / "out"

    status = main(
        ["evaluate", str(gold), "--db", str(db), "--precision", "fp32", "--out", str(out)]
    )

    assert status == 0
    summary = json.loads((out / "metrics.json").read_text("utf-8"))
    [(name, configuration)] = summary["configurations"].items()
    # a store of several views per skill (the default) names its views
    assert name == f"{tiny_bi_encoder.name} | {{preferredLabel}} | label,alt,description"
    assert configuration["details"]["views"] == "label,alt,description"
    assert configuration["details"]["collection"] == "skills"
    capsys.readouterr()


def test_cli_evaluate_reports_a_malformed_gold_line_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"query": "q", "relevant": ["a"]}\n{"query": "q2"}\n', encoding="utf-8")

    status = main(["evaluate", str(gold), "--db", str(tmp_path / "db")])

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("error: gold.jsonl, line 2: no relevant skills")
    assert "Traceback" not in err


def test_cli_evaluate_refuses_templates_without_a_taxonomy_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = write_gold(tmp_path / "gold.jsonl", OBVIOUS[:1])

    status = main(["evaluate", str(gold), "--passage-template", "{description}"])

    assert status == 1
    assert "--passage-template needs --taxonomy-file" in capsys.readouterr().err
