"""What a run chose on its own, said once per process on the ``numpyro_cld`` logger.

A route or default the library picks is information, not a fault: it goes to :mod:`logging`
(level WARNING, so Python prints it to stderr without any set-up) rather than to
:mod:`warnings`, where test suites that turn warnings into errors, as NumPyro's do, would
fail on every run. Each note is said once per process; a user who chose the route explicitly
hears nothing. Silence them all with ``logging.getLogger("numpyro_cld").setLevel("ERROR")``.
A fallback that loses something (modes, exactness) stays a :class:`UserWarning`.
"""

import logging

__all__ = ["logger", "reset", "say_once"]

logger = logging.getLogger("numpyro_cld")
_said: set[str] = set()


def say_once(key: str, message: str) -> None:
    """Log ``message`` at WARNING level the first time ``key`` is said in this process."""
    if key in _said:
        return
    _said.add(key)
    logger.warning(message)


def reset() -> None:
    """Forget what was said: each note is said again at its next occasion."""
    _said.clear()
