"""What real spec pages call things: label vocabularies, labels that must never match, value synonyms,
number words and plausible ranges. Data only; ``fields``/``values`` apply it.

Everything here is keyed by *field name* and only used for a category that defines that field, so
"max resolution" names ``max_dpi`` on a mouse page and stays the monitor's ``resolution`` alias.
The spellings come from the way manufacturers (spec grids), lab reviews (test tables) and retailers
("Item Weight", "Connectivity Technology", "Hardware Platform") label their pages.
"""

from __future__ import annotations

import re

# Extra label spellings per field (normalised: lowercase, no punctuation), beyond a field file's aliases.
LABELS: dict[str, tuple[str, ...]] = {
    "weight": ("item weight", "product weight", "unit weight", "net wt", "mass", "weight approx",
               "mouse weight", "keyboard weight", "headset weight", "controller weight", "weight mouse only"),
    "max_dpi": ("max resolution", "maximum resolution", "max dpi cpi", "dpi range", "cpi range", "tracking resolution",
                "max sensitivity", "sensitivity dpi", "resolution dpi", "dpi cpi", "maximum sensitivity"),
    "polling_rate": ("polling frequency", "usb report rate", "report rate", "max polling rate", "maximum polling rate",
                     "polling rate max", "usb polling rate"),
    "buttons": ("no of buttons", "number of programmable buttons", "total buttons", "programmable buttons",
                "buttons count"),
    "connectivity": ("connectivity technology", "connectivity type", "connection technology", "connections",
                     "wireless technology", "connectivity technologies", "connection interface"),
    "battery_life": ("battery life up to", "battery life max", "max battery life", "playtime", "play time",
                     "battery runtime", "battery life rgb off"),
    "cable_length": ("cord length", "cable length", "wire length"),
    "sensor": ("sensor", "optical sensor", "sensor model", "sensor technology", "sensor name"),
    "rgb_lighting": ("rgb", "rgb lighting", "lighting", "illumination", "rgb illumination"),
    "layout": ("keyboard size", "form factor", "keyboard form factor", "size"),
    "switch_type": ("key switch", "key switches", "keyboard switch type", "mechanical switches", "switch", "switches"),
    "hot_swappable": ("hot swap", "hot swap sockets", "hot swappable switches", "hot swappable sockets",
                      "swappable switches"),
    "backlight": ("backlit", "backlit keys", "backlighting", "keyboard backlight", "backlight color", "illumination",
                  "lighting"),
    "keycap_material": ("keycap material", "keycaps", "keycap type", "keycap"),
    "panel_type": ("panel type", "display type", "panel technology", "panel", "display technology"),
    "screen_size": ("screen size", "display size", "diagonal size", "screen size class", "viewable size",
                    "screen size diagonal", "display diagonal"),
    "resolution": ("native resolution", "max resolution", "display resolution", "display resolution maximum",
                   "maximum resolution", "resolution"),
    "refresh_rate": ("refresh rate", "max refresh rate", "maximum refresh rate", "refresh rate max",
                     "vertical refresh rate", "native refresh rate"),
    "response_time": ("response time", "response time gtg", "gtg response time", "pixel response time"),
    "brightness": ("brightness", "max brightness", "brightness typical", "typical brightness", "luminance"),
    "ports": ("ports", "inputs", "video inputs", "connectivity", "connectivity technology", "interfaces",
              "i o ports", "input output", "video ports", "connectors"),
    "hdr": ("hdr", "hdr support", "hdr certification", "hdr standard", "high dynamic range"),
    "curved": ("curved", "curved screen", "curved display", "curved panel"),
    "design": ("acoustic design", "headphone design", "earcup design", "back design"),
    "driver_size": ("driver", "driver size", "driver diameter", "drivers", "speaker size", "driver unit",
                    "speaker driver", "driver units"),
    "frequency_response": ("frequency response", "frequency range", "headphone frequency response",
                           "speaker frequency response", "headphones frequency response"),
    "impedance": ("impedance", "headphone impedance", "speaker impedance", "nominal impedance"),
    "microphone": ("microphone", "mic", "mic type", "microphone type", "microphone form factor"),
    "noise_cancelling": ("anc", "active noise cancellation", "active noise cancelling", "noise cancellation",
                         "noise control"),
    "surface": ("surface", "surface material", "surface type", "material", "top material"),
    "glide": ("glide", "surface speed", "glide type"),
    "base": ("base", "base material", "backing", "bottom material", "base type"),
    "stitched_edges": ("stitched edges", "edge stitching", "anti fray edges", "stitching", "edges"),
    "platform": ("compatible platforms", "platform", "platforms", "compatibility", "compatible devices",
                 "hardware platform", "compatible with", "supported platforms"),
    "back_buttons": ("back buttons", "rear buttons", "back paddles", "rear paddles", "paddles",
                     "remappable back buttons", "programmable back buttons"),
    "hall_effect_sticks": ("hall effect", "hall effect sticks", "hall effect joysticks", "hall effect thumbsticks"),
    "vibration": ("vibration", "rumble", "haptics", "haptic feedback", "force feedback", "vibration motors"),
}

