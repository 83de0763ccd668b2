"""Type stub for the engine's state export (src/exchange/venue/_state.pyx)."""
import numpy as np

from exchange.venue._engine import Engine

MARKET_FIELDS: tuple[str, ...]
ACCOUNT_FIELDS: tuple[str, ...]
ORDER_FIELDS: tuple[str, ...]

def export_engine(engine: Engine) -> dict[str, np.ndarray]: ...
def import_engine(engine: Engine, state: dict[str, np.ndarray]) -> None: ...
