"""MkDocs hooks: the HTTP API page is rendered from the service's OpenAPI document.

``http-api.md`` holds the marker ``<!-- openapi-endpoints -->``; at build
time it is replaced by one section per operation, taken from
:func:`supporthub.service._openapi.openapi_document` (the same document the
service serves at ``/openapi.json``), so the page cannot drift from the
service. The document itself is added to the site as ``openapi.json``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from supporthub.service._openapi import openapi_document

if TYPE_CHECKING:
    from mkdocs.structure.files import Files

MARKER = "<!-- openapi-endpoints -->"
_METHODS = ("get", "post", "put", "patch", "delete")


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _resolve(document: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def _schema_text(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else str(kind)
    bounds = [
        f"{name} {schema[name]}"
        for name in ("enum", "minimum", "maximum", "minLength", "maxLength", "default")
        if name in schema
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def render_endpoints(document: dict[str, Any]) -> str:
    """Markdown for every operation of ``document``: summary, parameters, answers."""
    lines: list[str] = [
        "| method | path | summary |",
        "| --- | --- | --- |",
    ]
    sections: list[str] = []
    for path, item in document["paths"].items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            summary = operation.get("summary", "")
            lines.append(f"| `{method.upper()}` | `{path}` | {_cell(summary)} |")
            section = [f"### `{method.upper()} {path}`", "", summary, ""]
            if operation.get("description"):
                section += [operation["description"], ""]
            parameters = [_resolve(document, p) for p in operation.get("parameters", [])]
            if parameters:
                section += [
                    "| parameter | in | type | required | meaning |",
                    "| --- | --- | --- | --- | --- |",
                ]
                section += [
                    f"| `{p['name']}` | {p.get('in', '')} | {_cell(_schema_text(p.get('schema', {})))}"
                    f" | {'yes' if p.get('required') else 'no'} | {_cell(p.get('description', ''))} |"
                    for p in parameters
                ]
                section.append("")
            section += ["| answer | meaning |", "| --- | --- |"]
            section += [
                f"| `{status}` | {_cell(_resolve(document, answer).get('description', ''))} |"
                for status, answer in operation.get("responses", {}).items()
            ]
            sections.append("\n".join([*section, ""]))
    return "\n".join([*lines, "", *sections])


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the rendered operations where the marker stands."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_endpoints(openapi_document()))


def on_files(files: Files, config: Any) -> Files:
    """Add the OpenAPI document to the site as ``openapi.json``."""
    # Imported here: the test suite renders the page without MkDocs installed.
    from mkdocs.structure.files import File  # noqa: PLC0415

    content = json.dumps(openapi_document(), indent=2) + "\n"
    files.append(File.generated(config, "openapi.json", content=content))
    return files