# Words that, anywhere in a label that is not itself an alias, mean it states something else:
# "Shipping weight", "Weight (with stand)", "Mic frequency response", "Lift-off distance", "Charging time".
NEVER_WORDS = frozenset({"shipping", "package", "packaging", "packaged", "box", "gross", "stand", "mic",
                         "microphone", "lift", "lod", "charging", "charge", "standby", "dongle", "receiver", "case",
                         "min", "minimum", "latency", "lag", "steps", "step", "presets", "levels", "speaker",
                         "click", "actuation", "travel", "type", "accessories", "warranty", "dimensions", "peak"})
# Contiguous word sequences with the same effect ("with cable" but not "without cable").
NEVER_PHRASES = (("with", "cable"), ("incl", "cable"), ("including", "cable"), ("cable", "weight"),
                 ("battery", "type"), ("per", "charge"))
# Words a label may carry after a field's alias without changing what it names ("Weight (mouse only)").
QUALIFIERS = frozenset({"only", "approx", "approximately", "mouse", "keyboard", "headset", "controller", "without",
                        "excluding", "excl", "wireless", "wired", "mode", "max", "maximum", "typical", "typ", "rated",
                        "claimed", "nominal", "each", "per", "bud", "earbud", "up", "to", "cable", "the", "of"})
# Words a label may carry before the alias ("Mouse weight", "Total weight", "Max. polling rate").
PREFIXES = frozenset({"mouse", "keyboard", "headset", "controller", "monitor", "pad", "mousepad", "total", "net",
                      "product", "item", "unit", "device", "approx", "approximately", "max", "maximum",
                      "native", "nominal", "rated", "official", "claimed", "typical", "overall", "the", "multi",
                      "mode", "wireless", "rear", "back", "advanced", "physical"})

# Peripheral makers. A prose sentence naming a maker other than this product's is about another
# product ("The G Pro X Superlight 2 from Logitech weighs 60 g"). Makers whose name is also a
# platform or a common word (Sony, Microsoft, Nintendo, Cherry, Drop, Mountain) are left out.
BRANDS = ("8BitDo", "AOC", "ASUS", "ROG", "Acer", "Akko", "Alienware", "Artisan", "Astro", "Audeze", "Audio-Technica",
          "BenQ", "Beyerdynamic", "Cooler Master", "Corsair", "Das Keyboard", "Dell", "Ducky", "EPOS", "Eizo",
          "Endgame Gear", "Epomaker", "Finalmouse", "Fnatic", "G-Wolves", "GameSir", "Gigabyte", "Glorious", "HP",
          "HyperX", "Jabra", "Keychron", "LG", "Lamzu", "Lenovo", "Leopold", "Lofree", "Logitech", "MSI", "Ninjutso",
          "NuPhy", "Philips", "PowerA", "Pulsar", "Razer", "Redragon", "Roccat", "Royal Kludge", "SCUF", "Samsung",
          "Sennheiser", "SteelSeries", "Thrustmaster", "Turtle Beach", "Varmilo", "Vaxee", "ViewSonic", "Wooting",
          "Xtrfy", "Zowie", "Mad Catz", "Nacon", "Sharkoon", "Trust", "Cougar", "Kingston", "JBL", "Bose",
          "Shure", "Focusrite", "Elgato", "NZXT", "Hexgears", "Vertux", "Zotac", "Gateway")
_BRAND_RX = re.compile(r"\b(" + "|".join(re.escape(b) for b in sorted(BRANDS, key=len, reverse=True)) + r")\b")


def rival_brands(text: str, own_brand: str) -> bool:
    """Does ``text`` name a maker other than ``own_brand`` (case-sensitive: makers are proper nouns)?"""
    own = own_brand.casefold()
    return any(m.group(1).casefold() not in own and own not in m.group(1).casefold() for m in _BRAND_RX.finditer(text))


_LEADING_MAKER = re.compile(r"^(?:" + "|".join(re.escape(b) for b in sorted(BRANDS, key=len, reverse=True) if b != "ROG")
                            + r")(?:'s)?\s+(?=\S)")


def strip_maker(text: str) -> str:
    """A maker's name in front of a part name: "Razer Focus Pro 30K" -> "Focus Pro 30K" (ROG is part of a name)."""
    return _LEADING_MAKER.sub("", text)


