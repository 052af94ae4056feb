"""HTML forms generated from a JSON Schema, and the posted form read back into a document (R8).

The operator console edits every rule document of every service through a form, not raw JSON: the
document's pydantic model gives its JSON Schema, `build` turns schema and value into a tree of
fields (objects as fieldsets, lists and maps as rows that can be removed or added, enums as
choices, booleans as checkboxes, numbers with their bounds), the kit's `_fields.html` renders the
tree, and `read` turns the posted form back into a document for the model to validate. Where the
model refuses a value, `read` has recorded which input it came from, so the problem is shown next
to that field.

Input names are paths under `doc`: `doc/categories/0/sla/business_days`. A list's rows and a map's
entries are numbered; `@count` says how many rows the form had, `@remove` drops a row, `@key` is a
map entry's key and `@bool` says a checkbox was on the form (an unchecked one posts nothing).
A row left entirely empty (the blank row offered for adding) is not part of the document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

ROOT: Final = "doc"
MAX_ROWS: Final = 1000
"""A posted @count above this is not believed: rule documents are far smaller."""

Kind = Literal[
    "object",
    "list",
    "map",
    "text",
    "long_text",
    "integer",
    "number",
    "boolean",
    "choice",
    "date",
    "time",
    "json",
]


class FormValues(Protocol):
    """A posted form: the first value of a field, or None (hoera_kit.sessions.PostedForm)."""

    def get(self, name: str) -> str | None: ...


class _Missing:
    """Not on the form: the model's default applies."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass
class Field:
    """One node of a generated form: an input, or a group of them."""

    kind: Kind
    name: str
    label: str
    help: str | None = None
    value: Any = None
    required: bool = False
    nullable: bool = False
    options: list[str] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    key: Field | None = None
    """A map entry's key input."""
    new: bool = False
    """The blank row offered for adding one."""
    blank: bool = False
    """Part of a blank row: left empty unless someone fills it in."""
    removable: bool = False
    row: str | None = None
    """A list row's or map entry's own name, under which its `@remove` box posts."""
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    error: str | None = None

    @property
    def input_id(self) -> str:
        return "f-" + self.name.replace("/", "-").replace("@", "")

    @property
    def offers_blank(self) -> bool:
        """A choice shows an empty option: when it may be left empty, or in the row for adding one."""
        return not self.required or self.new or self.blank

    @property
    def text(self) -> str:
        """The value as an input shows it."""
        if self.value is None or self.value is MISSING:
            return ""
        if self.kind == "json":
            return (
                self.value
                if isinstance(self.value, str)
                else json.dumps(self.value, indent=2, ensure_ascii=False)
            )
        return str(self.value)


