"""Each kind of content problem, pinned to its exact line, column and field path."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bastion.core.errors import InputError, ManifestError
from bastion.manifest import ManifestProblem, SystemManifest, parse_manifest
from tests.manifest.helpers import VALID, edit, only_problem, problems_of

CLASSIFICATIONS = "one of: public, internal, confidential, restricted"


def where(p: ManifestProblem) -> tuple[int, int, str]:
    return (p.line, p.column, p.path)


def test_valid_text_parses() -> None:
    manifest = parse_manifest(VALID)
    assert isinstance(manifest, SystemManifest)
    assert manifest.system.id == "demo"
    assert [a.id for a in manifest.assets] == ["db", "model"]


def test_problem_str_format() -> None:
    p = ManifestProblem("s.yaml", 3, 5, "assets[0].kind", "invalid value 'x'", "one of: a, b")
    assert str(p) == "s.yaml:3:5: assets[0].kind: invalid value 'x' (expected one of: a, b)"
    assert str(ManifestProblem("s.yaml", 1, 1, "", "the manifest is empty")) == (
        "s.yaml:1:1: the manifest is empty"
    )


def test_manifest_error_is_an_input_error_with_a_one_line_summary() -> None:
    text = edit("    name: DB\n", "    name: [DB]\n")
    text = edit("    protocol: sql\n", "    protocol: carrier-pigeon\n", text)
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "system.yaml")
    assert isinstance(info.value, InputError)
    assert info.value.message == "system.yaml: 2 problems"
    assert len(info.value.problems) == 2


def test_unknown_field_points_at_the_key_and_suggests_the_right_name() -> None:
    text = edit(
        "    classification: internal\n  - id: model", "    clasification: internal\n  - id: model"
    )
    unknown, missing = sorted(problems_of(text), key=lambda p: p.line, reverse=True)
    assert where(unknown) == (16, 5, "assets[0].clasification")
    assert unknown.message == "unknown field 'clasification' (did you mean 'classification'?)"
    assert unknown.expected is not None
    assert unknown.expected.startswith("one of: id, kind, name, owner, classification")
    # The required field it was meant to be is now missing: reported at its mapping.
    assert where(missing) == (12, 5, "assets[0].classification")
    assert missing.message == "missing required field 'classification'"
    assert missing.expected == CLASSIFICATIONS


def test_unknown_field_without_a_close_match() -> None:
    p = only_problem(edit("    name: Model\n", "    name: Model\n    colour: blue\n"))
    assert where(p) == (20, 5, "assets[1].colour")
    assert p.message == "unknown field 'colour'"


def test_unknown_top_level_field() -> None:
    p = only_problem(edit("kind: System\n", "kind: System\nmetadata: {}\n"))
    assert where(p) == (3, 1, "metadata")
    assert p.expected == "one of: apiVersion, kind, system, assets, flows, boundaries"


def test_wrong_type_list_for_string() -> None:
    p = only_problem(edit("    name: DB\n", "    name: [DB]\n"))
    assert where(p) == (14, 11, "assets[0].name")
    assert p.message == "wrong type: got a list"
    assert p.expected == "a string"


def test_wrong_type_number_for_string() -> None:
    p = only_problem(edit("  owner: team@example.com\n", "  owner: 42\n"))
    assert where(p) == (6, 10, "system.owner")
    assert p.message == "wrong type: got a number (42)"
    assert p.expected == "a string"


def test_wrong_type_string_for_boolean_is_not_coerced() -> None:
    text = edit("    name: DB\n", '    name: DB\n    encryption: {at_rest: "yes"}\n')
    p = only_problem(text)
    assert where(p) == (15, 27, "assets[0].encryption.at_rest")
    assert p.expected == "true or false"


def test_wrong_type_mapping_expected() -> None:
    p = only_problem(edit("system:\n  id: demo", "system: demo\nx:\n  id: demo").split("x:\n")[0])
    assert where(p) == (3, 9, "system")
    assert p.message == "wrong type: got a string ('demo')"
    assert p.expected is not None
    assert p.expected.startswith("a mapping with fields: id, name, owner, purpose")


def test_property_values_must_be_scalars() -> None:
    text = edit("    name: Model\n", "    name: Model\n    properties: {framework: [torch]}\n")
    p = only_problem(text)
    assert where(p) == (20, 29, "assets[1].properties.framework")
    assert p.expected == "a string, number or boolean"


def test_tag_values_must_be_strings() -> None:
    p = only_problem(edit("    name: Model\n", "    name: Model\n    tags: {tier: 1}\n"))
    assert where(p) == (20, 18, "assets[1].tags.tier")
    assert p.message == "wrong type: got a number (1)"


def test_missing_field_points_at_the_parent_mapping() -> None:
    p = only_problem(edit("  purpose: Testing\n", ""))
    assert where(p) == (4, 3, "system.purpose")
    assert p.message == "missing required field 'purpose'"
    assert p.expected == "a string"


def test_missing_top_level_field() -> None:
    p = only_problem(edit("kind: System\n", ""))
    assert where(p) == (1, 1, "kind")
    assert p.expected == "'System'"


def test_bad_enum_lists_the_choices_and_suggests() -> None:
    p = only_problem(edit("    kind: model\n", "    kind: modle\n"))
    assert where(p) == (18, 11, "assets[1].kind")
    assert p.message == "invalid value 'modle' (did you mean 'model'?)"
    assert p.expected is not None
    assert p.expected.startswith("one of: model, dataset, feature_store")


def test_bad_classification_enum() -> None:
    p = only_problem(edit("  data_sensitivity: internal\n", "  data_sensitivity: secret\n"))
    assert where(p) == (10, 21, "system.data_sensitivity")
    assert p.message == "invalid value 'secret'"
    assert p.expected == CLASSIFICATIONS
    assert str(p) == (
        "m.yaml:10:21: system.data_sensitivity: invalid value 'secret' "
        f"(expected {CLASSIFICATIONS})"
    )


def test_bad_enum_inside_a_list() -> None:
    p = only_problem(edit("  decision_impact: [none]\n", "  decision_impact: [financial, fun]\n"))
    assert where(p) == (8, 32, "system.decision_impact[1]")


def test_none_cannot_be_combined() -> None:
    p = only_problem(edit("[none]", "[financial, none]"))
    assert where(p) == (8, 20, "system.decision_impact")
    assert p.message == "'none' cannot be combined with other decision impacts"


def test_bad_api_version() -> None:
    p = only_problem(edit("apiVersion: bastion/v1", "apiVersion: bastion/v2"))
    assert where(p) == (1, 13, "apiVersion")
    assert p.expected == "'bastion/v1'"


def test_bad_id_pattern() -> None:
    p = only_problem(edit("  id: demo\n", "  id: Demo System\n"))
    assert where(p) == (4, 7, "system.id")
    assert p.message == "invalid value 'Demo System'"
    assert p.expected is not None
    assert "lowercase" in p.expected


def test_bad_jurisdiction() -> None:
    text = edit(
        "  data_sensitivity: internal\n",
        "  data_sensitivity: internal\n  jurisdictions: [EU, germany]\n",
    )
    p = only_problem(text)
    assert where(p) == (11, 23, "system.jurisdictions[1]")
    assert p.expected is not None
    assert "ISO 3166" in p.expected


def test_empty_string_refused() -> None:
    p = only_problem(edit("    name: DB\n", '    name: ""\n'))
    assert where(p) == (14, 11, "assets[0].name")
    assert p.message == "must not be empty"


def test_dangling_flow_reference() -> None:
    p = only_problem(edit("    target: model\n", "    target: modle\n"))
    assert where(p) == (25, 13, "flows[0].target")
    assert p.message == "dangling reference: no asset with ID 'modle' (did you mean 'model'?)"
    assert p.expected == "an ID declared under assets"


def test_flow_to_a_boundary_is_dangling() -> None:
    p = only_problem(edit("    source: db\n", "    source: outer\n"))
    assert where(p) == (24, 13, "flows[0].source")
    assert p.message == "dangling reference: no asset with ID 'outer' ('outer' is a trust boundary)"


def test_dangling_boundary_members() -> None:
    text = edit("    assets: [db]\n", "    assets: [db, ghost]\n")
    text = edit("    boundaries: [inner]\n", "    boundaries: [inner, nowhere]\n", text)
    asset, child = problems_of(text)
    assert where(asset) == (32, 18, "boundaries[0].assets[1]")
    assert asset.message == "dangling reference: no asset with ID 'ghost'"
    assert where(child) == (33, 25, "boundaries[0].boundaries[1]")
    assert child.message == "dangling reference: no trust boundary with ID 'nowhere'"


def test_duplicate_id_across_sections() -> None:
    p = only_problem(edit("  - id: feed\n", "  - id: db\n"))
    assert where(p) == (23, 9, "flows[0].id")
    assert p.message == "duplicate ID 'db' (first used at line 12)"


def test_boundary_cycle() -> None:
    p = only_problem(VALID + "    boundaries: [outer]\n")
    assert where(p) == (33, 18, "boundaries[0].boundaries[0]")
    assert p.message == "cycle in boundaries: outer -> inner -> outer"


def test_boundary_containing_itself() -> None:
    p = only_problem(VALID + "    boundaries: [inner]\n")
    assert where(p) == (38, 18, "boundaries[1].boundaries[0]")
    assert p.message == "cycle in boundaries: inner -> inner"


def test_boundary_with_two_parents() -> None:
    extra = "  - id: other\n    name: Other\n    kind: account\n    boundaries: [inner]\n"
    p = only_problem(VALID + extra)
    assert where(p) == (41, 18, "boundaries[2].boundaries[0]")
    assert p.message == "boundary 'inner' is already nested in 'outer'"


def test_asset_in_two_unnested_boundaries() -> None:
    extra = "  - id: other\n    name: Other\n    kind: account\n    assets: [db]\n"
    p = only_problem(VALID + extra)
    assert where(p) == (41, 14, "boundaries[2].assets[0]")
    assert "not nested in one another" in p.message


def test_asset_in_nested_boundaries_is_allowed_and_innermost_wins() -> None:
    manifest = parse_manifest(edit("    assets: [model]\n", "    assets: [model, db]\n"))
    inner = manifest.boundary_of("db")
    assert inner is not None
    assert inner.id == "inner"


def test_duplicate_key() -> None:
    p = only_problem(edit("    name: Model\n", "    name: Model\n    name: Again\n"))
    assert where(p) == (20, 5, "assets[1].name")
    assert p.message == "duplicate key 'name' (first defined at line 19)"


def test_all_problems_are_reported_in_file_order() -> None:
    text = edit("  data_sensitivity: internal\n", "  data_sensitivity: secret\n")
    text = edit("    kind: model\n", "    kind: modle\n", text)
    text = edit("    name: Model\n", "    name: Model\n    name: Again\n", text)
    text = edit("    target: model\n", "    target: ghost\n", text)
    text = edit(
        "    classification: internal\n  - id: model",
        "    clasification: internal\n  - id: model",
        text,
    )
    found = problems_of(text)
    assert [(p.line, p.path) for p in found] == [
        (10, "system.data_sensitivity"),
        (12, "assets[0].classification"),
        (16, "assets[0].clasification"),
        (18, "assets[1].kind"),
        (20, "assets[1].name"),
        (26, "flows[0].target"),
    ]


def test_python_construction_checks_references_too() -> None:
    manifest = parse_manifest(VALID)
    data = manifest.model_dump(by_alias=True)
    data["flows"][0]["target"] = "ghost"
    with pytest.raises(ValidationError, match="dangling reference"):
        SystemManifest.model_validate(data)
