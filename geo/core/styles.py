"""Style values of the layer catalogue: colours and dash patterns, as data, never markup.

A layer file's ``[style]`` values are pasted into CSS, SVG attributes, KML, SLD/QML and
matplotlib by the map, the exports and the sheet.  A workspace may come from a stranger,
so the catalogue accepts only values of a fixed grammar (:func:`parse_colour`,
:func:`parse_dash`), and every sink checks again before it writes one
(:func:`css_colour`, :func:`svg_dash`): a value that is not a colour or a dash pattern
never reaches a page, whatever built the style.

Colours are normalised on load, so every consumer sees ``#rrggbb`` or ``#rrggbbaa``:
``#rgb`` is spelled out and a CSS named colour becomes its hex value (``"red"`` →
``"#ff0000"``); a ``#rrggbb`` value is kept as written.
"""

from __future__ import annotations

import re

__all__ = [
    "COLOUR_FORMS",
    "CSS_COLOURS",
    "DASH_FORM",
    "css_colour",
    "is_colour",
    "parse_colour",
    "parse_dash",
    "rgb_alpha",
    "svg_dash",
]

#: The CSS Color Module Level 4 named colours (lower case) and their hex values.
CSS_COLOURS: dict[str, str] = {
    "aliceblue": "#f0f8ff", "antiquewhite": "#faebd7", "aqua": "#00ffff", "aquamarine": "#7fffd4",
    "azure": "#f0ffff", "beige": "#f5f5dc", "bisque": "#ffe4c4", "black": "#000000",
    "blanchedalmond": "#ffebcd", "blue": "#0000ff", "blueviolet": "#8a2be2", "brown": "#a52a2a",
    "burlywood": "#deb887", "cadetblue": "#5f9ea0", "chartreuse": "#7fff00",
    "chocolate": "#d2691e", "coral": "#ff7f50", "cornflowerblue": "#6495ed",
    "cornsilk": "#fff8dc", "crimson": "#dc143c", "cyan": "#00ffff", "darkblue": "#00008b",
    "darkcyan": "#008b8b", "darkgoldenrod": "#b8860b", "darkgray": "#a9a9a9",
    "darkgreen": "#006400", "darkgrey": "#a9a9a9", "darkkhaki": "#bdb76b",
    "darkmagenta": "#8b008b", "darkolivegreen": "#556b2f", "darkorange": "#ff8c00",
    "darkorchid": "#9932cc", "darkred": "#8b0000", "darksalmon": "#e9967a",
    "darkseagreen": "#8fbc8f", "darkslateblue": "#483d8b", "darkslategray": "#2f4f4f",
    "darkslategrey": "#2f4f4f", "darkturquoise": "#00ced1", "darkviolet": "#9400d3",
    "deeppink": "#ff1493", "deepskyblue": "#00bfff", "dimgray": "#696969",
    "dimgrey": "#696969", "dodgerblue": "#1e90ff", "firebrick": "#b22222",
    "floralwhite": "#fffaf0", "forestgreen": "#228b22", "fuchsia": "#ff00ff",
    "gainsboro": "#dcdcdc", "ghostwhite": "#f8f8ff", "gold": "#ffd700", "goldenrod": "#daa520",
    "gray": "#808080", "green": "#008000", "greenyellow": "#adff2f", "grey": "#808080",
    "honeydew": "#f0fff0", "hotpink": "#ff69b4", "indianred": "#cd5c5c", "indigo": "#4b0082",
    "ivory": "#fffff0", "khaki": "#f0e68c", "lavender": "#e6e6fa", "lavenderblush": "#fff0f5",
    "lawngreen": "#7cfc00", "lemonchiffon": "#fffacd", "lightblue": "#add8e6",
    "lightcoral": "#f08080", "lightcyan": "#e0ffff", "lightgoldenrodyellow": "#fafad2",
    "lightgray": "#d3d3d3", "lightgreen": "#90ee90", "lightgrey": "#d3d3d3",
    "lightpink": "#ffb6c1", "lightsalmon": "#ffa07a", "lightseagreen": "#20b2aa",
    "lightskyblue": "#87cefa", "lightslategray": "#778899", "lightslategrey": "#778899",
    "lightsteelblue": "#b0c4de", "lightyellow": "#ffffe0", "lime": "#00ff00",
    "limegreen": "#32cd32", "linen": "#faf0e6", "magenta": "#ff00ff", "maroon": "#800000",
    "mediumaquamarine": "#66cdaa", "mediumblue": "#0000cd", "mediumorchid": "#ba55d3",
    "mediumpurple": "#9370db", "mediumseagreen": "#3cb371", "mediumslateblue": "#7b68ee",
    "mediumspringgreen": "#00fa9a", "mediumturquoise": "#48d1cc",
    "mediumvioletred": "#c71585", "midnightblue": "#191970", "mintcream": "#f5fffa",
    "mistyrose": "#ffe4e1", "moccasin": "#ffe4b5", "navajowhite": "#ffdead", "navy": "#000080",
    "oldlace": "#fdf5e6", "olive": "#808000", "olivedrab": "#6b8e23", "orange": "#ffa500",
    "orangered": "#ff4500", "orchid": "#da70d6", "palegoldenrod": "#eee8aa",
    "palegreen": "#98fb98", "paleturquoise": "#afeeee", "palevioletred": "#db7093",
    "papayawhip": "#ffefd5", "peachpuff": "#ffdab9", "peru": "#cd853f", "pink": "#ffc0cb",
    "plum": "#dda0dd", "powderblue": "#b0e0e6", "purple": "#800080",
    "rebeccapurple": "#663399", "red": "#ff0000", "rosybrown": "#bc8f8f",
    "royalblue": "#4169e1", "saddlebrown": "#8b4513", "salmon": "#fa8072",
    "sandybrown": "#f4a460", "seagreen": "#2e8b57", "seashell": "#fff5ee", "sienna": "#a0522d",
    "silver": "#c0c0c0", "skyblue": "#87ceeb", "slateblue": "#6a5acd", "slategray": "#708090",
    "slategrey": "#708090", "snow": "#fffafa", "springgreen": "#00ff7f",
    "steelblue": "#4682b4", "tan": "#d2b48c", "teal": "#008080", "thistle": "#d8bfd8",
    "tomato": "#ff6347", "turquoise": "#40e0d0", "violet": "#ee82ee", "wheat": "#f5deb3",
    "white": "#ffffff", "whitesmoke": "#f5f5f5", "yellow": "#ffff00",
    "yellowgreen": "#9acd32",
}