class Schema:
    """A model's JSON Schema with its $defs resolved on the way down."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.root = schema
        self.defs: Mapping[str, Any] = schema.get("$defs", {})

    def resolve(self, node: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
        """The node without references and without `| None`: (schema, nullable)."""
        nullable = False
        while True:
            if "$ref" in node:
                target = self.defs[node["$ref"].rsplit("/", 1)[-1]]
                node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
                continue
            options = node.get("anyOf")
            if options is not None:
                others = [o for o in options if o.get("type") != "null"]
                if len(others) == 1:
                    nullable = nullable or len(others) < len(options)
                    rest = {k: v for k, v in node.items() if k != "anyOf"}
                    node = {**others[0], **rest}
                    continue
            if len(node.get("allOf", ())) == 1:
                rest = {k: v for k, v in node.items() if k != "allOf"}
                node = {**node["allOf"][0], **rest}
                continue
            return node, nullable

    def kind(self, node: Mapping[str, Any]) -> Kind:
        if "enum" in node:
            return "choice"
        kind = node.get("type")
        if kind == "object":
            if node.get("properties"):
                return "object"
            if isinstance(node.get("additionalProperties"), Mapping):
                return "map"
            return "json"
        if kind == "array":
            return "list" if isinstance(node.get("items"), Mapping) else "json"
        if kind == "string":
            fmt = node.get("format")
            if fmt in ("date", "time"):
                return "date" if fmt == "date" else "time"
            limit = node.get("maxLength")
            return "text" if limit is not None and limit <= 200 else "long_text"
        if kind in ("integer", "number", "boolean"):
            return kind  # type: ignore[no-any-return]
        return "json"


def _label(node: Mapping[str, Any], fallback: str) -> str:
    return str(node.get("title") or fallback.replace("_", " ").capitalize())


def build(
    schema: Mapping[str, Any],
    value: Any,
    *,
    errors: Mapping[str, str] | None = None,
    words: Mapping[str, str] | None = None,
) -> Field:
    """The form of a document: `schema` the model's JSON Schema, `value` the document (as stored, or
    as posted when it was refused), `errors` the problems by input name, `words` the labels of
    fields by their name in the page's language ("@key" and "@value" for a map's parts; a field
    without one is labelled with its schema title)."""
    s = Schema(schema)
    return _build(s, schema, value, ROOT, _label(schema, "document"), True, errors or {}, words or {})


def _build(
    s: Schema,
    raw: Mapping[str, Any],
    value: Any,
    name: str,
    label: str,
    required: bool,
    errors: Mapping[str, str],
    words: Mapping[str, str],
    blank: bool = False,
) -> Field:
    """`blank`: part of the row offered for adding one, left empty (the model's defaults apply to
    what is left empty, and a row showing them would not be blank)."""
    node, nullable = s.resolve(raw)
    kind = s.kind(node)
    f = Field(
        kind=kind,
        name=name,
        label=label,
        help=node.get("description"),
        value=None if value is MISSING else value,
        required=required and not nullable,
        nullable=nullable,
        error=errors.get(name),
        blank=blank,
    )
    if kind == "object":
        props: Mapping[str, Any] = node["properties"]
        needed = set(node.get("required", ()))
        given = value if isinstance(value, Mapping) else {}
        f.children = [
            _build(
                s,
                sub,
                given.get(prop, MISSING),
                f"{name}/{prop}",
                words.get(prop) or _label(s.resolve(sub)[0], prop),
                prop in needed,
                errors,
                words,
                blank,
            )
            for prop, sub in props.items()
        ]
        f.value = None
    elif kind == "list":
        items = node["items"]
        rows = value if isinstance(value, list) else []
        # A row is named after its list in the page's language where there are words for it.
        noun = label if words else _label(s.resolve(items)[0], "item")
        for i, row in enumerate(rows):
            child = _build(s, items, row, f"{name}/{i}", f"{noun} {i + 1}", True, errors, words, blank)
            child.removable = True
            child.row = f"{name}/{i}"
            f.children.append(child)
        if len(rows) < int(node.get("maxItems", MAX_ROWS)):
            offered = _build(s, items, MISSING, f"{name}/{len(rows)}", noun, True, errors, words, True)
            offered.new = True
            offered.row = f"{name}/{len(rows)}"
            f.children.append(offered)
        f.value = None
    elif kind == "map":
        values = node["additionalProperties"]
        keys, _ = s.resolve(node.get("propertyNames", {"type": "string"}))
        entries = list(value.items()) if isinstance(value, Mapping) else []
        noun = words.get("@value") or _label(s.resolve(values)[0], "value")
        for i, (k, v) in enumerate([*entries, (MISSING, MISSING)]):
            child = _build(
                s, values, v, f"{name}/{i}/@value", noun, True, errors, words, blank or k is MISSING
            )
            child.key = Field(
                kind="choice" if "enum" in keys else "text",
                name=f"{name}/{i}/@key",
                label=words.get("@key") or _label(keys, "key"),
                value=None if k is MISSING else k,
                options=[str(o) for o in keys.get("enum", ())],
                required=True,
                max_length=keys.get("maxLength"),
                error=errors.get(f"{name}/{i}/@key"),
                blank=blank,
            )
            child.new = child.key.new = k is MISSING
            child.removable = k is not MISSING
            child.row = f"{name}/{i}"
            f.children.append(child)
        f.value = None
    elif kind == "choice":
        f.options = [str(o) for o in node["enum"]]
    elif kind in ("integer", "number"):
        f.minimum = node.get("minimum", node.get("exclusiveMinimum"))
        f.maximum = node.get("maximum", node.get("exclusiveMaximum"))
    elif kind in ("text", "long_text"):
        f.max_length = node.get("maxLength")
    elif kind == "boolean" and value is MISSING:
        f.value = bool(node.get("default", False))
    if (
        value is MISSING
        and not blank
        and kind not in ("object", "list", "map", "boolean")
        and "default" in node
    ):
        f.value = node["default"]
    return f


@dataclass
class Reading:
    """A posted form read back: the document, and which input each part of it came from."""

    document: Any
    inputs: dict[str, str] = field(default_factory=dict)
    """The dotted location a validation problem names (as RuleProblem gives it) -> the input's name."""
    problems: dict[str, str] = field(default_factory=dict)
    """Inputs that could not even be read (JSON that does not parse): name -> problem."""

    def place(self, location: str) -> str | None:
        """The input a problem at `location` belongs to: the nearest recorded one above it."""
        while True:
            if location in self.inputs:
                return self.inputs[location]
            if "." not in location:
                return self.inputs.get("") if location else None
            location = location.rsplit(".", 1)[0]