# Fields whose value is a maximum: of several figures in one value, the largest.
MAXIMUM_FIELDS = frozenset({"max_dpi", "polling_rate", "refresh_rate", "battery_life", "brightness"})
# Words that describe a feature as present, beyond the field's own label words.
BOOL_WORDS: dict[str, tuple[str, ...]] = {
    "vibration": ("rumble", "haptic", "haptics", "motors", "motor", "trigger"),
    "rgb_lighting": ("rgb", "chroma", "lightsync", "lighting", "led", "zones"),
    "hall_effect_sticks": ("hall", "tmr", "magnetic"),
    "stitched_edges": ("stitched", "stitching", "anti", "fray"),
    "hot_swappable": ("hot", "swap", "swappable", "pin"),
    "noise_cancelling": ("anc", "cancellation", "cancelling", "canceling"),
    "curved": ("curved", "curvature"),
}

NUMBER_WORDS = {"zero": 0, "no": 0, "none": 0, "one": 1, "single": 1, "a": 1, "two": 2, "dual": 2, "pair": 2,
                "three": 3, "triple": 3, "four": 4, "quad": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
                "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20}


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.I)


# Canonical choice -> how pages write it. Used for an item that names no choice outright, and only
# when the canonical value is one of the field's choices ("USB-C" stays USB-C where it is a choice).
SYNONYMS: dict[str, re.Pattern[str]] = {
    "Wired": _rx(r"\bwired\b", r"\bcorded\b", r"\busb(?:[- ]?(?:type[- ]?)?[ac])?\s+cable\b", r"^cable$", r"\bcabled\b",
                 r"\bwired usb\b", r"^usb(?:[- ]?(?:type[- ]?)?[ac])?(?:\s*[23](?:\.\d)?)?$"),  # a bare USB port: the cable
    "2.4 GHz wireless": _rx(r"\b2[.,]4\s*g(?:hz)?\b", r"\blightspeed\b", r"\bhyperspeed\b", r"\bslipstream\b",
                            r"\brf wireless\b", r"\busb (?:wireless )?receiver\b", r"\bwireless (?:usb )?dongle\b",
                            r"\bquantum 2\.0\b", r"\bspeedfusion\b"),
    "Bluetooth": _rx(r"\bbluetooth\b", r"\bbt\s*\d?(?:\.\d)?\b", r"\bble\b"),
    "3.5 mm": _rx(r"\b3[.,]5\s*mm\b", r"\baux\b", r"\btrrs\b", r"\bheadphone jack\b", r"\banalog(?:ue)? jack\b"),
    "USB-A": _rx(r"\busb[- ]?(?:type[- ]?)?a\b"),
    "USB-C": _rx(r"\busb[- ]?(?:type[- ]?)?c\b"),
    "PlayStation": _rx(r"\bplaystation\b", r"\bps[345]\b", r"\bps vita\b"),
    "Xbox": _rx(r"\bxbox\b", r"\bseries [xs](?:\s*[|/]\s*[xs])?\b"),
    "PC": _rx(r"\bpc\b", r"\bwindows\b", r"\bsteam\b", r"\bwin(?:dows)? ?1[01]\b"),
    "Switch": _rx(r"\bswitch\b", r"\bnintendo\b"),
    "Android": _rx(r"\bandroid\b"),
    "iOS": _rx(r"\bios\b", r"\biphone\b", r"\bipad(?:os)?\b"),
    "DisplayPort 1.4": _rx(r"\bdp\s*1\.4\b", r"\bdisplay\s*port\s*1\.4\b"),
    "DisplayPort 1.2": _rx(r"\bdp\s*1\.2\b", r"\bdisplay\s*port\s*1\.2\b"),
    "DisplayPort 2.1": _rx(r"\bdp\s*2\.1\b", r"\bdisplay\s*port\s*2\.1\b", r"\buhbr\s*\d+\b"),
    "HDMI 2.1": _rx(r"\bhdmi\s*2\.1\b"),
    "HDMI 2.0": _rx(r"\bhdmi\s*2\.0\b"),
    "Thunderbolt 4": _rx(r"\bthunderbolt\s*4\b", r"\btb\s*4\b"),
    "USB hub": _rx(r"\busb\s*(?:[23](?:\.\d)?\s*)?(?:hub|downstream)\b", r"\b\d\s*[x×]\s*usb[- ]?(?:a|type[- ]a|3\.\d)\b",
                   r"\busb[- ]?(?:a|3\.\d)\s*(?:ports?\s*)?[x×]\s*\d", r"\busb[- ]?a\s*(?:\([^)]*\)\s*)?downstream",
                   r"\busb[- ]a\s*(?:ports?\s*)?(?:x\s*\d|\(\s*\d)",
                   r"\bdownstream usb\b"),
    "Headphone out": _rx(r"\bheadphone(?:s)?\s*(?:out|jack|output)\b", r"\baudio out\b", r"\bline[- ]out\b", r"\b3\.5\s*mm\s*(?:audio|headphone)"),
    "TKL": _rx(r"\btenkeyless\b", r"\btkl\b", r"\b80\s*%", r"\b87[- ]key\b", r"\bten[- ]keyless\b"),
    "Full-size": _rx(r"\bfull[- ]?size(?:d)?\b", r"\b100\s*%", r"\b10[45][- ]key\b", r"\bfull[- ]?layout\b"),
    "96%": _rx(r"\b96\s*%", r"\b1800\b", r"\b98\s*%"),
    "75%": _rx(r"\b75\s*%", r"\b8[34][- ]key\b"),
    "65%": _rx(r"\b65\s*%", r"\b6[78][- ]key\b"),
    "60%": _rx(r"\b60\s*%", r"\b61[- ]key\b"),
    "RGB": _rx(r"\brgb\b", r"\bchroma\b", r"\bmulti[- ]?colou?r\b", r"\b16\.8 ?m(?:illion)? colou?rs\b"),
    "White": _rx(r"\bwhite\b(?!.*\brgb\b)"),
    "None": _rx(r"^(?:no|none|n/?a|not available|not supported|unsupported|without|non[- ]backlit|no backlight(?:ing)?)$"),
    "Double-shot PBT": _rx(r"\bdouble[- ]?shot\s*pbt\b", r"\bpbt\s*double[- ]?shot\b", r"\bdoubleshot\s*pbt\b"),
    "Double-shot ABS": _rx(r"\bdouble[- ]?shot\s*abs\b", r"\babs\s*double[- ]?shot\b"),
    "OLED": _rx(r"\bw-?oled\b"),
    "QD-OLED": _rx(r"\bqd[- ]?oled\b", r"\bquantum[- ]dot oled\b"),
    "1920 x 1080": _rx(r"\b1080p\b", r"\bfull hd\b", r"\bfhd\b"),
    "2560 x 1440": _rx(r"\b1440p\b", r"\bw?qhd\b", r"\b2k qhd\b"),
    "3840 x 2160": _rx(r"\b2160p\b", r"\b4k\b", r"\buhd\b"),
    "3440 x 1440": _rx(r"\buwqhd\b"),
    "DisplayHDR 400": _rx(r"\bhdr\s*400\b(?!.*true black)"),
    "DisplayHDR 600": _rx(r"\bhdr\s*600\b"),
    "DisplayHDR 1000": _rx(r"\bhdr\s*1000\b"),
    "DisplayHDR True Black 400": _rx(r"\btrue\s*black\s*400\b"),
    "In-ear": _rx(r"\bin[- ]ear\b", r"\bearbuds?\b", r"\biems?\b", r"\btrue wireless\b"),
    "Closed-back": _rx(r"\bclosed\b"),
    "Open-back": _rx(r"\bopen\b"),
    "Built-in": _rx(r"\bbuilt[- ]in\b", r"\bintegrated\b", r"\bbeamforming\b"),
    "Detachable": _rx(r"\bdetachable\b", r"\bremovable\b"),
    "Cloth": _rx(r"\bcloth\b", r"\bfabric\b", r"\btextile\b", r"\bmicro[- ]?weave\b"),
    "Hard": _rx(r"\bhard\b", r"\bplastic\b", r"\bpolycarbonate\b", r"\baluminium\b", r"\baluminum\b"),
    "Glass": _rx(r"\bglass\b"),
}