#: What a colour may be, for messages.
COLOUR_FORMS = "'#rgb', '#rrggbb', '#rrggbbaa' or a CSS colour name such as 'steelblue'"
#: What a dash pattern may be, for messages.
DASH_FORM = ("numbers separated by spaces or commas, e.g. '4 2' or '6,3' (at most 16 "
             "numbers, each 0 to 1000)")

# Normalised colours: what every consumer sees after the catalogue has parsed a value.
_NORMAL_RE = re.compile(r"#[0-9a-fA-F]{6}(?:[0-9a-fA-F]{2})?")
_SHORT_RE = re.compile(r"#[0-9a-fA-F]{3}")
# ASCII digits and spaces only: \d and \s would take Arabic-Indic digits and odd spaces.
_DASH_NUMBER = r"(?:[0-9]{1,4}(?:\.[0-9]{1,3})?)"
_DASH_RE = re.compile(rf"{_DASH_NUMBER}(?:(?: *, *| +){_DASH_NUMBER}){{0,15}}")
_MAX_DASH = 1000.0


def _shown(value: object) -> str:
    """``repr`` of a refused value, cut short (a 100 KB value must not make a 100 KB message)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def parse_colour(value: str) -> str:
    """Check a colour from a layer file and normalise it to ``#rrggbb`` or ``#rrggbbaa``.

    Parameters
    ----------
    value : str
        ``#rgb``, ``#rrggbb``, ``#rrggbbaa`` or a CSS colour name (any case).

    Returns
    -------
    str
        ``#rrggbb`` kept as written, ``#rgb`` spelled out, a name as its hex value.

    Raises
    ------
    ValueError
        Anything else, with the allowed forms in the message.
    """
    if not isinstance(value, str):
        raise ValueError(f"colour must be {COLOUR_FORMS}, got {_shown(value)}")
    if _NORMAL_RE.fullmatch(value):
        return value
    if _SHORT_RE.fullmatch(value):
        return "#" + "".join(c * 2 for c in value[1:])
    named = CSS_COLOURS.get(value.lower())
    if named is not None:
        return named
    raise ValueError(f"colour must be {COLOUR_FORMS}, got {_shown(value)}")


def parse_dash(value: str) -> str:
    """Check a dash pattern from a layer file (SVG ``stroke-dasharray``); return it stripped.

    Raises
    ------
    ValueError
        Anything but numbers separated by spaces or commas, with the allowed form.
    """
    text = value.strip(" ") if isinstance(value, str) else ""
    if not _DASH_RE.fullmatch(text):
        raise ValueError(f"dash must be {DASH_FORM}, got {_shown(value)}")
    if any(float(n) > _MAX_DASH for n in re.split(r"[ ,]+", text)):
        raise ValueError(f"dash must be {DASH_FORM}, got {_shown(value)}")
    return text


def is_colour(value: object) -> bool:
    """Whether ``value`` is a normalised colour (``#rrggbb`` or ``#rrggbbaa``)."""
    return isinstance(value, str) and _NORMAL_RE.fullmatch(value) is not None


def css_colour(value: object, fallback: str = "#3388ff") -> str:
    """``value`` if it is a normalised colour, else ``fallback``: what a CSS or SVG sink writes.

    The catalogue has parsed every colour already; this is the sink's own check, so that
    a style built some other way cannot carry markup into a ``style`` or ``fill`` attribute.
    """
    return value if is_colour(value) else fallback  # type: ignore[return-value]


def svg_dash(value: object) -> str | None:
    """``value`` if it is a dash pattern, else None (drawn solid): what an SVG sink writes."""
    if value is None or not isinstance(value, str):
        return None
    try:
        return parse_dash(value)
    except ValueError:
        return None


def rgb_alpha(colour: str) -> tuple[int, int, int, float]:
    """Red, green, blue (0–255) and alpha (0–1) of a normalised colour."""
    if not is_colour(colour):
        raise ValueError(f"colour must be '#rrggbb' or '#rrggbbaa', got {_shown(colour)}")
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    alpha = int(colour[7:9], 16) / 255 if len(colour) == 9 else 1.0
    return red, green, blue, alpha
