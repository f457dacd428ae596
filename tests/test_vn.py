import datetime as dt

import pytest

from signflow import vn


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (dt.date(2019, 1, 15), "Ninh Bình, ngày 15 tháng 01 năm 2019"),
        (dt.date(2019, 2, 5), "Ninh Bình, ngày 05 tháng 02 năm 2019"),
        (dt.date(2019, 6, 29), "Ninh Bình, ngày 29 tháng 6 năm 2019"),
        (dt.date(2019, 3, 9), "Ninh Bình, ngày 09 tháng 3 năm 2019"),
        (dt.date(2019, 12, 31), "Ninh Bình, ngày 31 tháng 12 năm 2019"),
        (dt.date(2019, 10, 1), "Ninh Bình, ngày 01 tháng 10 năm 2019"),
    ],
)
def test_date_line_follows_decree_30(date, expected):
    assert vn.date_line("Ninh Bình", date) == expected


def test_number_line():
    assert vn.number_line(5, "KH-TTr") == "Số: 05/KH-TTr"
    assert vn.number_line(12, "KH-TTr") == "Số: 12/KH-TTr"
    assert vn.number_line(None, "KH-TTr") == "Số:      /KH-TTr"


def test_upper_vietnamese():
    assert vn.upper("Thanh tra tỉnh Quảng Ninh") == "THANH TRA TỈNH QUẢNG NINH"
    assert vn.upper("đồng bằng") == "ĐỒNG BẰNG"


def test_iso_vn_uses_plus_seven():
    moment = dt.datetime(2019, 3, 15, 2, 30, tzinfo=dt.UTC)
    assert vn.iso_vn(moment) == "2019-03-15T09:30:00+07:00"



@pytest.fixture
def utc_evening(monkeypatch):
    """The clock at 18:30 UTC on 3 December 2026: already 4 December in Vietnam."""
    moment = dt.datetime(2026, 12, 3, 18, 30, tzinfo=dt.UTC)

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return moment if tz is None else moment.astimezone(tz)

    monkeypatch.setattr(vn.dt, "datetime", Clock)  # datetime.datetime, for this test only


def test_today_is_vietnams_date_on_a_utc_machine(utc_evening):
    """A server on UTC filled templates and numbered documents with the day before (the
    machine's local date) from 17:00 UTC."""
    assert vn.today_in_vietnam() == dt.date(2026, 12, 4)


def test_templates_see_vietnams_date(utc_evening):
    from signflow.documents.context import document_context
    from signflow.documents.data import load_data
    from signflow.roster import load_roster

    from .conftest import EXAMPLE

    context = document_context(load_roster(EXAMPLE / "roster.toml"),
                               load_data([EXAMPLE / "data.toml"]), "giao-uoc-thi-dua")
    assert context["today"] == "2026-12-04", context["today"]
