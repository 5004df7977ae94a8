import json
from pathlib import Path

import pytest

from langchain_course_skills import (
    TaxonomyError,
    load_esco_skills,
    load_greta,
    load_skill_table,
    load_taxonomy,
)
from langchain_course_skills.loaders import read_taxonomy
from tests.conftest import ESCO_DE_LABELS, ESCO_EN, GRETA

ESCO_HEADER = (
    "conceptType,conceptUri,skillType,reuseLevel,preferredLabel,altLabels,hiddenLabels,status,"
    "modifiedDate,scopeNote,definition,inScheme,description\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_esco_export_loads_every_skill_with_uri_ids() -> None:
    docs = load_esco_skills(ESCO_EN)

    assert len(docs) == 13_896
    first = docs[0]
    assert (
        first.id
        == first.metadata["uri"]
        == "http://data.europa.eu/esco/skill/0005c151-5b5a-4a66-8aac-60e734beb1ab"
    )
    assert first.page_content == first.metadata["label"] == "manage musical staff"
    assert first.metadata["taxonomy"] == "ESCO"
    assert first.metadata["skill_type"] == "skill/competence"
    assert first.metadata["reuse_level"] == "sector-specific"
    assert "manage music staff" in first.metadata["alt_labels"].split("\n")
    assert first.metadata["description"].startswith("Assign and manage staff tasks")


def test_passage_template_can_add_the_description() -> None:
    docs = load_esco_skills(ESCO_EN, passage_template="{preferredLabel}: {description}")

    assert docs[0].page_content.startswith("manage musical staff: Assign and manage staff tasks")


def test_german_label_only_file_loads_through_a_column_mapping() -> None:
    docs = load_esco_skills(ESCO_DE_LABELS, columns={"preferredLabel": "preferredLabel_de"})

    assert len(docs) == 12_372
    assert docs[0].page_content == "Strafvollzugsverfahren beaufsichtigen"
    assert docs[0].id.startswith("http://data.europa.eu/esco/skill/")


def test_label_only_file_without_mapping_says_how_to_map() -> None:
    with pytest.raises(TaxonomyError, match="preferredLabel.*columns="):
        load_esco_skills(ESCO_DE_LABELS)


def test_greta_gives_23_facets_with_aspect_and_area() -> None:
    docs = load_greta(GRETA)

    assert len(docs) == 23
    assert len({doc.id for doc in docs}) == 23
    assert all(doc.metadata["taxonomy"] == "GRETA" for doc in docs)
    assert docs[0].page_content == "Lerninhalte und -ziele"
    assert docs[0].metadata["area"] == "Didaktik und Methodik"
    assert docs[0].metadata["aspect"] == "Berufspraktisches Wissen und Können"


def test_greta_template_can_include_the_requirements() -> None:
    docs = load_greta(GRETA, passage_template="{label}: {requirements}")

    assert docs[0].page_content.startswith("Lerninhalte und -ziele: Festlegung und Formulierung")


def test_csv_missing_concept_uri_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills.csv", "preferredLabel\nWordPress\n")

    with pytest.raises(TaxonomyError, match="conceptUri"):
        load_esco_skills(path)


def test_empty_taxonomy_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills.csv", "")

    with pytest.raises(TaxonomyError, match="empty"):
        load_esco_skills(path)


def test_header_only_file_has_no_skills(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills.csv", ESCO_HEADER)

    with pytest.raises(TaxonomyError, match="no skills"):
        load_esco_skills(path)


def test_duplicate_ids_are_named_with_their_lines(tmp_path: Path) -> None:
    row = "KnowledgeSkillCompetence,urn:x:1,skill,cross-sector,WordPress,,,released,,,,,\n"
    path = _write(tmp_path, "skills.csv", ESCO_HEADER + row + row)

    with pytest.raises(TaxonomyError, match=r"'urn:x:1' appears twice \(lines 2 and 3\)"):
        load_esco_skills(path)


def test_empty_label_is_reported_with_its_line(tmp_path: Path) -> None:
    rows = "K,urn:x:1,skill,,WordPress,,,,,,,,\nK,urn:x:2,skill,,,,,,,,,,\n"
    path = _write(tmp_path, "skills.csv", ESCO_HEADER + rows)

    with pytest.raises(TaxonomyError, match="line 3: preferredLabel is empty"):
        load_esco_skills(path)


def test_multiline_alt_labels_keep_line_numbers_right(tmp_path: Path) -> None:
    rows = 'K,urn:x:1,skill,,WordPress,"a\nb\nc",,,,,,,\nK,urn:x:2,skill,,,,,,,,,,\n'
    path = _write(tmp_path, "skills.csv", ESCO_HEADER + rows)

    with pytest.raises(TaxonomyError, match="line 5"):
        load_esco_skills(path)


@pytest.mark.parametrize("row", [3, 298])  # near the start and near the end of the file
def test_a_broken_quote_is_refused_with_its_line_not_read_as_one_giant_label(
    tmp_path: Path, esco_slice: Path, row: int
) -> None:
    lines = esco_slice.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, text in enumerate(lines) if text.startswith("KnowledgeSkillCompetence,")]
    broken = starts[row - 1]
    cells = lines[broken].split(",")
    cells[4] = '"' + cells[4]  # preferredLabel opens a quote it never closes
    lines[broken] = ",".join(cells)
    path = _write(tmp_path, "skills.csv", "".join(lines))

    with pytest.raises(TaxonomyError, match=rf"line {broken + 1}: cannot read the CSV .*quote"):
        load_esco_skills(path)


def test_template_with_unknown_field_lists_the_columns() -> None:
    with pytest.raises(TaxonomyError, match="descripton"):
        load_esco_skills(ESCO_EN, passage_template="{preferredLabel}: {descripton}")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="does not exist"):
        load_esco_skills(tmp_path / "nope.csv")