def read(schema: Mapping[str, Any], form: FormValues) -> Reading:
    """The posted form as a document for the model to validate (values stay text where the model
    converts them: "5" for an integer, so a wrong one is refused by the model, at its field)."""
    s = Schema(schema)
    reading = Reading(document=None)
    document = _read(s, schema, form, ROOT, ROOT, (), reading)
    reading.document = {} if document is MISSING else document
    return reading


def _blank(value: Any) -> bool:
    """A row nobody filled in: only empty texts and empty groups. Checkboxes do not count: the blank
    row offered for adding shows their defaults, checked or not."""
    if value is MISSING or value is None or value == "" or isinstance(value, bool):
        return True
    if isinstance(value, Mapping):
        return all(_blank(v) for v in value.values())
    if isinstance(value, list):
        return all(_blank(v) for v in value)
    return False


def _read(
    s: Schema,
    raw: Mapping[str, Any],
    form: FormValues,
    name: str,
    shown: str,
    location: tuple[str, ...],
    reading: Reading,
) -> Any:
    """`name` is the input's name on the posted form, `shown` its name when the form is shown again
    (rows renumbered once removed ones are gone), `location` its place in the document."""
    node, nullable = s.resolve(raw)
    kind = s.kind(node)
    reading.inputs[".".join(location)] = shown
    value: Any
    if kind == "object":
        value = {}
        for prop, sub in node["properties"].items():
            got = _read(s, sub, form, f"{name}/{prop}", f"{shown}/{prop}", (*location, prop), reading)
            if got is not MISSING:
                value[prop] = got
        if nullable and _blank(value):
            return None
        return value
    if kind in ("list", "map"):
        count = _count(form.get(f"{name}/@count"))
        if kind == "list":
            rows: list[Any] = []
            for i in range(count):
                if form.get(f"{name}/{i}/@remove"):
                    continue
                j = len(rows)
                got = _read(
                    s, node["items"], form, f"{name}/{i}", f"{shown}/{j}", (*location, str(j)), reading
                )
                if not _blank(got):
                    rows.append(got)
            return None if nullable and not rows else rows
        entries: dict[str, Any] = {}
        for i in range(count):
            if form.get(f"{name}/{i}/@remove"):
                continue
            key = (form.get(f"{name}/{i}/@key") or "").strip()
            j = len(entries)
            got = _read(
                s,
                node["additionalProperties"],
                form,
                f"{name}/{i}/@value",
                f"{shown}/{j}/@value",
                (*location, key),
                reading,
            )
            if not key and _blank(got):
                continue
            reading.inputs[".".join((*location, key, "[key]"))] = f"{shown}/{j}/@key"
            entries[key] = got
        return None if nullable and not entries else entries
    if kind == "boolean":
        if form.get(f"{name}/@bool") is None:
            return MISSING
        return form.get(name) == "true"
    text = form.get(name)
    if text is None:
        return MISSING
    if kind != "long_text":
        text = text.strip()
    if text == "":
        return None if nullable else MISSING
    if kind in ("integer", "number"):
        return _number(text, integer=kind == "integer")
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            reading.problems[shown] = f"not valid JSON: {exc.msg}"
            return MISSING
    return text


def _number(text: str, *, integer: bool) -> Any:
    """A number as typed ("12", "2,5"), or the text itself for the model to refuse at its field
    (models that are strict about types do not read "12" as 12 themselves)."""
    try:
        if integer:
            return int(text)
        number = float(text.replace(",", "."))
        return int(number) if number.is_integer() else number
    except ValueError:
        return text


def posted_unchanged(form: Field, out: dict[str, str] | None = None) -> dict[str, str]:
    """What a browser posts for `form` as shown, nothing changed (checked boxes only): the tests'
    way of proving that every document survives its own form."""
    out = {} if out is None else out
    if form.kind == "object":
        for child in form.children:
            posted_unchanged(child, out)
    elif form.kind in ("list", "map"):
        out[f"{form.name}/@count"] = str(len(form.children))
        for child in form.children:
            if child.key is not None:
                out[child.key.name] = child.key.text
            posted_unchanged(child, out)
    elif form.kind == "boolean":
        out[f"{form.name}/@bool"] = "1"
        if form.value:
            out[form.name] = "true"
    elif form.kind == "choice" and form.text not in form.options and not form.offers_blank:
        out[form.name] = form.options[0]  # a browser posts the first option of a select without ""
    else:
        out[form.name] = form.text
    return out


class Posted:
    """A posted form as a mapping of first values (hoera_kit.sessions.PostedForm's shape)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = fields

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def _count(value: str | None) -> int:
    try:
        return max(0, min(int(value or "0"), MAX_ROWS))
    except ValueError:
        return 0


__all__ = ["MISSING", "ROOT", "Field", "Posted", "Reading", "build", "posted_unchanged", "read"]
