"""The Cloudera report parser: the seed's sectioned report, CSV/JSON forms, and every kind of bad input."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from exporters.cloudera.read import ReportError, normalise_status, parse_report
from exporters.cloudera.schedule import normalise_criticality

FIXTURES = Path(__file__).parent / "fixtures" / "cloudera"
SEED = (FIXTURES / "seed_report.tsv").read_bytes()
SANTIAGO = ZoneInfo("America/Santiago")
HEADER = "proceso,hora_ejecucion,estado_final,criticidad\n"


def local(*parts: int) -> float:
    return datetime(*parts, tzinfo=SANTIAGO).timestamp()


def test_seed_report_has_six_ok_and_three_late_rows() -> None:
    report = parse_report(SEED)
    assert sum(report.rejected.values()) == 0
    by_job = {row.job: row for row in report.rows}
    assert len(by_job) == 9
    ok = {job for job, row in by_job.items() if row.status == "ok"}
    late = {job for job, row in by_job.items() if row.status == "late"}
    assert ok == {
        "icmt_datalog2.py",
        "eOrder - Chile - Ingesta y Procesamiento",
        "bases_tecnica.py",
        "MSASCL",
        "NCO - Chile - Ingesta y Procesamiento",
        "icmt_smtssb0005.py",
    }
    assert late == {"smt mother Flow", "son flow 1", "ebmer"}
    assert by_job["smt mother Flow"].criticality == "critical"
    assert by_job["son flow 1"].criticality == "critical"
    assert by_job["ebmer"].criticality == "non_critical"
    assert all(by_job[j].run_timestamp is None for j in late)
    # naive report times are Santiago local time (UTC-3 in February, daylight saving)
    assert by_job["NCO - Chile - Ingesta y Procesamiento"].run_timestamp == pytest.approx(
        local(2020, 2, 4, 5, 32, 45, 779000), abs=1e-3
    )
    assert by_job["icmt_datalog2.py"].run_timestamp == pytest.approx(
        local(2020, 2, 4, 4, 1, 11, 450000), abs=1e-3
    )


def test_csv_json_and_latin1_forms_give_the_same_rows() -> None:
    seed = parse_report(SEED).rows
    rows = [
        {
            "proceso": r.job,
            "hora_ejecucion": "None"
            if r.run_timestamp is None
            else datetime.fromtimestamp(r.run_timestamp, SANTIAGO).replace(tzinfo=None).isoformat(sep=" "),
            "estado_final": {"ok": "OK", "late": "Retraso en ejecucion"}[r.status],
            "criticidad": {"critical": "Crítico", "non_critical": "No Crítico"}[r.criticality],
        }
        for r in seed
    ]
    as_json = json.dumps(rows).encode()
    as_sections = json.dumps(
        {"Procesos con Éxito!": rows[:6], "Procesos con Fallos!": rows[6:]}, ensure_ascii=False
    ).encode()
    as_csv = (HEADER + "".join(",".join(f'"{v}"' for v in r.values()) + "\n" for r in rows)).encode("latin-1")
    for content in (as_json, as_sections, as_csv):
        parsed = parse_report(content)
        assert sum(parsed.rejected.values()) == 0
        assert [(r.job, r.status, r.criticality) for r in parsed.rows] == [
            (r.job, r.status, r.criticality) for r in seed
        ]
        assert [r.run_timestamp for r in parsed.rows] == pytest.approx([r.run_timestamp for r in seed])
    assert parse_report(as_json).format == "json" and parse_report(as_csv).format == "csv"


def test_english_column_names_and_explicit_offsets() -> None:
    content = b"job;last_run;status;criticality\nA;2024-05-02T06:00:00+00:00;failed;critical\n"
    (row,) = parse_report(content).rows
    assert (row.job, row.status, row.criticality) == ("A", "failed", "critical")
    assert row.run_timestamp == datetime(2024, 5, 2, 6, tzinfo=ZoneInfo("UTC")).timestamp()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("X,2020-02-31 04:00:00,OK,Critico", "bad_timestamp"),
        ("X,yesterday,OK,Critico", "bad_timestamp"),
        ("X,2020-02-04 04:00:00,OK,Muy Critico", "unknown_criticality"),
        ("X,2020-02-04 04:00:00,Desconocido,Critico", "unknown_status"),
        (",2020-02-04 04:00:00,OK,Critico", "missing_job"),
        ("X,None,OK,Critico", "missing_timestamp"),
        ("X,2020-02-04 04:00:00,OK", "malformed_row"),
        ("X,2020-02-04 04:00:00,OK,Critico,extra", "malformed_row"),
    ],
)
def test_bad_rows_are_counted_by_reason_and_the_rest_kept(line: str, reason: str) -> None:
    content = (HEADER + "good,2020-02-04 04:00:00,OK,No Critico\n" + line + "\n").encode()
    report = parse_report(content)
    assert [r.job for r in report.rows] == ["good"]
    assert dict(report.rejected) == {reason: 1}
    assert report.examples and report.examples[0].startswith(reason)


def test_truncated_file_loses_only_the_cut_row() -> None:
    whole = SEED.decode("utf-8")
    cut = whole[: whole.index("Retraso en ejecucion\tCritico\nson flow")] + "Retra"
    report = parse_report(cut.encode())
    # the cut row's status is unreadable: counted, and the eight complete rows are kept
    assert len(report.rows) == 6
    assert sum(report.rejected.values()) == 1
    cut_mid_field = whole[: whole.index("\tCritico\nson flow")].rsplit("\t", 1)[0]
    report = parse_report(cut_mid_field.encode())
    assert report.rejected == {"malformed_row": 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"name,when,state\nA,2020-02-04,OK\n", "wrong_header"),
        (b"proceso\testado_final\nA\tOK\n", "wrong_header"),
        (b"just a sentence without separators\n", "wrong_header"),
        (b'[{"proceso": "A", "hora_ejecucion": "2020-02-04 01:00"', "malformed_json"),
        (b'{"proceso": "A", oops}', "malformed_json"),
        (b'{"rows": "not a list"}', "malformed_json"),
        (b"[1, 2", "malformed_json"),
        (b'[{"name": "A", "state": "OK"}]', "wrong_header"),
        ((HEADER + "A,soon,OK,Critico\nB,None,Perdido,Critico\n").encode(), "no_valid_rows"),
    ],
)
def test_unusable_reports_raise_with_a_reason(content: bytes, reason: str) -> None:
    with pytest.raises(ReportError) as info:
        parse_report(content)
    assert info.value.reason == reason
    assert str(info.value)


def test_json_rows_that_are_not_objects_are_counted() -> None:
    content = json.dumps(
        [
            {
                "proceso": "A",
                "hora_ejecucion": "2020-02-04 01:00:00",
                "estado_final": "OK",
                "criticidad": "Critico",
            },
            ["not", "an", "object"],
            {
                "proceso": "B",
                "hora_ejecucion": None,
                "estado_final": "Retraso en ejecucion",
                "criticidad": "Critico",
            },
        ]
    ).encode()
    report = parse_report(content)
    assert [r.job for r in report.rows] == ["A", "B"]
    assert report.rows[1].run_timestamp is None
    assert report.rejected == {"malformed_row": 1}


def test_vocabularies() -> None:
    assert normalise_status("Retraso en ejecución") == "late"
    assert normalise_status(" ok ") == "ok"
    assert normalise_status("FALLIDO") == "failed"
    assert normalise_status("maybe") is None
    assert normalise_criticality("No Crítico") == "non_critical"
    assert normalise_criticality("no_critico") == "non_critical"
    assert normalise_criticality("CRITICO") == "critical"
    assert normalise_criticality("Alta") is None
