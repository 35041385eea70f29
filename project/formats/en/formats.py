"""English output formats: day first, short month, 24-hour clock.

Localised formatting is always on in Django 5, so the locale's formats win over the settings
DATE_FORMAT and friends; Django's own English ones read "Jan. 5, 2013, midnight". Input
formats are not set here: they fall through to Django's English module.
"""

DATE_FORMAT = "j M Y"  # 5 Jan 2013
TIME_FORMAT = "H:i"  # 14:05, never "midnight" or "2:05 p.m."
DATETIME_FORMAT = "j M Y, H:i"  # 5 Jan 2013, 14:05
YEAR_MONTH_FORMAT = "M Y"  # Jan 2013
MONTH_DAY_FORMAT = "j M"  # 5 Jan
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