# Plausible canonical values per field (and per category where one field differs between them).
# A number outside is a misread (a model number, a price, a typo of the page), never the field's value.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "weight": (2.0, 5000.0), "max_dpi": (200.0, 60000.0), "polling_rate": (50.0, 16000.0),
    "buttons": (1.0, 40.0), "battery_life": (1.0, 5000.0), "cable_length": (0.2, 6.0),
    "refresh_rate": (24.0, 1000.0), "response_time": (0.01, 50.0), "brightness": (50.0, 5000.0),
    "screen_size": (10.0, 100.0), "driver_size": (4.0, 120.0), "impedance": (4.0, 1000.0),
    "width": (100.0, 2000.0), "length": (100.0, 1500.0), "thickness": (0.5, 20.0), "back_buttons": (0.0, 8.0),
}
PLAUSIBLE_BY_CATEGORY: dict[tuple[str, str], tuple[float, float]] = {
    ("mouse", "weight"): (25.0, 250.0), ("keyboard", "weight"): (150.0, 3500.0),
    ("headset", "weight"): (3.0, 900.0), ("controller", "weight"): (80.0, 2500.0),
}


def plausible_range(category: str | None, field_name: str) -> tuple[float, float] | None:
    return PLAUSIBLE_BY_CATEGORY.get((category or "", field_name)) or PLAUSIBLE.get(field_name)
