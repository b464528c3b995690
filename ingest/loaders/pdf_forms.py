"""Filled form fields of a PDF page, as text: what a reader sees typed into the boxes.

A filled form keeps each value in its field (/V) and draws it in the widget's appearance
stream, which pypdf's text extraction does not read (pdftotext does), so a consultation
response's answers were lost. Each filled widget on the page gives one line "Label: value",
labelled by the field's user name (/TU, the label a reader sees as a tooltip) or else its name
(/T), top to bottom. Ticked boxes read "Yes" (or their export value); unticked boxes, empty
fields and signatures give nothing.
"""

from __future__ import annotations

from ingest.loaders.common import tidy

# A real form has tens of fields on a page; a file with thousands is not read for them.
MAX_WIDGETS = 1000
_MAX_PARENTS = 20
_MAX_VALUE_CHARS = 5000


def filled_fields(page, seen: set[int]) -> list[str]:
    """The page's filled fields as "Label: value" lines, in reading order (top to bottom).

    Args:
        page: a pypdf page.
        seen: ids of fields already given (a field can have a widget on several pages); the
            fields given here are added.
    """
    try:
        annotations = page.get("/Annots")
        widgets = annotations.get_object() if annotations is not None else []
    except Exception:
        return []  # damaged annotations cost the form's values, not the page
    found: list[tuple[float, float, str]] = []
    for reference in list(widgets)[:MAX_WIDGETS]:
        try:
            line = _line(reference.get_object(), seen)
            if line is not None:
                found.append(line)
        except Exception:
            continue
    found.sort(key=lambda item: (-item[0], item[1]))
    return [text for _, _, text in found]


def _line(widget, seen: set[int]) -> tuple[float, float, str] | None:
    if widget.get("/Subtype") != "/Widget":
        return None
    field, chain = widget, [widget]
    # A widget's value, type and names may sit on its parent field (radio buttons, fields
    # named "part.of.a.form"); the terminal field is the first ancestor with a value.
    while "/V" not in field and "/Parent" in field and len(chain) < _MAX_PARENTS:
        field = field["/Parent"].get_object()
        chain.append(field)
    value = field.get("/V")
    kind = _inherited(chain, "/FT")
    key = _identity(field)
    if value is None or kind == "/Sig" or key in seen:
        return None
    text = _value_text(value, kind, widget)
    if not text:
        return None
    seen.add(key)
    label = tidy(str(field.get("/TU") or _full_name(chain) or "Field"))
    top, left = _position(widget)
    return top, left, f"{label}: {text[:_MAX_VALUE_CHARS]}"


def _identity(field) -> int:
    """The field's object number in the file (the same field seen from another page's widget
    is the same object), or its Python id for a direct object."""
    reference = getattr(field, "indirect_reference", None)
    return reference.idnum if reference is not None else id(field)


def _inherited(chain: list, key: str):
    for node in chain:
        if key in node:
            return node[key]
    parent = chain[-1].get("/Parent")
    for _ in range(_MAX_PARENTS):
        if parent is None:
            return None
        parent = parent.get_object()
        if key in parent:
            return parent[key]
        parent = parent.get("/Parent")
    return None


def _value_text(value, kind, widget) -> str:
    value = value.get_object()
    if kind == "/Btn":
        state = str(value).lstrip("/")
        # A radio group's value is the chosen widget's state; other widgets of it are "Off".
        appearance = str(widget.get("/AS", value)).lstrip("/")
        return "" if state == "Off" or appearance == "Off" else state
    if isinstance(value, list):
        return tidy(", ".join(str(item) for item in value))
    return tidy(str(value))


def _full_name(chain: list) -> str:
    names = [str(node["/T"]) for node in reversed(chain) if "/T" in node]
    return ".".join(names)


def _position(widget) -> tuple[float, float]:
    try:
        left, bottom, right, top = (float(v) for v in widget["/Rect"])
        return max(top, bottom), min(left, right)
    except Exception:
        return 0.0, 0.0
