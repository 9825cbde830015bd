"""A model as one self-contained, offline web page that generates text in plain JavaScript.

The page (page.html) holds the sampler (sampler.js: the cells' step and sampling.py, ported,
in float64), the weights as base64 little-endian floats in a JSON data block, and a form:
`prompt`, `temperature`, `top-p`, `length`, `seed`, the `generate` button and the read-only
`output`, whose value is what `tui-rnn generate` prints (the prompt and the characters after it,
without the final newline). Its Content-Security-Policy forbids every request, and it holds no
URL, no fetch, no XMLHttpRequest and no dynamic import. Text from the run or the model reaches
the page only as escaped HTML (the heading) or as JSON with `<`, `>`, `&` and `(` escaped; the
page's script sets text with `.value` and `textContent`, never as HTML.
"""

from __future__ import annotations

import base64
import json
import re
from importlib import resources

from tui_rnn.cells.model import Model
from tui_rnn.safe import text as safe_text

_PLACEHOLDER = re.compile(r"/\*\{(\w+)\}\*/")


def _asset(name: str) -> str:
    return resources.files("tui_rnn.interop").joinpath(name).read_text(encoding="utf-8")


def description(model: Model, chars) -> dict:
    """The model as the sampler's loadModel reads it: the flat vector in base64 and, for each
    parameter, (offset, rows, columns) into it."""
    spec = model.spec
    flat = model.flat.astype(model.flat.dtype.newbyteorder("<"), copy=False)
    offsets, start = {}, 0
    for name, shape in spec.param_shapes().items():
        rows, cols = (shape[0], 1) if len(shape) == 1 else shape
        offsets[name] = [start, rows, cols]
        start += rows * cols
    layers = []
    for layer in range(spec.layers):
        x_name, h_name, b_name = spec.layer_names(layer)
        layers.append({"W_x": offsets[x_name], "W_h": offsets[h_name], "b": offsets[b_name]})
    return {
        "cell": spec.cell,
        "hidden": spec.hidden_size,
        "dtype": spec.dtype,
        "vocabulary": list(chars),
        "layers": layers,
        "V": offsets["V"],
        "c": offsets["c"],
        "weights": base64.b64encode(flat.tobytes()).decode("ascii"),
    }


def script_json(document: dict) -> str:
    """JSON safe inside a <script> data block: no `</script>`, no `<!--`, no markup, and no
    parenthesis (so no text can spell a call)."""
    text = json.dumps(document, ensure_ascii=True, separators=(",", ":"))
    for ch in "<>&()":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def heading_html(text: str) -> str:
    """Run names and paths for the page's heading: escaped, parentheses as entities too."""
    return safe_text.html(text).replace("(", "&#40;").replace(")", "&#41;")


def render(model: Model, chars, title: str, subtitle: str) -> str:
    """The page's HTML."""
    values = {
        "title": heading_html(title),
        "subtitle": heading_html(subtitle),
        "model": script_json(description(model, chars)),
        "sampler": _asset("sampler.js"),
    }
    return _PLACEHOLDER.sub(lambda match: values[match[1]], _asset("page.html"))


def encode(model: Model, chars, title: str, subtitle: str) -> bytes:
    return render(model, chars, title, subtitle).encode("utf-8")
