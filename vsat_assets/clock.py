"""The platform's clock: today's date and the time now, which VSAT_TODAY can set.

`make demo` builds April 2024 to March 2026 in a minute; its data stand at the demo's own date
(`demo.DEMO_TODAY`), so hand-offs are sent, opt-outs recorded and retention applied as of that
day, not as of the day the demo happens to run (which would purge every demo month). Unset,
the clock is the machine's.
"""

import os
from datetime import date, datetime

VARIABLE = "VSAT_TODAY"


def today() -> date:
    """VSAT_TODAY (YYYY-MM-DD) when set, otherwise the machine's date."""
    value = os.environ.get(VARIABLE, "").strip()
    if not value:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{VARIABLE}={value!r} is not a date (expected YYYY-MM-DD, or leave it unset)") from None


def now() -> datetime:
    """The time now on today()'s date: the machine's time of day, so that events keep their order."""
    moment = datetime.now()
    return datetime.combine(today(), moment.time())
