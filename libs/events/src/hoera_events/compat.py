"""Backward-compatibility check of two JSON Schemas of the same event (old snapshot, new model).

Within one event version only additive, optional changes are allowed (docs/architecture.md): a
message written against the old schema must still be read by a consumer built on the new one, and a
consumer built on the old one must still find every field it knows. So this reports as breaking:

- a removed field;
- a newly required field, or an optional field made required;
- a narrowed type: a type no longer accepted (``string`` -> ``integer``, ``null`` dropped from a
  union), enum values removed, a new enum, format or pattern restriction, a tightened bound
  (``maxLength`` down, ``minimum`` up, ...);
- a changed partition key (``x-hoera-key``), which would reorder the aggregate's events.

And lets pass: an added optional field, a widened type or enum, a loosened bound, changed titles,
descriptions and defaults. A widened enum is allowed by the rule, but a consumer that does not know
the new value refuses the event: deploy consumers before the producer that starts sending it.

It understands what pydantic generates: local ``$ref`` into ``$defs`` (any local JSON pointer, in
fact), ``anyOf``/``oneOf`` unions, ``allOf`` wrappers, ``enum``/``const``, ``additionalProperties``
and ``propertyNames`` of dicts, ``items`` of lists. It is not a general JSON Schema subsumption
checker (nobody has a complete one); for event models it is enough, and it errs on the side of
reporting a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_JSON_TYPES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    type(None): "null",
    list: "array",
    dict: "object",
}


@dataclass(frozen=True)
class BreakingChange:
    """One backward-incompatible difference, at a field path such as ``amount.amount_cents``."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def breaking_changes(old: Schema, new: Schema) -> list[BreakingChange]:
    """Every backward-incompatible change from ``old`` to ``new``; empty when ``new`` is safe."""
    changes: list[BreakingChange] = []
    old_key, new_key = old.get("x-hoera-key"), new.get("x-hoera-key")
    if old_key is not None and old_key != new_key:
        changes.append(BreakingChange("(partition key)", f"changed from {old_key!r} to {new_key!r}"))
    changes += _Comparison(old, new).compare(old, new, "")
    return changes


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self._refs_in_progress: set[tuple[str, str]] = set()

    def compare(self, old: Schema, new: Schema, path: str) -> list[BreakingChange]:
        ref_pair = (str(old.get("$ref", "")), str(new.get("$ref", "")))
        if all(ref_pair):
            if ref_pair in self._refs_in_progress:
                return []  # a recursive model: this pair is being compared further up
            self._refs_in_progress.add(ref_pair)
            try:
                return self._compare(_resolve(self.old_root, old), _resolve(self.new_root, new), path)
            finally:
                self._refs_in_progress.discard(ref_pair)
        return self._compare(_resolve(self.old_root, old), _resolve(self.new_root, new), path)

    def _compare(self, old: Schema, new: Schema, path: str) -> list[BreakingChange]:
        old_branches, new_branches = _branches(old), _branches(new)
        if len(old_branches) > 1 or len(new_branches) > 1:
            return self._compare_unions(old_branches, new_branches, path)
        return self._compare_single(old, new, path)

    def _compare_unions(
        self, old_branches: list[Schema], new_branches: list[Schema], path: str
    ) -> list[BreakingChange]:
        """Every old alternative must still be accepted by some new alternative."""
        changes: list[BreakingChange] = []
        for old_branch in old_branches:
            old_resolved = _resolve(self.old_root, old_branch)
            old_kinds = _kinds(old_resolved)
            candidates = [
                b for b in new_branches if _accepts_kinds(_kinds(_resolve(self.new_root, b)), old_kinds)
            ]
            if not candidates:
                changes.append(BreakingChange(_at(path), f"no longer accepts {_describe(old_resolved)}"))
                continue
            # The closest new alternative decides; report its differences only.
            outcomes = [self.compare(old_branch, b, path) for b in candidates]
            closest: list[BreakingChange] = min(outcomes, key=len)
            changes += closest
        return changes

    def _compare_single(self, old: Schema, new: Schema, path: str) -> list[BreakingChange]:
        where = _at(path)
        if not _restricts(new):
            return []
        if not _restricts(old):
            return [BreakingChange(where, f"was anything, now only {_describe(new)}")]

        old_kinds, new_kinds = _kinds(old), _kinds(new)
        if not _accepts_kinds(new_kinds, old_kinds):
            return [
                BreakingChange(
                    where,
                    f"type narrowed from {_describe_kinds(old_kinds)} to {_describe_kinds(new_kinds)}",
                )
            ]

        changes: list[BreakingChange] = []
        old_values, new_values = _values(old), _values(new)
        if new_values is not None:
            if old_values is None:
                changes.append(BreakingChange(where, f"now restricted to {_show(new_values)}"))
            else:
                removed = [v for v in old_values if v not in new_values]
                if removed:
                    changes.append(BreakingChange(where, f"values removed: {_show(removed)}"))

        changes += _tightened_bounds(old, new, where)
        for keyword in ("format", "pattern"):
            if keyword in new and old.get(keyword) != new[keyword]:
                was = f"{old[keyword]!r}" if keyword in old else "none"
                changes.append(BreakingChange(where, f"{keyword} changed from {was} to {new[keyword]!r}"))
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            changes.append(BreakingChange(where, "items must now be unique"))

        if "object" in old_kinds or "properties" in old:
            changes += self._compare_objects(old, new, path)
        if "array" in old_kinds and isinstance(old.get("items"), Mapping):
            new_items = new.get("items", {})
            if isinstance(new_items, Mapping):
                changes += self.compare(old["items"], new_items, f"{path}[]")
        return changes

    def _compare_objects(self, old: Schema, new: Schema, path: str) -> list[BreakingChange]:
        changes: list[BreakingChange] = []
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", []))
        new_required = set(new.get("required", []))
        for name, old_prop in old_props.items():
            field_path = _join(path, name)
            if name not in new_props:
                changes.append(BreakingChange(field_path, "field removed"))
                continue
            changes += self.compare(old_prop, new_props[name], field_path)
        for name in sorted(new_required - old_required):
            field_path = _join(path, name)
            if name in old_props:
                changes.append(BreakingChange(field_path, "optional field made required"))
            else:
                changes.append(BreakingChange(field_path, "new required field"))

        # Dicts: the schema of their values and of their keys.
        old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
        if new_extra is False and old_extra is not False:
            changes.append(BreakingChange(_at(path), "no longer accepts additional properties"))
        elif isinstance(new_extra, Mapping):
            old_values_schema = old_extra if isinstance(old_extra, Mapping) else {}
            changes += self.compare(old_values_schema, new_extra, _join(path, "*"))
        if isinstance(new.get("propertyNames"), Mapping):
            old_names = old.get("propertyNames", {})
            changes += self.compare(old_names, new["propertyNames"], _join(path, "(keys)"))
        return changes


