"""The venue: sessions, members, pre-trade risk, matching through the compiled books, trade
capture and order events, orchestrated by :class:`~exchange.venue.exchange.Exchange`."""
