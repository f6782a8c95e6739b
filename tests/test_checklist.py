"""The 1.1.1 checklist judged from gathered facts: honest statuses, record facts, scores."""

from __future__ import annotations

import pytest

from geo.core.catalogue import AwsElement
from geo.core.records import IndicatorAnswer, SiteRecord
from geo.scope.checklist import ChecklistFacts, ElementCheck, Evidence, build_checklist, score_text
from geo.scope.flows import WaterChain

REF = "AWS-000009"
SUPPLY = ("The plant uses municipal tap water from City Water Co. for domestic use and "
          "production. Rain water is collected for landscape watering.")


def record(**fields: object) -> SiteRecord:
    return SiteRecord(aws_ref=REF, site_name="Checklist site", **fields)  # type: ignore[arg-type]


def judge(rec: SiteRecord | None = None, **facts: object) -> dict[AwsElement, ElementCheck]:
    built = build_checklist(ChecklistFacts(aws_ref=REF, record=rec, chain=WaterChain(REF),
                                           **facts))  # type: ignore[arg-type]
    return {c.element: c for c in built}


def parcel(accuracy: str, fid: str = "p1") -> Evidence:
    return Evidence("sites", fid, f"Parcel {fid}", accuracy, "site")


def test_owned_sources_not_applicable_quotes_the_report() -> None:
    check = judge(record(water_service_provider="City Water Co.",
                         catchment_description=SUPPLY))[AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "not applicable"
    assert not check.missing
    [fact] = check.evidence
    assert (fact.layer, fact.fid, fact.kind) == ("site record",
                                                 f"{REF}#catchment_description", "record")
    assert "City Water Co." in fact.name
    assert check.notes[0] == (
        "Not applicable — the site owns no water source; its water comes from City Water Co. "
        "(report: “The plant uses municipal tap water from City Water Co. for domestic use "
        "and production.”).")
    # rainwater the site collects would be a source it manages: said, not assumed
    assert "Rain water is collected" in check.notes[1] and "map its tanks" in check.notes[1]


def test_owned_sources_not_applicable_from_the_provider_field_alone() -> None:
    check = judge(record(water_service_provider="City Water Co."))[
        AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "not applicable"
    assert check.evidence[0].fid == f"{REF}#water_service_provider"
    assert "(record: water service provider City Water Co.)" in check.notes[0]
    assert len(check.notes) == 1


def test_a_well_in_the_record_makes_owned_sources_missing() -> None:
    text = SUPPLY + " In summer the site also pumps from two deep wells on its land."
    check = judge(record(water_service_provider="City Water Co.",
                         site_background=text))[AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "missing"
    assert "mentions a source of its own (“In summer the site also pumps from two deep wells" \
        in check.missing[0]
    assert "kind 'water_source'" in check.missing[0]
    assert check.evidence[0].fid == f"{REF}#site_background"


def test_as_well_as_is_not_a_well() -> None:
    text = "Water comes from the municipal supply as well as recycled wastewater."
    check = judge(record(water_service_provider="City Water Co.",
                         catchment_description=text))[AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "not applicable"


def test_indicator_comment_counts_as_record_text() -> None:
    rec = record(water_service_provider="City Water Co.", indicators=[IndicatorAnswer(
        id="1.1.1", answer="Yes", comment="The map shows the groundwater well and the pipes.")])
    check = judge(rec)[AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "missing" and check.evidence[0].fid == f"{REF}#indicators[1.1.1]"


@pytest.mark.parametrize(("rec", "words"), [
    (None, "no site record"),
    (record(), "the record names no water service provider"),
])
def test_unknown_supply_is_missing_with_what_to_do(rec: SiteRecord | None, words: str) -> None:
    check = judge(rec)[AwsElement.OWNED_WATER_SOURCES]
    assert check.status == "missing" and not check.evidence
    assert words in check.missing[0] and "aws_ref = 'AWS-000009'" in check.missing[0]


@pytest.mark.parametrize(("accuracy", "status"), [
    ("surveyed", "present"), ("official", "present"), ("derived", "present"),
    ("illustrative", "partial"),
])
def test_illustrative_evidence_is_at_most_partial(accuracy: str, status: str) -> None:
    checks = judge(record(), parcels=(parcel(accuracy),), area_m2=1000.0,
                   owned=(Evidence("wells", "w1", "Own well", accuracy, "water_source"),))
    for element in (AwsElement.SITE_BOUNDARIES, AwsElement.OWNED_WATER_SOURCES):
        check = checks[element]
        assert check.status == status
        caveat = [c for c in check.caveats if "placed illustratively" in c]
        assert bool(caveat) == (accuracy == "illustrative")
        if caveat:
            assert "replace with surveyed data" in caveat[0]
            assert not check.missing        # nothing else to map: the caveat says what to do


def test_one_illustrative_feature_among_surveyed_ones_still_caps() -> None:
    check = judge(record(), parcels=(parcel("surveyed", "p1"), parcel("illustrative", "p2")),
                  area_m2=1000.0)[AwsElement.SITE_BOUNDARIES]
    assert check.status == "partial"
    assert check.caveats[0].startswith("1 of 2 evidence feature(s) placed illustratively "
                                       "(Parcel p2)")


def test_provider_not_applicable_when_the_site_has_its_own_sources() -> None:
    well = Evidence("wells", "w1", "Own well", "surveyed", "water_source")
    checks = judge(record(), owned=(well,))
    assert checks[AwsElement.OWNED_WATER_SOURCES].status == "present"
    provider = checks[AwsElement.SERVICE_PROVIDER]
    assert provider.status == "not applicable" and provider.evidence == (well,)


@pytest.mark.parametrize(("statuses", "text"), [
    (["present"] * 6, "6/6 present"),
    (["present", "partial", "partial", "not applicable", "missing", "present"],
     "2/5 present (2 partial, 1 missing, 1 not applicable)"),
    (["missing"] * 6, "0/6 present (6 missing)"),
])
def test_score_leaves_not_applicable_out_of_the_count(statuses: list[str], text: str) -> None:
    assert score_text(statuses) == text


def test_provider_named_in_the_record_is_looked_for_among_the_plants() -> None:
    from geo.scope.flows import ChainEdge, ChainNode

    def chain(plant_name: str) -> WaterChain:
        nodes = (ChainNode("river", "Big River", "river", "rivers", "ultimate water source",
                           "supply", "surveyed"),
                 ChainNode("plant", plant_name, "facility", "facilities", "water plant",
                           "supply", "surveyed"),
                 ChainNode(REF, "Checklist site", "site", "", "site", "site"))
        edges = (ChainEdge("river", "plant", "explicit", "flows_to"),
                 ChainEdge("plant", REF, "explicit", "serves"))
        return WaterChain(REF, nodes, edges)

    rec = record(water_service_provider="Kunshan Water Group Co., Ltd.",
                 ultimate_water_sources=["Big River"])
    named = build_checklist(ChecklistFacts(aws_ref=REF, record=rec,
                                           chain=chain("Kunshan Water Group plant")))[3]
    assert named.status == "present" and not named.caveats
    other = build_checklist(ChecklistFacts(aws_ref=REF, record=rec,
                                           chain=chain("Town waterworks")))[3]
    assert other.status == "present"                      # a caveat, not a gap
    assert "no mapped plant carries that name (Town waterworks)" in other.caveats[0]
