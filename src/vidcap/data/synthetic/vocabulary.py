"""The world's vocabulary: colours, shapes, sizes, actions, levels and the phrase tables.

Plain data, no randomness: plans, renderer and captions all read it from here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# ----------------------------------------------------------------------------------
# Colours, shapes, sizes, actions
# ----------------------------------------------------------------------------------
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 35, 35),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (245, 215, 40),
    "orange": (250, 135, 20),
    "purple": (135, 50, 185),
    "pink": (250, 125, 195),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
COLOR_WORDS: dict[str, list[str]] = {c: [c] for c in COLORS}
COLOR_WORDS["purple"] = ["purple", "violet"]

# Unit vertices (circumradius 1, y down) of each polygon; the circle is drawn as one.
_STAR = [(0.45 if i % 2 else 1.0) * np.array([math.cos(a), math.sin(a)])
         for i, a in enumerate(np.deg2rad(np.arange(10) * 36 - 90))]
SHAPE_VERTICES: dict[str, np.ndarray | None] = {
    "circle": None,
    "square": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad([45, 135, 225, 315])]),
    "triangle": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad([-90, 30, 150])]),
    "star": np.array(_STAR),
    "diamond": np.array([[0.0, -1.0], [0.62, 0.0], [0.0, 1.0], [-0.62, 0.0]]),
    "hexagon": np.array([[math.cos(a), math.sin(a)] for a in np.deg2rad(np.arange(6) * 60)]),
}
SHAPES = list(SHAPE_VERTICES)
SHAPE_WORDS: dict[str, list[str]] = {
    "circle": ["circle", "ball", "disc", "dot"],
    "square": ["square", "box", "block"],
    "triangle": ["triangle"],
    "star": ["star"],
    "diamond": ["diamond", "rhombus"],
    "hexagon": ["hexagon"],
}
SIZES = {"small": 0.07, "medium": 0.10, "large": 0.13}  # circumradius / min(W, H)
SIZE_WORDS = {"small": ["small", "little", "tiny"], "medium": [], "large": ["big", "large"]}


@dataclass(frozen=True)
class Action:
    """One action class: ``name`` is the label, ``phrase`` the human wording."""

    name: str
    phrase: str
    objects: int = 1


ACTIONS: dict[str, Action] = {a.name: a for a in [
    Action("move_left", "moves left"),
    Action("move_right", "moves right"),
    Action("move_up", "moves up"),
    Action("move_down", "moves down"),
    Action("move_diagonal", "moves diagonally"),
    Action("bounce", "bounces"),
    Action("rotate", "rotates"),
    Action("grow", "grows"),
    Action("shrink", "shrinks"),
    Action("fade_in", "fades in"),
    Action("fade_out", "fades out"),
    Action("stay_still", "stays still"),
    Action("approach", "approach each other", 2),
    Action("collide", "collide", 2),
    Action("pass", "pass each other", 2),
    Action("follow", "follows", 2),
]}
CLASSES = list(ACTIONS)
_NO_CIRCLE = {"rotate"}  # a rotating circle looks still

# Single-object verb phrases: (present tense, progressive or None).
VERBS: dict[str, list[tuple[str, str | None]]] = {
    "move_left": [("moves left", "moving left"), ("moves to the left", "moving to the left"),
                  ("goes left", "going left"), ("slides to the left", "sliding to the left"),
                  ("travels leftward", "traveling leftward"), ("moves leftward", "moving leftward"),
                  ("heads left", "heading left"), ("drifts to the left", "drifting to the left")],
    "move_up": [("moves up", "moving up"), ("goes up", "going up"), ("rises", "rising"),
                ("floats upward", "floating upward"), ("moves upward", "moving upward"),
                ("climbs up", "climbing up"), ("slides up", "sliding up")],
    "move_down": [("moves down", "moving down"), ("goes down", "going down"), ("falls", "falling"),
                  ("drops down", "dropping down"), ("sinks", "sinking"), ("moves downward", "moving downward"),
                  ("slides down", "sliding down")],
    "move_diagonal": [("moves diagonally", "moving diagonally"),
                      ("moves diagonally across the screen", "moving diagonally across the screen"),
                      ("slides diagonally", "sliding diagonally"), ("travels diagonally", "traveling diagonally"),
                      ("goes diagonally across the screen", "going diagonally across the screen")],
    "bounce": [("bounces", "bouncing"), ("bounces up and down", "bouncing up and down"), ("hops", "hopping"),
               ("jumps up and down", "jumping up and down"), ("bounces on the ground", "bouncing on the ground")],
    "rotate": [("rotates", "rotating"), ("spins", "spinning"), ("spins around", "spinning around"),
               ("turns around", "turning around"), ("rotates in place", "rotating in place"), ("twirls", "twirling")],
    "grow": [("grows", "growing"), ("gets bigger", "getting bigger"), ("becomes larger", "becoming larger"),
             ("expands", "expanding"), ("grows in size", "growing in size"), ("gets larger", "getting larger")],
    "shrink": [("shrinks", "shrinking"), ("gets smaller", "getting smaller"), ("becomes smaller", "becoming smaller"),
               ("shrinks in size", "shrinking in size"), ("contracts", "contracting")],
    "fade_in": [("fades in", "fading in"), ("appears", "appearing"), ("slowly appears", "slowly appearing"),
                ("becomes visible", "becoming visible"), ("fades into view", "fading into view"),
                ("comes into view", "coming into view")],
    "fade_out": [("fades out", "fading out"), ("disappears", "disappearing"), ("fades away", "fading away"),
                 ("vanishes", "vanishing"), ("slowly disappears", "slowly disappearing"),
                 ("fades from view", "fading from view")],
    "stay_still": [("stays still", "staying still"), ("does not move", None), ("sits still", "sitting still"),
                   ("is not moving", None), ("remains in place", "remaining in place"),
                   ("stands still", "standing still"), ("stays in one place", "staying in one place")],
}
VERBS["move_right"] = [(p.replace("left", "right"), (g or "").replace("left", "right") or None)
                       for p, g in VERBS["move_left"]]
_ROLL = {"move_left": ("rolls to the left", "rolling to the left"),
         "move_right": ("rolls to the right", "rolling to the right")}
# Two-object templates; {a} is the actor (the follower for "follow"), {b} the partner.
PAIR_TEMPLATES: dict[str, list[str]] = {
    "approach": ["{a} and {b} move toward each other", "{a} and {b} approach each other",
                 "{a} and {b} come closer together", "{a} and {b} are moving closer to each other",
                 "{a} and {b} get closer", "{a} approaches {b}"],
    "collide": ["{a} and {b} collide", "{a} crashes into {b}", "{a} and {b} bump into each other",
                "{a} hits {b}", "{a} collides with {b}", "{a} and {b} run into each other"],
    "pass": ["{a} and {b} pass each other", "{a} moves past {b}", "{a} passes {b}",
             "{a} and {b} cross paths", "{a} and {b} go past each other"],
    "follow": ["{a} follows {b}", "{a} is following {b}", "{a} chases {b}", "{a} is chasing {b}",
               "{b} is followed by {a}", "{a} moves behind {b}"],
}
ADVERBS = {"slow": ["slowly"], "fast": ["quickly", "fast"]}
_MOVING = {"move_left", "move_right", "move_up", "move_down", "move_diagonal"}

# A few non-English rows, as in the real MSVD file (gendered adjectives as (m, f)).
FOREIGN = {
    "Spanish": {
        "a": ("un", "una"), "and": "y",
        "colors": {"red": ("rojo", "roja"), "green": ("verde", "verde"), "blue": ("azul", "azul"),
                   "yellow": ("amarillo", "amarilla"), "orange": ("naranja", "naranja"),
                   "purple": ("morado", "morada"), "pink": ("rosa", "rosa"), "white": ("blanco", "blanca"),
                   "black": ("negro", "negra")},
        "shapes": {"circle": ("círculo", 0), "square": ("cuadrado", 0), "triangle": ("triángulo", 0),
                   "star": ("estrella", 1), "diamond": ("rombo", 0), "hexagon": ("hexágono", 0)},
        "verbs": {"move_left": "se mueve hacia la izquierda", "move_right": "se mueve hacia la derecha",
                  "move_up": "sube", "move_down": "baja", "move_diagonal": "se mueve en diagonal",
                  "bounce": "rebota", "rotate": "gira", "grow": "crece", "shrink": "se encoge",
                  "fade_in": "aparece poco a poco", "fade_out": "desaparece", "stay_still": "no se mueve",
                  "approach": "{a} y {b} se acercan", "collide": "{a} y {b} chocan",
                  "pass": "{a} y {b} se cruzan", "follow": "{a} sigue a {b}"},
    },
    "French": {
        "a": ("un", "une"), "and": "et",
        "colors": {"red": ("rouge", "rouge"), "green": ("vert", "verte"), "blue": ("bleu", "bleue"),
                   "yellow": ("jaune", "jaune"), "orange": ("orange", "orange"),
                   "purple": ("violet", "violette"), "pink": ("rose", "rose"), "white": ("blanc", "blanche"),
                   "black": ("noir", "noire")},
        "shapes": {"circle": ("cercle", 0), "square": ("carré", 0), "triangle": ("triangle", 0),
                   "star": ("étoile", 1), "diamond": ("losange", 0), "hexagon": ("hexagone", 0)},
        "verbs": {"move_left": "se déplace vers la gauche", "move_right": "se déplace vers la droite",
                  "move_up": "monte", "move_down": "descend", "move_diagonal": "se déplace en diagonale",
                  "bounce": "rebondit", "rotate": "tourne", "grow": "grandit", "shrink": "rétrécit",
                  "fade_in": "apparaît", "fade_out": "disparaît", "stay_still": "ne bouge pas",
                  "approach": "{a} et {b} se rapprochent", "collide": "{a} et {b} se heurtent",
                  "pass": "{a} et {b} se croisent", "follow": "{a} suit {b}"},
    },
}

# ----------------------------------------------------------------------------------
# Levels and backgrounds
# ----------------------------------------------------------------------------------
FLAT_BACKGROUNDS = {"grey": (128, 128, 128), "light": (200, 200, 195), "dark": (55, 55, 60),
                    "white": (250, 250, 250), "black": (12, 12, 12), "beige": (225, 210, 180)}
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
          "brick", "grass", "gravel", "camera"]


@dataclass(frozen=True)
class Level:
    backgrounds: tuple[tuple[str, float], ...]
    distractors: tuple[int, int]
    camera: bool
    occluder: float          # probability of an occluding pillar
    noise: float             # sensor noise sigma (0-255 scale)
    sizes: tuple[str, ...]
    photo_dim: float         # photo backgrounds are blended this much towards grey


LEVELS: dict[str, Level] = {
    "easy": Level((("flat", 0.7), ("gradient", 0.3)), (0, 0), False, 0.0, 0.0, ("medium", "large"), 0.0),
    "medium": Level((("flat", 0.2), ("gradient", 0.2), ("texture", 0.25), ("photo", 0.35)), (0, 1), False,
                    0.0, 3.0, ("small", "medium", "large"), 0.35),
    "hard": Level((("gradient", 0.15), ("texture", 0.25), ("photo", 0.6)), (1, 2), True,
                  0.4, 6.0, ("small", "medium", "large"), 0.15),
}

