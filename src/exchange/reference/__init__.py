"""Reference data: assets and instruments (decimal <-> tick/lot conversions), holiday calendars
and settlement dates, and the fee schedule. Nothing here knows of orders, members or money
balances; the venue and clearing read it."""
