"""Form fields: an Input that never shows a control character raw, and reading a form.

What is typed or pasted into a SafeInput goes through safetext.terminal (the one filter) before
it enters the field: a pasted `ESC ] 0 ; title BEL` becomes `␛]0;title␇`, visible, and (not
being in any vocabulary) named by the generator as such; a carriage return is dropped. Every
change of the text goes through Input.replace, so this is the one place to filter it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.dom import DOMNode
from textual.widgets import Input

from .. import safetext


class SafeInput(Input):
    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(safetext.terminal(text), start, end)


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
