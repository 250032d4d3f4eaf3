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

botocore clients are made with less work.

A test makes some thirty botocore clients (provisioning, the parity set-up, the local runtime, five per
function that runs), and botocore builds each from scratch. Three of the parts it builds are pure
functions of the service's model (which the shared loader of tests/conftest.py hands out as the same
objects all run long) or of botocore's constants:

- the endpoint rule set (`botocore.endpoint_provider.RuleSet`, a few hundred rule objects parsed
  from `endpoint-rule-set-1.json`): never changed once built (`evaluate` works on a copy of its input),
  it is built once per service here; each client still has its own `EndpointProvider`, and with it its
  own cache of resolved endpoints;
- the client class's operation methods (`ClientCreator._create_methods`, a function per operation
  that calls `self._make_api_call(operation_name, kwargs)`): made once per service model; each client
  still gets a class of its own, built from a fresh dict of them, and the `creating-client-class`
  event is still emitted for it (boto3 adds its S3 transfer methods there);
- the names of events after botocore's aliasing (`EventAliaser._alias_event_name`, a pure
  function of the name and the emitter's aliases, kept per emitter in `_alias_name_cache`): a client's
  emitter is a copy of its session's, with the same aliases and an empty cache, so each client worked out
  again the names of the hundred-odd events it registers and emits, and each new session (moto's
  `mock_aws` unsets boto3's default one, so a test makes three) those of its builtin handlers. Here every
  emitter made with botocore's own aliases (`EVENT_ALIASES`, a module constant) shares one cache, and a
  copy shares its original's while their aliases are equal, which nothing in botocore changes after an
  emitter is made.

Same clients, so same requests: `tests/parity/test_fastmoto.py` checks that each client resolves the
same endpoints, has the same operations, and sends the same requests with the shim as without.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.client
import botocore.endpoint_provider
import botocore.hooks
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


_provider_init = botocore.endpoint_provider.EndpointProvider.__init__
_create_methods = getattr(botocore.client.ClientCreator, "_create_methods")  # noqa: B009 (untyped, private)
_copy_emitter = botocore.hooks.EventAliaser.__copy__
# (id of the ruleset data, id of the partition data) -> (the rule set, the two data objects): the data is
# kept alive with its rule set, so that an id is never reused for other data while it is a key here.
RULE_SETS: dict[tuple[int, int], tuple[botocore.endpoint_provider.RuleSet, object, object]] = {}
# id of a service model's description -> (its operation methods by Python name, the description).
METHODS: dict[int, tuple[dict[str, Any], object]] = {}


def _provider(
    self: Any,
    ruleset_data: Any,
    partition_data: Any,
    excluded_params: Any = None,
) -> None:
    """`EndpointProvider.__init__`, with the rule set of these (same) data objects built once."""
    key = (id(ruleset_data), id(partition_data))
    found = RULE_SETS.get(key)
    if found is None:
        rule_set = botocore.endpoint_provider.RuleSet(**ruleset_data, partitions=partition_data)
        found = RULE_SETS[key] = (rule_set, ruleset_data, partition_data)
    self.ruleset = found[0]
    self._excluded_params = excluded_params or frozenset()


def _methods(self: Any, service_model: Any) -> dict[str, Any]:
    """`ClientCreator._create_methods`, made once per service model; a fresh dict each time (the
    `creating-client-class` handlers add to it)."""
    description = service_model._service_description
    found = METHODS.get(id(description))
    if found is None:
        found = METHODS[id(description)] = (_create_methods(self, service_model), description)
    return dict(found[0])


_new_aliaser = botocore.hooks.EventAliaser.__init__
ALIASED: dict[str, str] = {}  # event name -> its name after botocore's own aliases (EVENT_ALIASES)


def _aliaser(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
    """`EventAliaser.__init__`; one with botocore's own aliases (every session's) shares their names."""
    _new_aliaser(self, event_emitter, event_aliases)
    if event_aliases is None:
        self._alias_name_cache = ALIASED


def _copied_emitter(self: Any) -> Any:
    """`EventAliaser.__copy__`, the copy sharing the aliased names its original worked out."""
    copied = _copy_emitter(self)
    if copied._event_aliases == self._event_aliases:
        copied._alias_name_cache = self._alias_name_cache
    return copied


def install() -> None:
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
    setattr(moto.core.responses, METHOD_NAMES, _cached_method_names)
    botocore.endpoint_provider.EndpointProvider.__init__ = _provider  # type: ignore[method-assign]
    setattr(botocore.client.ClientCreator, "_create_methods", _methods)  # noqa: B010 (untyped, private)
    setattr(botocore.hooks.EventAliaser, "__copy__", _copied_emitter)  # noqa: B010
    setattr(botocore.hooks.EventAliaser, "__init__", _aliaser)  # noqa: B010


def uninstall() -> None:
    BaseJSONSerializer._serialize_type_structure = _walk  # type: ignore[method-assign]
    setattr(moto.core.responses, METHOD_NAMES, method_names_from_class)
    botocore.endpoint_provider.EndpointProvider.__init__ = _provider_init  # type: ignore[method-assign]
    setattr(botocore.client.ClientCreator, "_create_methods", _create_methods)  # noqa: B010
    setattr(botocore.hooks.EventAliaser, "__copy__", _copy_emitter)  # noqa: B010
    setattr(botocore.hooks.EventAliaser, "__init__", _new_aliaser)  # noqa: B010


@functools.cache
def _cached_method_names(clazz: object) -> list[str]:
    return method_names_from_class(clazz)
