"""Form fields: an Input and a TextArea that never show a control character raw, and reading
a form.

What is typed or pasted into a SafeInput or a SafeTextArea goes through safe_text.terminal (the
one filter) before it enters the field: a pasted `ESC ] 0 ; title BEL` becomes `␛]0;title␇`,
visible, and (not being in any vocabulary) named by the generator or the inspector as such; a
carriage return is dropped, newlines and tabs stay. Every change of an Input's text goes through
Input.replace, every change of a TextArea's through TextArea.edit, so those are the places to
filter it. Both also run their own key bindings as the keys arrive (keys_in_order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from textual import events
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets import Input, TextArea
from textual.widgets.text_area import Edit, EditResult

from tui_rnn.safe import text as safe_text


async def keys_in_order(field: Widget, event: events.Key) -> None:
    """Run the field's own binding of `event` (backspace, ctrl+u, ctrl+w, the arrows, enter ...)
    now, so that it acts in the order it was typed among the characters.

    A field inserts a character when the key reaches it, but its key bindings act only when the
    unhandled key has bubbled up to the app, by which time the characters typed after it in the
    same burst (a paste of keys, a fast typist, tmux send-keys) are already in: `ctrl+u 250`
    gave an empty field. Here the field runs its own binding when the key reaches it.
    """
    keys = {event.key, *event.aliases}
    for binding in Binding.make_bindings(type(field).BINDINGS):
        if binding.key in keys and await field.app.run_action(binding.action, field):
            event.stop()
            event.prevent_default()
            return


class SafeInput(Input):
    async def on_key(self, event: events.Key) -> None:
        await keys_in_order(self, event)

    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(safe_text.terminal(text), start, end)


class SafeTextArea(TextArea):
    async def on_key(self, event: events.Key) -> None:
        await keys_in_order(self, event)

    def edit(self, edit: Edit) -> EditResult:
        edit.text = safe_text.terminal(edit.text)
        return super().edit(edit)


def read_fields(
    form: DOMNode, rules: Mapping[str, Callable[[str], Any]]
) -> tuple[dict[str, Any], list[str]]:
    """({field id: value}, [problems]): each Input `#id` of `form` read by its rule (a rule
    raises ValueError naming the field and the fix); bad fields get the -invalid class. Each
    value is of its rule's type, which differs from field to field."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field_id, rule in rules.items():
        field = form.query_one(f"#{field_id}", Input)
        try:
            values[field_id] = rule(field.value)
            field.remove_class("-invalid")
        except ValueError as err:
            field.add_class("-invalid")
            problems.append(str(err))
    return values, problems
