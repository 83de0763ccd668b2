"""Reference data: assets and instruments (decimal <-> tick/lot conversions), holiday calendars
and settlement dates, the fee schedule, and the checks every number passes at the edge
(``numbers``). Nothing here knows of orders, members or money balances; the venue and clearing
read it."""
