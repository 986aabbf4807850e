"""Wall-clock seconds as dates, without the ``time`` or ``datetime`` modules (the core reads no clock).

IRC shows times in two ways: ISO 8601 in UTC with milliseconds (the
``server-time`` tag) and a human line (``TIME``, the creation date).  The
date comes from the number of days since the epoch, by the usual
civil-from-days computation on the proleptic Gregorian calendar.
"""

from __future__ import annotations

_DAY = 86_400
_WEEKDAYS = ("Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday")  # 1970-01-01
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the day ``days`` after 1970-01-01."""
    shifted = days + 719_468  # from 0000-03-01
    era = shifted // 146_097
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_from_march = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_from_march + 2) // 5 + 1
    month = month_from_march + 3 if month_from_march < 10 else month_from_march - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def iso_utc(seconds: float) -> str:
    """``2026-11-30T16:13:26.123Z``: the form of IRC's ``server-time`` tag."""
    millis = int(seconds * 1000)
    days, rest = divmod(millis, _DAY * 1000)
    year, month, day = civil_from_days(days)
    clock, ms = divmod(rest, 1000)
    hours, clock = divmod(clock, 3600)
    minutes, secs = divmod(clock, 60)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}Z"


def human_utc(seconds: float) -> str:
    """``Monday November 30 2026 -- 16:13:26 +00:00``: a date for people to read."""
    whole = int(seconds)
    days, clock = divmod(whole, _DAY)
    year, month, day = civil_from_days(days)
    hours, clock = divmod(clock, 3600)
    minutes, secs = divmod(clock, 60)
    weekday = _WEEKDAYS[days % 7]
    return f"{weekday} {_MONTHS[month - 1]} {day} {year} -- {hours:02d}:{minutes:02d}:{secs:02d} +00:00"
