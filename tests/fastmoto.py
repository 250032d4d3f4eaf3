"""Speed-only shims for the tests: moto answers the same, in less time.

DynamoDB attribute values leave moto as they already are.

moto 5.2 serializes every JSON response by walking the operation's output shape, and for each
DynamoDB attribute value it asks its value picker for all ten members of `AttributeValue` (`S`, `N`,
`M`, `L`, ...). An item of a dozen attributes costs a few hundred picker calls, and about a quarter
of the suite's time went there. The values moto hands the serializer are already in the wire format
(`{"S": "..."}`, `dynamo_to_dict`), so for the ones made only of strings, booleans, lists and maps
the walk returns what it was given: this shim puts them in the response as they are. Anything else
(binary members, an unknown member, a None) takes moto's own walk.

Each request also asks `inspect.getmembers` for the names of its response class's methods
(`method_names_from_class`), a pure function of the class: here it is asked once per class.

Same bytes on the wire, so same answers: `tests/parity/test_fastmoto.py` serializes the responses
of every DynamoDB and DynamoDB Streams operation the code makes both ways and compares them. Tests
only: nothing shipped applies it.
"""

from __future__ import annotations

import functools
from typing import Any

import moto.core.responses
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import method_names_from_class

ATTRIBUTE_VALUE = "AttributeValue"
_STRINGS = frozenset({"S", "N"})
_STRING_LISTS = frozenset({"SS", "NS"})

_walk = BaseJSONSerializer._serialize_type_structure
METHOD_NAMES = "method_names_from_class"  # as moto.core.responses imported it


def plain(value: Any) -> bool:
    """Whether moto's walk over `value` (an attribute value) would return it unchanged."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((member, inner),) = value.items()
    if member in _STRINGS:
        return isinstance(inner, str)
    if member in ("BOOL", "NULL"):
        return isinstance(inner, bool)
    if member in _STRING_LISTS:
        return isinstance(inner, list) and all(isinstance(s, str) for s in inner)
    if member == "M":
        return isinstance(inner, dict) and all(isinstance(k, str) and plain(v) for k, v in inner.items())
    if member == "L":
        return isinstance(inner, list) and all(plain(v) for v in inner)
    return False  # B, BS (base64 on the wire), or a member AttributeValue does not have


def as_is(value: Any, shape: Any, key: str) -> bool:
    """Whether the shim puts `value` in the answer as it is (an attribute value moto's walk leaves unchanged)."""
    return bool(key) and shape.name == ATTRIBUTE_VALUE and plain(value)


def _serialize_type_structure(self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if as_is(value, shape, key):
        serialized[self.get_serialized_name(shape, key)] = value
        return
    _walk(self, serialized, value, shape, key)


def install() -> None:
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    setattr(moto.core.responses, METHOD_NAMES, _cached_method_names)


def uninstall() -> None:
    BaseJSONSerializer._serialize_type_structure = _walk  # type: ignore[method-assign]
    setattr(moto.core.responses, METHOD_NAMES, method_names_from_class)


@functools.cache
def _cached_method_names(clazz: object) -> list[str]:
    return method_names_from_class(clazz)
