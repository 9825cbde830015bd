"""Form fields: an Input and a TextArea that never show a control character raw, and reading
a form.

What is typed or pasted into a SafeInput or a SafeTextArea goes through safetext.terminal (the
one filter) before it enters the field: a pasted `ESC ] 0 ; title BEL` becomes `␛]0;title␇`,
visible, and (not being in any vocabulary) named by the generator or the inspector as such; a
carriage return is dropped, newlines and tabs stay. Every change of an Input's text goes through
Input.replace, every change of a TextArea's through TextArea.edit, so those are the places to
filter it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.dom import DOMNode
from textual.widgets import Input, TextArea
from textual.widgets.text_area import Edit, EditResult

from .. import safetext


class SafeInput(Input):
    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(safetext.terminal(text), start, end)


class SafeTextArea(TextArea):
    def edit(self, edit: Edit) -> EditResult:
        edit.text = safetext.terminal(edit.text)
        return super().edit(edit)


def read_fields(
    form: DOMNode, rules: Mapping[str, Callable[[str], object]]
) -> tuple[dict[str, object], list[str]]:
    """({field id: value}, [problems]): each Input `#id` of `form` read by its rule (a rule
    raises ValueError naming the field and the fix); bad fields get the -invalid class."""
    values, problems = {}, []
    for field_id, rule in rules.items():
        field = form.query_one(f"#{field_id}", Input)
        try:
            values[field_id] = rule(field.value)
            field.remove_class("-invalid")
        except ValueError as err:
            field.add_class("-invalid")
            problems.append(str(err))
    return values, problems
