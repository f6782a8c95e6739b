"""Site records: the facts of each site's AWS certification.

A workspace keeps one JSON file per site in ``data/sites/<AWS reference>.json``,
validated into :class:`SiteRecord`.  Features link to their site through the
layer's ``site_field`` (``aws_ref`` by default) holding the AWS reference.
Records are written atomically (temp file + rename), so a failed save never leaves
a half-written record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from geo.core.basis import Basis
from geo.core.errors import RecordError, SiteNotFoundError
from geo.core.io import atomic_write_bytes

__all__ = [
    "AWS_REF_RE",
    "EXPIRY_WARNING_DAYS",
    "Announcement",
    "Discharge",
    "Finding",
    "IndicatorAnswer",
    "ManagedSource",
    "Permit",
    "SharedChallenge",
    "SiteRecord",
    "Validity",
    "certificate_validity",
    "get_record",
    "load_record",
    "load_records",
    "record_json",
    "record_path",
    "save_record",
]

AWS_REF_RE = re.compile(r"^AWS-\d{6}$")
RECORDS_DIR = "sites"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Finding(_Model):
    """One audit finding (non-conformity or observation)."""

    id: str = Field(description="Finding number, e.g. 'TNR-003765'.")
    indicator: str = Field(description="Checklist item number, e.g. '3.6.1'.")
    status: str = ""
    level: Literal["Major", "Minor", "Observation", ""] = ""
    checklist_item: str = ""
    text: str = ""
    corrective_action: str = ""


class IndicatorAnswer(_Model):
    """The auditor's answer to one indicator of the AWS Standard checklist."""

    id: str
    answer: Literal["Yes", "No", "N/A", ""] = ""
    advanced: bool = False
    score: float | None = None
    comment: str = ""

    @field_validator("id")
    @classmethod
    def _indicator_form(cls, value: str) -> str:
        if not re.fullmatch(r"\d\.\d{1,2}\.\d{1,2}(\.\d{1,2})?", value):
            raise ValueError(f"indicator ids look like '1.1.1' or '0.1.1.1', got {value!r}")
        return value


class Announcement(_Model):
    """A public stakeholder announcement of the audit."""

    date: str
    location: str


class SharedChallenge(_Model):
    """A shared water challenge named in the report."""

    text: str
    priority: str = ""


class Discharge(_Model):
    """Where one stream of the site's water goes, as the report states it.

    ``receiver`` is the first water body (or plant) that takes it, ``ultimate_receiver``
    where the report says it finally goes; ``discharged`` is False for a stream the
    report says is not discharged (industrial wastewater treated and reused on site).
    """

    stream: Literal["domestic", "industrial", "storm", "wastewater"]
    provider: str = Field("", description="Wastewater service provider (plant), if any.")
    receiver: str = ""
    ultimate_receiver: str = ""
    discharged: bool = True
    section: str = Field("", description="Where the report says it ('1.1.1', "
                                         "'catchment information').")
    quote: str = ""


class Permit(_Model):
    """A water-related permit, licence or registration the report names."""

    kind: str = Field(description="e.g. 'pollutant discharge registration'.")
    number: str = ""
    valid_from: date | None = None
    valid_until: date | None = None
    section: str = ""
    quote: str = ""


class ManagedSource(_Model):
    """A water source the site manages itself: rainwater harvesting, reuse (1.1.1 element 3)."""

    kind: Literal["rainwater harvesting", "rainwater reuse", "wastewater reuse", "well",
                  "intake", "other"]
    use: str = Field("", description="What the water is used for, as the report says.")
    volume: str = Field("", description="e.g. '4000 tons/year'.")
    section: str = ""
    quote: str = ""


class SiteRecord(_Model):
    """Everything Catchscope knows of one certified site, keyed by AWS reference."""

    aws_ref: str = Field(description="AWS reference number, e.g. 'AWS-000521'.")
    audit_number: str = ""
    site_name: str
    organisation: str = ""
    address: str = Field("", description="Site address as given in the report header.")
    registration_address: str = Field("", description="Business registration address.")
    operation_addresses: list[str] = Field(
        [], description="Business operation / production addresses (one per block)."
    )
    contact_person: str = ""
    site_structure: str = ""
    certification_status: str = ""
    decision_date: date | None = None
    valid_until: date | None = None
    standard: str = ""
    audit_type: str = ""
    audit_start_date: date | None = None
    audit_end_date: date | None = None
    lead_auditor: str = ""
    audit_team: list[str] = []
    site_participants: list[str] = []
    summary_of_findings: str = ""
    scope_of_assessment: str = ""
    score: float | None = None
    next_audit_date: date | None = None
    report_prepared_by: str = ""
    report_approved_by: str = ""
    report_approved_on: str = ""
    stakeholder_announcements: list[Announcement] = []
    area_m2: float | None = Field(None, ge=0)
    construction_area_m2: float | None = Field(None, ge=0)
    staff: int | None = Field(None, ge=0)
    capacity: str = ""
    products: str = Field("", description="What the site makes, as the report states it.")
    catchment_name: str = ""
    catchment_description: str = Field("", description="The report's catchment information.")
    site_background: str = Field("", description="The report's client / site background.")
    water_service_provider: str = ""
    water_provider_parent: str = Field("", description="The provider's parent organisation.")
    ultimate_water_sources: list[str] = []
    wastewater_service_provider: str = ""
    receiving_water_bodies: list[str] = []
    discharges: list[Discharge] = Field([], description="Each stream and where it goes.")
    permits: list[Permit] = []
    managed_sources: list[ManagedSource] = []
    onsite_iwras: list[str] = []
    catchment_iwras: list[str] = []
    catchment_iwra_count: int | None = Field(None, ge=0)
    shared_water_challenges: list[SharedChallenge] = []
    findings: list[Finding] = []
    indicators: list[IndicatorAnswer] = []
    source: str = Field("", description="Where the record came from (report file, by hand).")
    edited_fields: list[str] = Field(
        [],
        description=(
            "Fields a person changed by hand; an import does not overwrite them. A field name "
            "('site_background') or one item of the checklist or findings ('indicators[3.9.10]', "
            "'findings[TNR-003765]')."
        ),
    )
    notes: str = ""
    field_bases: dict[str, Basis] = Field(
        {},
        description=(
            "What a field rests on when it is not simply stated by this record's report: "
            "field name → basis (e.g. a provider borrowed from another site's report)."
        ),
    )

    @field_validator("aws_ref")
    @classmethod
    def _aws_ref_form(cls, value: str) -> str:
        if not AWS_REF_RE.match(value):
            raise ValueError(f"an AWS reference looks like 'AWS-000521', got {value!r}")
        return value

    @property
    def label(self) -> str:
        """Short display label: ``'AWS-000521 — Luxshare - (158) Kunshan, China'``."""
        return f"{self.aws_ref} — {self.site_name}"