def _resolve(root: Schema, schema: Schema) -> Schema:
    """Follow local ``$ref`` pointers and fold ``allOf`` into one schema."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = str(schema["$ref"])
        if ref in seen or not ref.startswith("#"):
            raise ValueError(f"cannot resolve $ref {ref!r}")
        seen.add(ref)
        target: Any = root
        for part in ref.lstrip("#").strip("/").split("/") if ref != "#" else []:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for member in schema["allOf"]:
            one = _resolve(root, member)
            if "properties" in one:
                merged["properties"] = {**merged.get("properties", {}), **one["properties"]}
            if "required" in one:
                merged["required"] = sorted({*merged.get("required", []), *one["required"]})
            merged.update({k: v for k, v in one.items() if k not in ("properties", "required")})
        return merged
    return schema


def _branches(schema: Schema) -> list[Schema]:
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return list(schema[keyword])
    return [schema]


def _restricts(schema: Schema) -> bool:
    """False for a schema that accepts anything (``{}``, or only titles and descriptions)."""
    return any(
        k not in ("title", "description", "default", "examples", "deprecated") and not k.startswith("x-")
        for k in schema
    )


def _kinds(schema: Schema) -> set[str]:
    """The JSON types a schema accepts; empty means any type."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = _values(schema)
    if values is not None:
        return {_JSON_TYPES.get(type(v), "string") for v in values}
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema or "prefixItems" in schema:
        return {"array"}
    return set()


def _accepts_kinds(accepting: set[str], wanted: set[str]) -> bool:
    if not accepting:
        return True
    if not wanted:
        return False
    widened = accepting | ({"integer"} if "number" in accepting else set())
    return wanted <= widened


def _values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _tightened_bounds(old: Schema, new: Schema, where: str) -> list[BreakingChange]:
    changes: list[BreakingChange] = []
    for keyword in _UPPER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
            changes.append(
                BreakingChange(
                    where, f"{keyword} tightened from {old.get(keyword, 'none')} to {new[keyword]}"
                )
            )
    for keyword in _LOWER_BOUNDS:
        if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
            changes.append(
                BreakingChange(
                    where, f"{keyword} tightened from {old.get(keyword, 'none')} to {new[keyword]}"
                )
            )
    if "multipleOf" in new and ("multipleOf" not in old or old["multipleOf"] % new["multipleOf"] != 0):
        changes.append(BreakingChange(where, f"multipleOf changed to {new['multipleOf']}"))
    return changes


def _describe(schema: Schema) -> str:
    values = _values(schema)
    if values is not None:
        return _show(values)
    kinds = _kinds(schema)
    return _describe_kinds(kinds) if kinds else "anything"


def _describe_kinds(kinds: set[str]) -> str:
    return " or ".join(sorted(kinds)) if kinds else "anything"


def _show(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _at(path: str) -> str:
    return path or "(top level)"
