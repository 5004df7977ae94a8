"""`course-skills index --views/--language` and `info` on a store with several views per skill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ESCO_DE_LABELS  # same concept URIs as ESCO_EN, German labels
from tests.conftest import run_cli as _run


def test_index_with_views_and_a_language_then_info_and_search(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    db, model = tmp_path / "db", tiny_bi_encoder
    index = ["index", esco_slice, "--db", db, "--model", model, "--views", "label,alt"]
    status, out, _ = _run(capsys, *index)
    assert status == 0
    assert "of 300 skills, views label,alt" in out

    # Adding German labels embeds only them; a re-run embeds nothing.
    status, out, _ = _run(capsys, *index, "--language", f"de={ESCO_DE_LABELS}")
    added = int(out.splitlines()[-1].split(" added")[0])
    assert status == 0
    assert 0 < added <= 300
    status, out, _ = _run(capsys, *index[:-2], "--language", f"de={ESCO_DE_LABELS}")
    assert "0 added, 0 updated" in out  # --views left out: the collection's own

    status, out, _ = _run(capsys, "info", "--db", db)
    assert "300 skills (ESCO 300)" in out
    assert "views             label,alt" in out
    assert "languages         de" in out
    assert f"de:label {added}" in out

    status, out, _ = _run(capsys, "search", "manage staff", "--db", db, "-n", 5, "--json")
    records = json.loads(out)
    assert status == 0
    assert len(records) == 5
    assert len({r["uri"] for r in records}) == 5
    # the curator sees which view found each skill
    assert all(r["matched_view"] and r["matched_text"] for r in records)


def test_index_with_other_views_than_the_store_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    db = tmp_path / "db"
    _run(capsys, "index", esco_slice, "--db", db, "--model", tiny_bi_encoder)

    status, _, err = _run(
        capsys, "index", esco_slice, "--db", db, "--model", tiny_bi_encoder, "--views", "label"
    )

    assert status != 0
    assert "holds the views label,alt,description of each skill, but you asked for label;" in err
    assert "Traceback" not in err


def test_index_builds_every_view_by_default_and_info_shows_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    db = tmp_path / "db"

    status, out, _ = _run(capsys, "index", esco_slice, "--db", db, "--model", tiny_bi_encoder)
    _, info, _ = _run(capsys, "info", "--db", db, "--json")

    [collection] = json.loads(info)["collections"]
    passages = collection["passages"]
    assert status == 0
    assert "of 300 skills, views label,alt,description" in out
    assert collection["fingerprint"]["views"] == "label,alt,description"
    assert collection["fingerprint"]["skills"] == 300
    assert passages["label"] == passages["description"] == 300  # every slice skill has one
    assert passages["alt"] > 300
    assert collection["count"] == sum(passages.values())


def test_index_without_views_keeps_a_label_store_as_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    index = ["index", esco_slice, "--db", tmp_path / "db", "--model", tiny_bi_encoder]
    _run(capsys, *index, "--views", "label")

    status, out, err = _run(capsys, *index)

    assert status == 0
    assert "0 added, 0 updated, 300 unchanged, 0 removed" in out
    assert "holds 300 skills" in out
    assert "error" not in err


def test_views_without_label_are_an_argument_error(
    capsys: pytest.CaptureFixture[str], esco_slice: Path
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _run(capsys, "index", esco_slice, "--views", "alt")
    assert exit_info.value.code == 2
    assert "lack 'label'" in capsys.readouterr().err


def test_evaluate_compares_view_sets_and_fusions(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, esco_slice: Path, tiny_bi_encoder: Path
) -> None:
    gold = tmp_path / "gold.jsonl"
    lines = [{"query": "manage staff", "relevant": ["manage musical staff"]}]
    gold.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    argv = ["evaluate", gold, "--db", tmp_path / "db", "--taxonomy-file", esco_slice]
    argv += ["--model", tiny_bi_encoder, "--out", tmp_path / "out"]
    argv += ["--views", "label", "--views", "label,alt", "--view-fusion", "max"]
    argv += ["--view-fusion", "rrf"]

    status, _, _ = _run(capsys, *argv)

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text(encoding="utf-8"))
    name = tiny_bi_encoder.name
    assert status == 0
    assert list(metrics["configurations"]) == [
        f"{name} | label",
        f"{name} | label,alt | max",
        f"{name} | label,alt | rrf",
    ]
    assert metrics["configurations"][f"{name} | label,alt | rrf"]["details"]["views"] == "label,alt"