def test_skill_table_csv_with_column_mapping(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "digcomp.csv",
        "code,name,text\n1.1,Browsing data,Search for data online\n"
        "1.2,Evaluating data,Judge sources\n",
    )

    docs = load_skill_table(
        path,
        taxonomy="DigComp",
        id_column="code",
        label_column="name",
        passage_template="{label}: {text}",
    )

    assert [doc.id for doc in docs] == ["1.1", "1.2"]
    assert docs[0].page_content == "Browsing data: Search for data online"
    assert docs[0].metadata == {
        "text": "Search for data online",
        "uri": "1.1",
        "label": "Browsing data",
        "taxonomy": "DigComp",
        "passage_template": "{label}: {text}",
    }


def test_skill_table_jsonl_without_ids_derives_them_from_labels(tmp_path: Path) -> None:
    lines = [json.dumps({"skill": "Python"}), "", json.dumps({"skill": "SQL"})]
    path = _write(tmp_path, "company.jsonl", "\n".join(lines) + "\n")

    docs = load_skill_table(path, taxonomy="ACME", label_column="skill", id_column=None)

    assert [doc.id for doc in docs] == ["ACME/Python", "ACME/SQL"]


def test_skill_table_bad_json_line_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, "company.jsonl", '{"label": "a", "id": "1"}\n{oops\n')

    with pytest.raises(TaxonomyError, match="line 2: not valid JSON"):
        load_skill_table(path, taxonomy="ACME")


def test_skill_table_unknown_format_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills.xlsx", "x")

    with pytest.raises(TaxonomyError, match="unknown taxonomy format"):
        load_skill_table(path, taxonomy="ACME")


def test_skill_table_missing_label_column_names_the_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "skills.csv", "id,name\n1,Python\n")

    with pytest.raises(TaxonomyError, match="label_column"):
        load_skill_table(path, taxonomy="ACME")


def test_non_utf8_byte_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "skills.csv"
    rows = "K,urn:x:1,skill,,WordPress,,,,,,,,\nK,urn:x:2,skill,,F\xfchrung,,,,,,,,\n"
    path.write_bytes((ESCO_HEADER + rows).encode("latin-1"))

    with pytest.raises(TaxonomyError, match="line 3: not UTF-8"):
        load_esco_skills(path)


# --- load_taxonomy: one way in for every kind -----------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind", "count"),
    [(ESCO_EN, "esco", 13_896), (ESCO_DE_LABELS, "esco", 12_372), (GRETA, "greta", 23)],
)
def test_load_taxonomy_detects_the_kind_and_loads_as_the_kind_loader(
    path: Path, kind: str, count: int
) -> None:
    source = read_taxonomy(path)
    docs = load_taxonomy(path)

    assert source.kind == kind
    assert len(docs) == count
    assert docs == source.documents()


def test_load_taxonomy_gives_the_same_skills_as_load_esco_skills() -> None:
    template = "{preferredLabel}: {description}"

    assert load_taxonomy(ESCO_EN, passage_template=template) == load_esco_skills(
        ESCO_EN, passage_template=template
    )


def test_load_taxonomy_maps_a_label_only_esco_column() -> None:
    docs = load_taxonomy(ESCO_DE_LABELS, label_column="preferredLabel_de")

    assert docs == load_esco_skills(ESCO_DE_LABELS, columns={"preferredLabel": "preferredLabel_de"})


def test_load_taxonomy_reads_a_table_with_its_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "digcomp.csv", "code,name\n1.1,Browsing data\n")

    docs = load_taxonomy(path, label_column="name", id_column="code", taxonomy="DigComp")

    assert read_taxonomy(path).kind == "table"
    assert [(d.id, d.page_content, d.metadata["taxonomy"]) for d in docs] == [
        ("1.1", "Browsing data", "DigComp")
    ]


def test_load_taxonomy_errors_name_parameters_not_flags(tmp_path: Path) -> None:
    table = _write(tmp_path, "skills.csv", "id,name\n1,Python\n")
    other = _write(tmp_path, "skills.json", '{"skills": []}')

    with pytest.raises(TaxonomyError, match="pass label_column with the column") as missing:
        load_taxonomy(table)
    with pytest.raises(TaxonomyError, match="with kind='table'") as json_file:
        load_taxonomy(other)
    assert "--" not in str(missing.value) + str(json_file.value)


def test_taxonomy_errors_spell_parameters_as_the_face_asks(tmp_path: Path) -> None:
    table = _write(tmp_path, "skills.csv", "id,name\n1,Python\n")

    with pytest.raises(TaxonomyError) as caught:
        load_taxonomy(table)

    flags = {"label_column": "--label-column", "kind": "--taxonomy"}
    assert "pass --label-column with the column" in caught.value.explain_for(flags)


def test_load_taxonomy_refuses_an_unknown_kind() -> None:
    with pytest.raises(TaxonomyError, match="unknown taxonomy kind 'xml'"):
        load_taxonomy(GRETA, "xml")
