"""Drawing what the add-on needs and how to fix it (shared by the sidebar and the preferences)."""

from __future__ import annotations

from . import status_cache

_INSTALLABLE = {"torch", "cv2", "scipy", "PIL", "safetensors"}


def draw_status(layout, context, full: bool = False) -> bool:
    """What the add-on needs and how to fix what is missing; True if all is ready."""
    items = status_cache.status()
    problems = [item for item in items if not item.ok]
    column = layout.column(align=True)
    if not problems:
        column.label(text="Ready", icon='CHECKMARK')
        if full:
            for item in items:
                column.label(text=f"{item.name}: {item.detail}", icon='DOT')
        return True
    for item in (items if full else problems):
        column.label(text=f"{item.name}: {item.detail}", icon='CHECKMARK' if item.ok else 'ERROR')
        if not item.ok and item.fix:
            for line in wrap(item.fix, 60):
                column.label(text="    " + line)
    row = layout.row(align=True)
    row.operator("prnet.refresh_status", icon='FILE_REFRESH')
    if any(item.name in _INSTALLABLE for item in problems):
        row.operator("prnet.install_dependencies", icon='IMPORT')
    elif any(item.name == "assets" for item in problems):
        row.operator("prnet.fetch_assets", icon='URL')
    return False


def wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
