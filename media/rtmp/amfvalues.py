"""Values that AMF0 and AMF3 share: ``UNDEFINED`` (both have an undefined marker).

Its own module so that neither codec imports the other for it (``amf0`` reads an embedded
AMF3 value through ``amf3``; ``amf3`` only needs this value).
"""

from __future__ import annotations

from typing import Final


class Undefined:
    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined()
