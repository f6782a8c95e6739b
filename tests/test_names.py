"""Report names matched to the features of public layers (geo.scope.names)."""

from __future__ import annotations

import pandas as pd
import pytest

from geo.scope.names import MATCH_THRESHOLD, fold, match_name, name_kinds, telling_words


@pytest.fixture
def features() -> pd.DataFrame:
    rows = [
        ("osm_way_1", "Río Maipo", "osm_waterways", "river", None),
        ("osm_way_2", "Río Mapocho", "osm_waterways", "river", None),
        ("osm_way_3", "Estero Las Cruces", "osm_waterways", "river", None),
        ("hylak_1", "Embalse El Yeso", "hydrolakes", "lake", None),
        ("hylak_2", "Laguna de Batuco", "hydrolakes", "lake", None),
        ("osm_node_1", "Planta de Tratamiento de Aguas Servidas La Farfana", "osm_treatment",
         "facility", "Aguas Andinas"),
        ("osm_node_2", "Complejo Las Vizcachas", "osm_treatment", "facility",
         "Aguas Andinas S.A."),
        ("wdpa_1", "Humedal de Batuco", "wdpa_candidates", "other", None),
    ]
    return pd.DataFrame(rows, columns=["fid", "name", "layer", "kind", "operator"])


def test_names_fold_accents_case_and_punctuation() -> None:
    assert fold("Río  MAPOCHO, S.A.") == "rio mapocho s a"
    assert telling_words("Aguas Andinas S.A.") == ["andinas"]
    assert telling_words("Planta de Tratamiento de Aguas Servidas La Farfana") == ["farfana"]


@pytest.mark.parametrize(("name", "fid"), [
    ("Maipo River", "osm_way_1"),
    ("Mapocho River", "osm_way_2"),
    ("the Estero Las Cruces", "osm_way_3"),
    ("El Yeso reservoir", "hylak_1"),
    ("La Farfana Wastewater Treatment Plant", "osm_node_1"),
])
def test_a_report_name_finds_its_feature_across_languages(features: pd.DataFrame, name: str,
                                                         fid: str) -> None:
    found = match_name(name, features)
    assert found and found[0].fid == fid
    assert MATCH_THRESHOLD <= found[0].score <= 1.0
    assert found[0].basis.kind == "inferred"
    assert name in found[0].basis.why and found[0].feature_name in found[0].basis.why


def test_similar_names_of_other_rivers_do_not_match(features: pd.DataFrame) -> None:
    maipo = match_name("Maipo River", features)
    assert [m.fid for m in maipo] == ["osm_way_1"]  # not the Mapocho


def test_a_plant_word_keeps_the_match_to_facilities_and_a_water_word_to_water_bodies(
        features: pd.DataFrame) -> None:
    assert name_kinds("La Farfana Wastewater Treatment Plant") == {"facility"}
    assert name_kinds("Laguna de Batuco") == {"river", "lake"}
    assert name_kinds("Humedal de Batuco") is None
    lake = match_name("Laguna Batuco", features)
    assert [m.fid for m in lake] == ["hylak_2"]  # not the protected area of the same name


def test_a_provider_matches_the_plants_it_operates(features: pd.DataFrame) -> None:
    found = match_name("Aguas Andinas S.A.", features, kinds=("facility",))
    assert {m.fid for m in found} == {"osm_node_1", "osm_node_2"}
    assert "by its operator" in found[0].basis.why


def test_names_of_generic_words_only_match_nothing(features: pd.DataFrame) -> None:
    assert match_name("the river", features) == []
    assert match_name("Municipal Wastewater Treatment Plant", features) == []
    assert match_name("Las Cruces riparian strip", features, kinds=("other",)) == []


def test_the_report_words_travel_in_the_basis(features: pd.DataFrame) -> None:
    found = match_name("Maipo River", features, quote="The municipal supply has two sources "
                       "(Maipo River and Mapocho River).", report="AO-009101",
                       section="catchment information")
    basis = found[0].basis
    assert (basis.report, basis.section) == ("AO-009101", "catchment information")
    assert "two sources" in basis.quote
    assert basis.summary().startswith("inferred — name match")