def record_path(data_dir: Path, aws_ref: str) -> Path:
    """Where the record of ``aws_ref`` lives in a workspace's ``data/`` folder."""
    if not AWS_REF_RE.match(aws_ref):
        raise RecordError(f"{aws_ref!r} is not an AWS reference (expected e.g. 'AWS-000521').")
    return data_dir / RECORDS_DIR / f"{aws_ref}.json"


def load_record(path: Path) -> SiteRecord:
    """Read and validate one record file.

    Raises
    ------
    RecordError
        If the file is not JSON or a field is invalid; names file and field.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"Site record {path.name}: cannot be read as JSON ({err}).") from err
    try:
        record = SiteRecord.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()
        )
        raise RecordError(f"Site record {path.name}: {problems}.") from err
    if record.aws_ref != path.stem:
        raise RecordError(
            f"Site record {path.name} holds {record.aws_ref}; name it {record.aws_ref}.json."
        )
    return record


def load_records(data_dir: Path) -> dict[str, SiteRecord]:
    """All site records of a workspace, keyed by AWS reference (sorted)."""
    folder = data_dir / RECORDS_DIR
    if not folder.is_dir():
        return {}
    return {path.stem: load_record(path) for path in sorted(folder.glob("*.json"))}


def get_record(records: dict[str, SiteRecord], aws_ref: str) -> SiteRecord:
    """Look a site up by AWS reference; an unknown one lists the known sites."""
    try:
        return records[aws_ref]
    except KeyError:
        known = ", ".join(records) or "(none: the workspace has no site records)"
        raise SiteNotFoundError(f"No site {aws_ref!r} in this workspace. Sites: {known}.") from None


def record_json(record: SiteRecord) -> bytes:
    """The bytes of a record's file, as :func:`save_record` writes them."""
    return (record.model_dump_json(indent=2, exclude_none=False) + "\n").encode("utf-8")


def save_record(data_dir: Path, record: SiteRecord) -> Path:
    """Write ``record`` atomically to ``data/sites/<aws_ref>.json``; returns the path."""
    path = record_path(data_dir, record.aws_ref)
    atomic_write_bytes(path, record_json(record), overwrite=True)
    return path


#: A certificate ending within this many days is flagged "expiring".
EXPIRY_WARNING_DAYS = 90


@dataclass(frozen=True)
class Validity:
    """Whether a site's AWS certificate is current on a given day."""

    #: ``"valid"``, ``"expiring"`` (within :data:`EXPIRY_WARNING_DAYS`), ``"expired"`` or
    #: ``"unknown"`` (the record has no end date).
    state: str
    #: One sentence a site manager can act on.
    message: str
    #: Short form for tables: "EXPIRED 144 days ago", "valid, 200 days left", "unknown".
    short: str


def certificate_validity(record: Any, today: date | None = None) -> Validity:
    """Judge a record's certificate validity against ``today`` (default: the system date).

    An AWS certificate is valid until its ``valid_until`` date; after that the site is no
    longer certified unless a re-certification decision is on record.  A past
    ``next_audit_date`` is mentioned too: the record may be out of date.
    """
    today = today or date.today()
    end = getattr(record, "valid_until", None)
    audit = getattr(record, "next_audit_date", None)
    stale = (f" The audit planned for {audit.isoformat()} is past."
             if audit is not None and audit < today else "")
    if end is None:
        return Validity("unknown", "The record gives no end date for the certificate; check "
                        "the AWS certified-sites list." + stale, "unknown")
    days = (end - today).days
    if days < 0:
        return Validity(
            "expired",
            f"EXPIRED: the certificate ended on {end.isoformat()}, {-days} days ago (today is "
            f"{today.isoformat()}): the site is not certified on this record. Import the "
            "re-certification report or check the AWS certified-sites list." + stale,
            f"EXPIRED {-days} days ago")
    if days <= EXPIRY_WARNING_DAYS:
        return Validity("expiring", f"Certificate expires on {end.isoformat()}, in {days} "
                        "days: re-certification is due." + stale, f"expires in {days} days")
    return Validity("valid", f"Certificate valid until {end.isoformat()} ({days} days left)."
                    + stale, f"valid, {days} days left")
